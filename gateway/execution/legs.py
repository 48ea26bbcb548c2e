"""Plan step, parallel execution: the request's `routing.parallel` options, which models run
as legs, and what all of them (and the judge) may cost at most, for the budget's reservation.

Pure. Legs come from the router's ranked candidates (`Decision.candidates`): for a count, the
best-scoring candidates of different providers first (one provider's outage or shared blind
spot should not take every leg), then the next best whatever their provider; for a list, the
named models, each checked against the router's exclusions (a leg that lacks vision would fail
on an image the same way a single call would). The judge is never a leg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway.config import ParallelConfig
from gateway.errors import InvalidRequest
from gateway.execution.judge import SYSTEM
from gateway.routing import Catalog, NoRouteAvailable
from gateway.routing.score import Candidate
from gateway.routing.tokens import estimate_text

# The judge reads the request and every leg's answer, plus its instructions and the fences.
JUDGE_FRAME_TOKENS = estimate_text(SYSTEM) + 80


def parallel_options(raw: Any, defaults: ParallelConfig) -> ParallelConfig:
    """The request's `routing.parallel` over the config's defaults (`auto:consensus` passes
    None: the defaults alone). Raises InvalidRequest naming the bad field."""
    if raw is None:
        return defaults
    if not isinstance(raw, Mapping):
        raise InvalidRequest("routing.parallel must be an object", param="routing.parallel")
    unknown = sorted(set(raw) - set(ParallelConfig.model_fields))
    if unknown:
        raise InvalidRequest(
            f"routing.parallel.{unknown[0]}: unknown option (one of "
            f"{', '.join(ParallelConfig.model_fields)})", param=f"routing.parallel.{unknown[0]}")
    try:
        return ParallelConfig.model_validate({**defaults.model_dump(), **raw})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        param = "routing.parallel" + (f".{field}" if field else "")
        msg = err["msg"].removeprefix("Value error, ")
        if field == "models" and err["type"] != "value_error":  # a union's first branch speaks
            msg = "give a count (2 to 8) or a list of 2 to 8 model ids"
        raise InvalidRequest(f"{param}: {msg}", param=param) from None


@dataclass(frozen=True, slots=True)
class LegPlan:
    legs: tuple[Candidate, ...]
    judge: str | None  # the judge's model id (strategy judge only)
    skipped: tuple[tuple[str, str], ...] = ()  # (model, why) for named models left out

    @property
    def header(self) -> str:
        """The value of `x-gateway-parallel`."""
        return ",".join(c.id for c in self.legs)


def _resolve(catalog: Catalog, name: str, param: str) -> str:
    entry = catalog.get(name)
    if entry is None:
        known = ", ".join(e.id for e in catalog.entries)
        raise InvalidRequest(f"{param}: unknown model {name!r} (one of {known})", param=param)
    return entry.id


def _diverse(live: Sequence[Candidate], count: int) -> list[Candidate]:
    """Best first, one per provider, then the best of the rest."""
    chosen: list[Candidate] = []
    providers: set[str] = set()
    for c in live:
        if len(chosen) < count and c.provider not in providers:
            chosen.append(c)
            providers.add(c.provider)
    for c in live:
        if len(chosen) < count and c not in chosen:
            chosen.append(c)
    rank = {c.id: i for i, c in enumerate(live)}
    return sorted(chosen, key=lambda c: rank[c.id])


def _named(ranked: Sequence[Candidate], ids: Sequence[str]
           ) -> tuple[list[Candidate], list[tuple[str, str]]]:
    by_id = {c.id: c for c in ranked}
    legs, skipped = [], []
    for i in ids:
        c = by_id[i]
        if c.excluded is None:
            legs.append(c)
        else:
            skipped.append((i, c.excluded))
    return legs, skipped


def choose_legs(
    ranked: Sequence[Candidate], options: ParallelConfig, catalog: Catalog
) -> LegPlan:
    """The legs for `options.models` (a count or names) and the judge when the strategy
    needs one. Raises InvalidRequest for unknown or repeated names, NoRouteAvailable when no
    leg can run (503 if some are only down now, 400 if the request rules them out)."""
    judge = None
    if options.strategy == "judge":
        if options.judge is None:
            raise InvalidRequest("routing.parallel.judge: the judge strategy needs a judge model",
                                 param="routing.parallel.judge")
        judge = _resolve(catalog, options.judge, "routing.parallel.judge")
    skipped: list[tuple[str, str]] = []
    if isinstance(options.models, int):
        live = [c for c in ranked if c.excluded is None and c.id != judge]
        legs = _diverse(live, options.models)
    else:
        ids = [_resolve(catalog, n, f"routing.parallel.models[{i}]")
               for i, n in enumerate(options.models)]
        for i, m in enumerate(ids):
            if m in ids[:i]:
                raise InvalidRequest(f"routing.parallel.models[{i}]: {m!r} is listed twice",
                                     param=f"routing.parallel.models[{i}]")
            if m == judge:
                raise InvalidRequest(f"routing.parallel.models[{i}]: {m!r} is the judge; the "
                                     "judge cannot also be a leg", param=f"routing.parallel.models[{i}]")
        legs, skipped = _named(ranked, ids)
    if not legs:
        why = skipped or [(c.id, c.excluded or "") for c in ranked if c.id != judge]
        listed = "; ".join(f"{m}: {w}" for m, w in why[:12])
        down = {c.id for c in ranked if c.down}
        status = 503 if any(m in down for m, _ in why) else 400
        raise NoRouteAvailable(f"No model can run as a parallel leg: {listed}", status=status,
                               param=None if status == 503 else "routing.parallel.models")
    return LegPlan(tuple(legs), judge, tuple(skipped))
