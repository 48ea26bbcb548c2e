"""Admit, rate limits: a key's `rpm` and `tpm`, counted on the shared state (GCRA).

GCRA (the generic cell rate algorithm) keeps one number per limit, the time at which the key's
traffic so far would have been spread out evenly; a request fits if that time, pushed forward
by its cost, stays within one period of now. It has no window edges for a burst to straddle
(a fixed window lets 2x the limit through around a minute boundary), it needs no per-request
log (a sliding-window log does), and the refusal says exactly when the request would fit, which
becomes `retry-after`. Both limits are taken in one atomic step, all or none.

Tokens are counted before the call from an estimate (the prompt's plus the most the answer may
use) and corrected with the real usage after it, so a key cannot start more calls than its
`tpm` allows and is charged what it used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gateway.config import ApiKey
from gateway.errors import RateLimited
from gateway.state import Rate, State, StateUnavailable

log = logging.getLogger("gateway.limits")

PERIOD_S = 60.0  # rpm and tpm are per minute


@dataclass(frozen=True)
class RateTicket:
    """What `take` counted for one request, for `correct` to adjust once usage is known."""

    key: str
    tokens: int  # counted against tpm (0 when the key has no tpm)
    tpm: int | None


class RateLimiter:
    """The `rpm`/`tpm` of every configured key; keys without either cost nothing."""

    def __init__(self, keys: Iterable[ApiKey], state: State) -> None:
        self.state = state
        self.limits = {k.name: (k.rpm, k.tpm) for k in keys if k.rpm or k.tpm}

    def __repr__(self) -> str:
        return f"<RateLimiter keys={sorted(self.limits)} on {self.state.kind}>"

    @property
    def enabled(self) -> bool:
        return bool(self.limits)

    async def take(self, key: str | None, tokens: int) -> RateTicket | None:
        """Count one request and `tokens` estimated tokens for `key`, or raise RateLimited."""
        limits = self.limits.get(key) if key is not None else None
        if limits is None or key is None:
            return None
        rpm, tpm = limits
        rates: list[Rate] = []
        if rpm:
            rates.append(Rate(f"rate:{key}:rpm", 1, rpm, PERIOD_S))
        if tpm:
            tokens = min(max(tokens, 0), tpm)  # more than a minute's worth waits for a full one
            rates.append(Rate(f"rate:{key}:tpm", tokens, tpm, PERIOD_S))
        try:
            taken = await self.state.take(rates)
        except StateUnavailable as exc:  # a broken state file must not stop the gateway
            log.error("rate limits not enforced for this request: %s", exc)
            return None
        if taken.failed is not None:
            raise _refusal(key, rates[taken.failed], taken.retry_after_s)
        return RateTicket(key, tokens if tpm else 0, tpm)

    async def correct(self, ticket: RateTicket | None, tokens: int | None) -> None:
        """The call is over and used `tokens` (None: unknown, the estimate stands)."""
        if ticket is None or ticket.tpm is None or tokens is None:
            return
        delta = tokens - ticket.tokens
        if delta:
            try:
                await self.state.adjust(Rate(f"rate:{ticket.key}:tpm", delta, ticket.tpm, PERIOD_S))
            except StateUnavailable as exc:
                log.error("token usage of key %s not counted: %s", ticket.key, exc)


def _refusal(key: str, rate: Rate, wait_s: float) -> RateLimited:
    kind: Literal["requests", "tokens"] = "requests" if rate.key.endswith(":rpm") else "tokens"
    unit = "RPM" if kind == "requests" else "TPM"
    asked = "" if kind == "requests" else f", requested {int(rate.cost)}"
    return RateLimited(
        f"Rate limit reached for key {key!r} on {kind} per minute ({unit}): limit "
        f"{int(rate.limit)}{asked}. Please try again in {wait_s:.2f}s.",
        retry_after_s=wait_s, limit=kind,
    )
