"""The in-memory sink: the same door as the SQL one, for tests and running without a database."""

from __future__ import annotations

import asyncio

from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.sink import MemorySink, Sink


def test_memory_sink_keeps_what_it_is_given() -> None:
    sink = MemorySink()
    assert isinstance(sink, Sink)

    async def main() -> None:
        await sink.start()
        sink.put(RequestRecord(id="a"))
        sink.put(RequestRecord(id="b", status="success"))
        sink.put_feedback(FeedbackRecord("b", "success", score=1.0))
        await sink.close()

    asyncio.run(main())
    assert sink.started and sink.closed
    assert [r.id for r in sink.records] == ["a", "b"]
    assert sink.feedback == [FeedbackRecord("b", "success", 1.0, None, sink.feedback[0].created_at)]
    found = sink.get("b")
    assert found is not None and found.status == "success"
    assert sink.get("zzz") is None
