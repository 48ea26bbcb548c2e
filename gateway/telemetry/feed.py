"""After the record step: the live feed, one JSON message per finished request to each subscriber.

`RoutingFeed` is a request observer (`on_finished`). Each subscriber (a `/ws/routing`
WebSocket) has its own bounded queue; the message is encoded once and offered to every queue
without waiting. A subscriber whose queue is full has fallen behind: it is dropped (its
`ended` event is set, the socket handler closes it) rather than slowing the gateway or growing
without bound. With no subscriber, a finished request costs one length check.

Runs on the event loop's thread, as the request path does (asyncio queues are not thread-safe).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import orjson

from gateway.usage.events import RequestRecord

log = logging.getLogger("gateway.feed")

# The contract's fields (DESIGN.md, WS /ws/routing), then what else a person watching wants.
FIELDS = ("id", "created_at", "requested_model", "model", "provider", "task", "status",
          "cost_usd", "latency_ms", "routing_reason")
EXTRA = ("api_key", "http_status", "error", "attempts", "stream", "ttft_ms", "prompt_tokens",
         "completion_tokens", "endpoint", "profile", "experiment", "arm")
QUEUE_SIZE = 256


def message(record: RequestRecord, simulated: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The feed's JSON object for one finished request."""
    fields = vars(record)
    out = {name: fields.get(name) for name in (*FIELDS, *EXTRA)}
    out["created_at"] = record.created_at.isoformat()
    out["simulated"] = record.provider in simulated
    return out


class Subscription:
    """One consumer's queue of encoded messages; `ended` is set when it is dropped for falling
    behind (`slow`) or the feed closes, and `reason` says which."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(size)
        self.ended = asyncio.Event()
        self.reason = ""
        self.slow = False

    def end(self, reason: str, slow: bool = False) -> None:
        if not self.ended.is_set():
            self.reason, self.slow = reason, slow
            self.ended.set()

    async def get(self) -> str:
        return await self.queue.get()


class RoutingFeed:
    """The live feed's fan-out. `simulated` names the providers whose answers are simulated."""

    def __init__(self, simulated: Iterable[str] = (), queue_size: int = QUEUE_SIZE) -> None:
        self.simulated = frozenset(simulated)
        self.queue_size = queue_size
        self.subscribers: set[Subscription] = set()
        self.sent = 0
        self.dropped = 0  # consumers dropped for falling behind

    def __repr__(self) -> str:
        return f"<RoutingFeed subscribers={len(self.subscribers)} dropped={self.dropped}>"

    def subscribe(self) -> Subscription:
        sub = Subscription(self.queue_size)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    def on_finished(self, record: RequestRecord) -> None:
        if not self.subscribers:
            return
        text = orjson.dumps(message(record, self.simulated), default=str).decode()
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(text)
            except asyncio.QueueFull:
                self.subscribers.discard(sub)
                self.dropped += 1
                sub.end(f"too slow: more than {self.queue_size} messages behind", slow=True)
                log.warning("live feed: dropped a consumer %d messages behind", self.queue_size)
        self.sent += 1

    def close(self) -> None:
        """The gateway is stopping: end every subscription."""
        for sub in self.subscribers:
            sub.end("the gateway is shutting down")
        self.subscribers.clear()
