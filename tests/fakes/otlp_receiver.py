"""A loopback OpenTelemetry collector: a real aiohttp server decoding OTLP/HTTP protobuf exports.

`receiver.spans` holds every span received, flattened to a dict (name, ids as hex, kind, start
and end in ns, status, attributes, events, resource attributes), in arrival order.
"""

from __future__ import annotations

import gzip
import threading
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.fakes.server import FakeServer

PROTOBUF = "application/x-protobuf"


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


class OTLPReceiver(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict[str, Any]] = []
        self.exports = 0
        self._spans_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self.base_url

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self.traces)
        return app

    async def traces(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        if request.content_type != PROTOBUF:
            return web.Response(status=415, text=f"expected {PROTOBUF}")
        export = ExportTraceServiceRequest.FromString(raw)
        found = []
        for rs in export.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    found.append({
                        "name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(), "kind": s.kind,
                        "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                        "status": s.status.code, "status_message": s.status.message,
                        "attributes": attributes(s.attributes),
                        "events": [(e.name, attributes(e.attributes)) for e in s.events],
                        "resource": resource, "scope": ss.scope.name,
                    })
        with self._spans_lock:
            self.spans.extend(found)
            self.exports += 1
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type=PROTOBUF)
