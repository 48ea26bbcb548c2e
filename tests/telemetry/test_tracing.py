"""OpenTelemetry traces, exported over OTLP/HTTP to a loopback collector: spans, attributes, parents."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest

from gateway.config import TelemetryConfig, parse_config
from gateway.errors import AttemptInfo
from gateway.telemetry.tracing import Tracing, traces_url
from gateway.usage.events import RequestRecord
from tests.conftest import openai_models
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.otlp_receiver import OTLPReceiver
from tests.fakes.server import Reply
from tests.gateway_server import ROOT, GatewayServer

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # the protobuf's SpanKind values
ERROR = 2  # Status.STATUS_CODE_ERROR


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as r:
        yield r  # type: ignore[misc]


@pytest.fixture
def traced(make_gateway: Callable[..., GatewayServer], fake_openai: FakeOpenAI,
           receiver: OTLPReceiver) -> GatewayServer:
    return make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-fake"}},
        openai_models(), telemetry={"otlp_endpoint": receiver.endpoint, "service_name": "gw-test"})


def spans_after_stop(server: GatewayServer, receiver: OTLPReceiver) -> list[dict[str, Any]]:
    server.__exit__(None, None, None)  # the lifespan flushes the batch processor
    return receiver.spans


def test_request_span_with_one_child_per_attempt(traced: GatewayServer, fake_openai: FakeOpenAI,
                                                 receiver: OTLPReceiver) -> None:
    fake_openai.enqueue(Reply(status=503))
    client = traced.client()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "Write a haiku about rain"}],
        extra_headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    request_id = raw.headers["x-request-id"]
    spans = spans_after_stop(traced, receiver)
    roots = [s for s in spans if s["kind"] == SERVER]
    assert len(roots) == 1, spans
    root = roots[0]
    assert root["name"] == "chat gpt-fake"
    assert root["trace_id"] == CALLER_TRACE and root["parent_span_id"] == CALLER_SPAN
    assert root["resource"]["service.name"] == "gw-test"
    a = root["attributes"]
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-fake" and a["gen_ai.response.model"] == "gpt-fake"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 7)
    assert a["gateway.request_id"] == request_id and a["gateway.attempts"] == 2
    assert a["gateway.routing_reason"] == "explicit model gpt-fake" and a["gateway.task"]
    assert a["gateway.cost_usd"] == pytest.approx((12 * 2.5 + 7 * 10.0) / 1e6)
    assert a["gen_ai.response.finish_reasons"] == ["stop"]  # strings, as OTLP attributes must be

    children = sorted((s for s in spans if s["kind"] == CLIENT),
                      key=lambda s: s["attributes"]["gateway.attempt"])
    assert [c["attributes"]["gateway.attempt"] for c in children] == [1, 2]
    assert all(c["parent_span_id"] == root["span_id"] for c in children)
    assert all(c["trace_id"] == CALLER_TRACE for c in children)
    failed, ok = children
    assert failed["status"] == ERROR and failed["attributes"]["http.response.status_code"] == 503
    assert ok["status"] != ERROR and ok["attributes"]["gen_ai.usage.output_tokens"] == 7
    assert ok["name"] == "chat gpt-fake"
    for c in children:
        assert root["start"] <= c["start"] <= c["end"] <= root["end"]


def test_a_new_trace_without_traceparent_and_errors_marked(
        traced: GatewayServer, receiver: OTLPReceiver) -> None:
    client = traced.client()
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(Exception, match="does not exist"):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    spans = spans_after_stop(traced, receiver)
    roots = {s["attributes"]["gen_ai.request.model"]: s for s in spans if s["kind"] == SERVER}
    auto = roots["auto"]
    assert auto["trace_id"] != CALLER_TRACE and auto["parent_span_id"] == ""
    assert auto["attributes"]["gen_ai.response.model"] == "gpt-fake"
    assert auto["attributes"]["gateway.routing_reason"]
    bad = roots["nope"]
    assert bad["status"] == ERROR and bad["attributes"]["error.type"] == "ModelNotFound"
    assert bad["attributes"]["http.response.status_code"] == 404
    assert not [s for s in spans if s["parent_span_id"] == bad["span_id"]]


def test_messages_spans_carry_the_stop_reason_and_count_tokens_its_own_operation(
        make_gateway: Callable[..., GatewayServer], receiver: OTLPReceiver) -> None:
    with FakeAnthropic() as upstream:
        gw = make_gateway(
            {"anthropic": {"kind": "anthropic", "base_url": upstream.base_url, "api_key": "k"}},
            [{"id": "claude", "provider": "anthropic", "upstream": "claude-sonnet-4-5",
              "capabilities": ["streaming"]}],
            telemetry={"otlp_endpoint": receiver.endpoint})
        client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
        upstream.enqueue(Reply(content="Hello there.", finish_reason="end_turn"))
        with client.messages.stream(model="claude", max_tokens=20,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            assert stream.get_final_message().stop_reason == "end_turn"
        upstream.enqueue(Reply(content="Done.", finish_reason="max_tokens"))
        assert client.messages.create(model="claude", max_tokens=20, messages=[
            {"role": "user", "content": "hi"}]).stop_reason == "max_tokens"
        client.messages.count_tokens(model="claude", messages=[{"role": "user", "content": "hi"}])
        spans = spans_after_stop(gw, receiver)
    roots = [s["attributes"] for s in spans if s["kind"] == SERVER]
    # the native stream's stop_reason is in its message_delta, not its last event
    assert [r.get("gen_ai.response.finish_reasons") for r in roots[:2]] == [
        ["end_turn"], ["max_tokens"]]
    assert roots[2]["gen_ai.operation.name"] == "count_tokens"
    assert roots[2]["gateway.endpoint"] == "count_tokens"


def test_spans_built_from_a_record(receiver: OTLPReceiver) -> None:
    """Explicit times, skipped candidates as events, finish reasons: from the record alone."""
    config = parse_config({
        "providers": {"ant": {"kind": "anthropic", "api_key": "k"},
                      "sim": {"kind": "simulated"}},
        "models": [{"id": "m", "provider": "ant"}, {"id": "s", "provider": "sim"}],
        "telemetry": {"otlp_endpoint": receiver.endpoint + "/"}}, env={})
    tracing = Tracing(config.telemetry, config.providers)
    t0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    record = RequestRecord(
        id="req_1", created_at=t0, requested_model="auto", model="s", provider="sim",
        status="success", latency_ms=900.0, prompt_tokens=5, completion_tokens=9,
        finish_reasons=("stop",), attempts=2, task="code", cost_usd=0.5,
        attempt_rows=[
            AttemptInfo(0, "x", "ant", "skipped", None, "circuit open for model 'x'", 0.0),
            AttemptInfo(1, "m", "ant", "error", 529, "overloaded", 100.0,
                        started_at=t0.timestamp() + 0.1),
            AttemptInfo(2, "s", "sim", "success", 200, None, 700.0, cost_usd=0.5,
                        started_at=t0.timestamp() + 0.2)])
    tracing.on_finished(record)
    tracing.close()
    root = next(s for s in receiver.spans if s["kind"] == SERVER)
    assert root["start"] == int(t0.timestamp() * 1e9)
    assert root["end"] - root["start"] == 900_000_000
    assert root["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert root["attributes"]["gateway.simulated"] is True
    assert root["events"] == [("gateway.skipped", {"gen_ai.request.model": "x",
                                                   "gateway.provider": "ant",
                                                   "gateway.reason": "circuit open for model 'x'"})]
    first, second = sorted((s for s in receiver.spans if s["kind"] == CLIENT),
                           key=lambda s: s["start"])
    assert first["attributes"]["gen_ai.provider.name"] == "anthropic"
    assert first["start"] - root["start"] == 100_000_000
    assert first["end"] - first["start"] == 100_000_000
    assert second["attributes"]["gen_ai.provider.name"] == "simulated"
    assert second["attributes"]["gateway.cost_usd"] == 0.5
    assert second["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]


def test_traces_url() -> None:
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces/") == "http://c:4318/v1/traces"
    assert TelemetryConfig().otlp_endpoint is None


SNIPPET = """
import sys
from gateway.app import create_app
from gateway.config import parse_config
tree = {"providers": {"up": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}},
        "models": [{"id": "m", "provider": "up"}], "telemetry": {"otlp_endpoint": sys.argv[1]}}
create_app(parse_config(tree, env={}))
print(sorted({m.split(".")[0] + "." + m.split(".")[1] for m in sys.modules
              if m.startswith("opentelemetry.")}))
"""


@pytest.mark.parametrize("endpoint", ["", "http://127.0.0.1:9"])
def test_the_sdk_is_imported_only_when_configured(endpoint: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SNIPPET, endpoint], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    if endpoint:
        assert "opentelemetry.sdk" in out, out
    else:
        assert out.strip() == "[]", f"the SDK was imported without telemetry.otlp_endpoint: {out}"


def test_queued_records_are_exported_on_schedule(receiver: OTLPReceiver) -> None:
    """on_finished only queues: the span thread builds the spans, the batch processor sends
    them on its schedule, before any shutdown."""
    config = parse_config({"providers": {"s": {"kind": "simulated"}}, "models": [{"id": "m",
                          "provider": "s"}], "telemetry": {"otlp_endpoint": receiver.endpoint}},
                          env={})
    tracing = Tracing(config.telemetry, config.providers)
    for i in range(50):
        tracing.on_finished(RequestRecord(id=f"r{i}", requested_model="m", status="success",
                                          latency_ms=1.0))
    deadline = time.monotonic() + 20
    while len(receiver.spans) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)  # exported by the batch processor's schedule, without close()
    assert len(receiver.spans) == 50
    tracing.close()
