"""Usage sink: the one door the request path uses to record a request, kept off the hot path."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gateway.usage.events import FeedbackRecord, RequestRecord


@runtime_checkable
class Sink(Protocol):
    """Where finished requests and feedback go. `SqlSink` writes them, `MemorySink` keeps them.

    `put` and `put_feedback` are synchronous and O(1): they never raise, never await and never
    touch the database, so the request path pays nothing for the log. `start` creates the tables
    and the background writer; `close` flushes everything still buffered, then stops.
    """

    def put(self, record: RequestRecord) -> None: ...

    def put_feedback(self, fb: FeedbackRecord) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class MemorySink:
    """A `Sink` that keeps everything in lists, for tests and for running without a database."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.feedback: list[FeedbackRecord] = []
        self.dropped = 0
        self.pending = 0
        self.started = False
        self.closed = False

    def __repr__(self) -> str:
        return f"<MemorySink records={len(self.records)} feedback={len(self.feedback)}>"

    def put(self, record: RequestRecord) -> None:
        self.records.append(record)

    def put_feedback(self, fb: FeedbackRecord) -> None:
        self.feedback.append(fb)

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    def get(self, request_id: str) -> RequestRecord | None:
        """The record of a request id, newest first (tests look records up by x-request-id)."""
        for record in reversed(self.records):
            if record.id == request_id:
                return record
        return None
