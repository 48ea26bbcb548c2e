"""Admit: the pipeline's step between plan and execute; rate limits, then a budget reservation.

`admit()` before the first upstream call, `settle()` exactly once when the request is over
(success, error or cancellation), with what it really used. A request the budget refuses gives
its estimated tokens back (it never ran), but still counts as a request against `rpm`.
`settle_soon()` is for a `finally:` of a request the client cancelled: awaiting there would be
cancelled again, so it hands the settlement to a task the gateway awaits at shutdown.

With `budgets.on_exceed: downgrade` the caller picks a cheaper plan from the spend the budget
last saw; another instance (or worker) may have spent since. The refusal brings that view up
to date, so `admit` asks the caller's `downgrade` once more and reserves what it then picks
(the rate limits are not taken twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.config import GatewayConfig
from gateway.errors import BudgetExceeded
from gateway.limits.budget import Budget, Reservation
from gateway.limits.rate import RateLimiter, RateTicket
from gateway.state import State

if TYPE_CHECKING:
    from gateway.usage.reports import LogReader

log = logging.getLogger("gateway.limits")


@dataclass
class Ticket:
    """What one admitted request holds."""

    key: str | None
    rate: RateTicket | None
    reservation: Reservation
    settled: bool = False


class Admission:
    """Rate limits and budgets of one gateway, over one state backend."""

    def __init__(self, rate: RateLimiter, budget: Budget) -> None:
        self.rate = rate
        self.budget = budget
        # No limit and no budget configured: the pipeline skips this step altogether.
        self.active = rate.enabled or budget.enabled
        self._settling: set[asyncio.Task[None]] = set()

    @classmethod
    def from_config(cls, config: GatewayConfig, state: State,
                    reader: LogReader | None = None) -> Admission:
        """`reader` reads spend back from the log at `budget.load()`."""
        return cls(RateLimiter(config.auth.api_keys, state),
                   Budget.from_config(config, state, reader))

    def __repr__(self) -> str:
        return f"<Admission {self.rate!r} {self.budget!r}>"

    async def admit(self, key: str | None, *, tokens: int, usd: float | Sequence[float],
                    downgrade: Callable[[], float | None] | None = None) -> Ticket:
        """Take `key`'s rate limits (one request, `tokens` estimated) and reserve `usd` (a
        sequence: parallel legs, reserved as their sum). Raises RateLimited or BudgetExceeded.

        `downgrade`: after a refusal, switches the request to a plan that fits the spend seen
        now and returns its worst case (None: nothing cheaper fits; the refusal stands)."""
        rate = await self.rate.take(key, tokens)
        try:
            try:
                reservation = await self.budget.reserve(key, usd)
            except BudgetExceeded:
                cheaper = downgrade() if downgrade is not None else None
                if cheaper is None:
                    raise
                reservation = await self.budget.reserve(key, cheaper)
        except BaseException:
            await self.rate.correct(rate, 0)
            raise
        return Ticket(key, rate, reservation)

    async def settle(self, ticket: Ticket, *, tokens: int | None, usd: float | None) -> None:
        """The request is over: it used `tokens` (None: unknown, the estimate stands) and cost
        `usd` (None: nothing billed). A second call does nothing."""
        if ticket.settled:
            return
        ticket.settled = True
        await self.rate.correct(ticket.rate, tokens)
        await self.budget.settle(ticket.reservation, usd)

    def settle_soon(self, ticket: Ticket, *, tokens: int | None, usd: float | None) -> None:
        """`settle` in a task of its own (safe where awaiting is not: a cancelled request)."""
        if ticket.settled:
            return
        task = asyncio.get_running_loop().create_task(
            self.settle(ticket, tokens=tokens, usd=usd), name="gateway.limits.settle")
        self._settling.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("settling a request failed", exc_info=task.exception())

    async def close(self) -> None:
        """Wait for the settlements still running (at shutdown, before the state closes)."""
        if self._settling:
            await asyncio.gather(*list(self._settling), return_exceptions=True)
