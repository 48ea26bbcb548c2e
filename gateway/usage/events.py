"""Usage events: the record one request leaves, built on the request path and queued for the writer."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.errors import AttemptInfo


@dataclass
class RequestRecord:
    """One row of the `requests` table (plus its `attempts` rows). Filled in as the request goes."""

    id: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    api_key: str | None = None  # the key's configured name, never the key
    requested_model: str | None = None
    model: str | None = None
    provider: str | None = None
    task: str | None = None
    complexity: int | None = None
    profile: str | None = None
    stream: bool = False
    status: str = "error"  # success | error
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cost_note: str | None = None  # why cost_usd is null, when it is
    latency_ms: float | None = None
    ttft_ms: float | None = None
    overhead_ms: float | None = None  # time spent in the gateway itself
    routing_reason: str | None = None
    explored: bool | None = None  # auto's exploration pick (routing.explore_share)
    usage_json: dict[str, Any] | None = None  # raw upstream usage, cached-token details included
    features: dict[str, Any] | None = None  # routing features, so the learner can use the row
    endpoint: str = "chat"  # chat | messages | responses | embeddings | count_tokens
    experiment: str | None = None
    arm: str | None = None
    tokens_estimated: bool = False  # the upstream reported no usage: tokens and cost estimated
    resumed: bool = False  # a stream cut mid-answer was continued on another attempt
    simulated: bool = False  # answered by a simulated provider: no real model was called
    attempt_rows: list[AttemptInfo] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    # Not log columns: what observers (traces) need besides the row.
    traceparent: str | None = None  # the client's W3C `traceparent` header, as sent
    parallel: str | None = None  # the parallel legs' model ids (x-gateway-parallel)
    consensus: str | None = None  # `<strategy>:<winning model>` (x-gateway-consensus)
    finish_reasons: tuple[str, ...] | None = None  # each choice's finish_reason, when known

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("attempt_rows", "started", "traceparent", "finish_reasons", "parallel",
                     "consensus"):
            out.pop(name)
        return out


@dataclass(frozen=True)
class FeedbackRecord:
    """One row of the `feedback` table."""

    request_id: str
    outcome: str  # success | partial | failure
    score: float | None = None
    rating: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
