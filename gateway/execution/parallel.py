"""Execution: one request on several models at once, and one answer chosen (parallel + consensus).

Each leg is a chain of its own (one model, its deployments, its breakers, retries and
timeouts), so a leg's failure is that leg's: the request succeeds while the strategy can still
pick from the legs that answered. Every leg's upstream calls (and the judge's) are rows of the
request's attempts log with their cost; the request costs their sum.

    first_success   the first leg to answer wins; the others are cancelled at once. A stream
                    streams the winning leg as it comes.
    vote, quality_weighted, judge
                    every leg runs to its end; the strategy picks (the judge, a model that is
                    not a leg, only when the legs disagree). A stream gets the chosen answer
                    once it is chosen.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.config import ModelConfig
from gateway.errors import GatewayError, ProviderError, UpstreamUnavailable
from gateway.execution.assemble import disassemble
from gateway.execution.chain import Chain, OpenStream
from gateway.execution.consensus import (
    STRATEGIES,
    Consensus,
    LegResult,
    by_label,
    needs_judge,
    vote,
)
from gateway.execution.judge import judge_prompt, parse_reply
from gateway.execution.legs import LegPlan
from gateway.resilience.timeouts import aclose
from gateway.usage.events import RequestRecord
from providers.base import Completion, UpstreamCall, Usage

ChainFor = Callable[[ModelConfig], Chain]
OnConsensus = Callable[[list[LegResult], Consensus, RequestRecord], None]


@dataclass
class Outcome:
    """What the parallel run decided (for the headers, the log and the learner)."""

    legs: list[LegResult]
    consensus: Consensus


class Parallel:
    def __init__(self, legs: LegPlan, models: Sequence[ModelConfig], judge: ModelConfig | None,
                 strategy: str, chain_for: ChainFor, record: RequestRecord,
                 on_decided: OnConsensus = lambda legs, outcome, record: None) -> None:
        self.plan = legs
        self.models = list(models)
        self.judge = judge
        self.strategy = strategy
        self.chain_for = chain_for
        self.record = record
        self.quality = {c.id: c.quality for c in legs.legs}
        self.on_decided = on_decided
        self.outcome: Outcome | None = None

    def _decided(self, legs: list[LegResult], consensus: Consensus) -> None:
        self.outcome = Outcome(legs, consensus)
        self.record.consensus = consensus.header
        if consensus.note:
            self.record.routing_reason = f"{self.record.routing_reason}; {consensus.note}"
        self.on_decided(legs, consensus, self.record)

    # -- non-streamed ----------------------------------------------------------------------------

    async def complete(self, call: UpstreamCall) -> tuple[ModelConfig, Completion]:
        if self.strategy == "first_success":
            return await self._first(call)
        call = dataclasses.replace(call, stream=False)  # every leg's whole answer is compared
        tasks = [asyncio.ensure_future(self.chain_for(m).complete(call)) for m in self.models]
        results = await _gather(tasks)
        legs = [self._leg(m, r) for m, r in zip(self.models, results, strict=True)]
        outcome = await self._decide(legs, call)
        won = results[outcome.winner]
        assert isinstance(won, tuple)
        self._decided(legs, outcome)
        return won

    async def _first(self, call: UpstreamCall) -> tuple[ModelConfig, Completion]:
        call = dataclasses.replace(call, stream=False)
        tasks = {asyncio.ensure_future(self.chain_for(m).complete(call)): m for m in self.models}
        legs: list[LegResult] = []
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    result = task.exception() or task.result()
                    leg = self._leg(tasks[task], result)
                    legs.append(leg)
                    if leg.answered:
                        assert isinstance(result, tuple)
                        self._decided(legs, _first_win(legs))
                        return result
        finally:
            await _cancel(tasks)  # the slow legs' upstream calls end now, not when they answer
        raise self._none_answered(legs)

    # -- streamed --------------------------------------------------------------------------------

    async def open(self, call: UpstreamCall) -> OpenStream:
        if self.strategy != "first_success":
            model, completion = await self.complete(call)
            return OpenStream(model, _replay(completion, call.include_usage))
        opening = {asyncio.ensure_future(self.chain_for(m).open(call)): m for m in self.models}
        legs: list[LegResult] = []
        winner: OpenStream | None = None
        try:
            pending = set(opening)
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = task.exception()
                    if error is None and winner is None:
                        winner = task.result()
                        legs.append(LegResult(opening[task].id, self.quality.get(opening[task].id,
                                                                                0.0), text="…"))
                    elif error is not None:
                        legs.append(self._leg(opening[task], error))
        finally:
            for task in opening:
                if task.done() and not task.cancelled() and task.exception() is None \
                        and task.result() is not winner:
                    await aclose(task.result().frames)  # opened too, but lost the race
            await _cancel(opening)
        if winner is None:
            raise self._none_answered(legs)
        self._decided(legs, _first_win(legs))
        return winner

    # -- deciding --------------------------------------------------------------------------------

    def _leg(self, model: ModelConfig, result: object) -> LegResult:
        quality = self.quality.get(model.id, 0.0)
        if isinstance(result, BaseException):
            message = result.message if isinstance(result, GatewayError) else repr(result)
            return LegResult(model.id, quality, error=message)
        assert isinstance(result, tuple)
        return _read(model.id, quality, result[1].body)

    async def _decide(self, legs: list[LegResult], call: UpstreamCall) -> Consensus:
        if self.strategy == "judge" and self.judge is not None and needs_judge(legs):
            outcome = await self._judged(legs, call)
        elif self.strategy == "judge":  # the legs agree, or only one answered: no judge to pay
            outcome = vote(legs, "judge")
        else:
            outcome = STRATEGIES[self.strategy](legs, self.strategy)
        if outcome is None:
            raise self._none_answered(legs)
        return outcome

    async def _judged(self, legs: list[LegResult], call: UpstreamCall) -> Consensus | None:
        assert self.judge is not None
        prompt = judge_prompt(legs, call.body, self.record.task or "", seed=self.record.id)
        body = prompt.body(self.judge.id)
        note = None
        try:
            _, completion = await self.chain_for(self.judge).complete(
                UpstreamCall(body=body, model=self.judge, timeouts=call.timeouts))
            reply = _read("judge", 0.0, completion.body).text
        except ProviderError as exc:
            reply, note = None, f"the judge call failed ({exc.message})"
        return by_label(legs, parse_reply(reply, list(prompt.labels)), prompt.labels, note=note)

    def _none_answered(self, legs: list[LegResult]) -> GatewayError:
        """No leg answered: every attempt, as a failed chain reports them."""
        attempts = list(self.record.attempt_rows)
        return UpstreamUnavailable(attempts, 502 if attempts else 503)


def _first_win(legs: list[LegResult]) -> Consensus:
    outcome = STRATEGIES["first_success"](legs, "first_success")
    assert outcome is not None  # the last leg added answered
    return outcome


def _read(model: str, quality: float, body: bytes) -> LegResult:
    """A leg's answer as the strategies compare it: its text, tool calls and finish reason."""
    try:
        parsed = orjson.loads(body)
        choice = (parsed.get("choices") or [{}])[0]
        message = choice.get("message") or {}
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        return LegResult(model, quality, error="the answer could not be read")
    calls = tuple(c for c in message.get("tool_calls") or () if isinstance(c, dict))
    text = message.get("content")
    return LegResult(model, quality, text=text if isinstance(text, str) else None,
                     tool_calls=calls, finish_reason=choice.get("finish_reason"))


def _replay(completion: Completion, include_usage: bool) -> AsyncIterator[bytes | Usage]:
    """A chosen answer as the stream frames the client asked for."""
    frames, usage = disassemble(completion.body, completion.usage)

    async def items() -> AsyncIterator[bytes | Usage]:
        for frame in frames:
            yield frame
        yield usage

    return items()


async def _gather(tasks: Sequence[asyncio.Future[Any]]) -> list[Any]:
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await _cancel(tasks)


async def _cancel(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what still runs, and wait for the cancellations (each leg's finally records its
    attempt and settles its breaker), never for an answer."""
    live = [t for t in tasks if not t.done()]
    for task in live:
        task.cancel()
    if live:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*live, return_exceptions=True)

