"""Record: the last step of every request. The finished record is counted in the metrics, its row
handed to the background writer, and every observer (live feed, traces) told; all O(1), none of
it waits on anything."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence

from gateway.telemetry.metrics import Metrics
from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.sink import Sink

log = logging.getLogger("gateway.usage")

Observer = Callable[[RequestRecord], None]
_RECENT = 50_000  # request ids remembered for feedback before the log has them


class Recorder:
    def __init__(self, sink: Sink, metrics: Metrics, observers: Sequence[Observer] = ()) -> None:
        self.sink = sink
        self.metrics = metrics
        self.observers = list(observers)
        self.recent: OrderedDict[str, str | None] = OrderedDict()  # request id -> key name

    def record(self, record: RequestRecord) -> None:
        self.metrics.finished(record)
        self.recent[record.id] = record.api_key
        if len(self.recent) > _RECENT:
            self.recent.popitem(last=False)
        self.sink.put(record)
        for observe in self.observers:
            try:
                observe(record)
            except Exception:  # an observer's bug must not cost the request its row
                log.exception("observer %r failed on %s", observe, record.id)

    def feedback(self, fb: FeedbackRecord) -> None:
        self.sink.put_feedback(fb)
