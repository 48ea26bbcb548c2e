"""Execute step, one model: which of its deployments to call first, and which next.

A model may be served by several deployments (`deployments:` in gateway.yaml); a model without
that list has one, its own provider. `DeploymentPicker.order(model_id, user)` returns the
deployments that are up, the preferred one first; the executor tries them in that order before
the model's fallbacks, calling `started` and `finished` around each call.

- `least_busy` (the default): power of two choices. Two deployments are drawn at random (in
  proportion to their weights) and the one with the lower load wins, load being
  `(in-flight + 1) x latency EWMA / weight`. Two random choices avoid the herd that "always
  the least loaded" sends to one deployment between two updates, and still keep the spread
  within a few requests of even. A failed call counts as slow (its latency doubled into the
  EWMA), so a deployment that fails fast does not look fast.
- `consistent_hash`: the request's `user` is hashed onto a ring of `VNODES` virtual nodes per
  deployment (in proportion to its weight); the user goes to the first deployment clockwise
  that is up. A deployment that goes down moves only its own users (to the next one on the
  ring), and they come back when it recovers, so prompt caches stay warm. No `user`: least_busy.

State is per process, on the event loop's thread (no locks): the counts it keeps are the
requests this process has in flight, which is what it can act on.
"""

from __future__ import annotations

import hashlib
import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from gateway.config import ModelConfig

VNODES = 160  # virtual nodes per deployment of average weight: shares within ~±4 points of even
EWMA_ALPHA = 0.3  # weight of the newest latency sample
FAILURE_PENALTY = 2.0  # a failed call's latency is counted this many times over
MAX_EWMA_MS = 120_000.0
STALE_HALF_LIFE_S = 30.0


@dataclass(frozen=True, slots=True)
class Target:
    """One deployment of one model, resolved: where to send the call and what to call it."""

    model: str  # the model id
    provider: str
    upstream: str  # the model's name at that provider
    weight: float
    name: str  # `model@provider` (`model@provider/upstream` when one provider serves it twice)


@dataclass(slots=True)
class _Load:
    prior_ms: float  # the model's configured latency: where an unused EWMA drifts back to
    ewma_ms: float
    updated: float = 0.0  # clock time of the last sample
    inflight: int = 0
    calls: int = 0
    failures: int = 0


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def served_as(model: ModelConfig, t: Target) -> ModelConfig:
    """The model as deployment `t` serves it (its provider, its upstream name)."""
    return model.model_copy(update={"provider": t.provider, "upstream": t.upstream})


def targets_of(model: ModelConfig) -> tuple[Target, ...]:
    """The model's deployments as targets; a model without any has one, its own provider."""
    deps = model.deployments or ()
    if not deps:
        return (Target(model.id, model.provider, model.upstream, 1.0, f"{model.id}@{model.provider}"),)
    twice = {d.provider for d in deps if sum(e.provider == d.provider for e in deps) > 1}
    out = []
    for d in deps:
        upstream = d.upstream or model.upstream
        name = f"{model.id}@{d.provider}" + (f"/{upstream}" if d.provider in twice else "")
        out.append(Target(model.id, d.provider, upstream, d.weight, name))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Ring:
    points: tuple[int, ...]  # sorted positions on the 64-bit ring
    owners: tuple[int, ...]  # index of the target at each position


def _ring(targets: tuple[Target, ...], vnodes: int) -> _Ring:
    mean = sum(t.weight for t in targets) / len(targets)
    points = sorted(
        (_hash(f"{t.name}#{v}"), i)
        for i, t in enumerate(targets)
        for v in range(max(1, round(vnodes * t.weight / mean)))
    )
    return _Ring(tuple(p for p, _ in points), tuple(i for _, i in points))


@dataclass
class _Model:
    targets: tuple[Target, ...]
    strategy: str
    ring: _Ring | None
    loads: list[_Load] = field(default_factory=list)


class DeploymentPicker:
    """Orders each model's deployments per request and keeps their load. Built once per config."""

    def __init__(
        self,
        models: Iterable[ModelConfig],
        *,
        rng: random.Random | None = None,
        vnodes: int = VNODES,
        is_up: Callable[[Target], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`is_up` says whether a deployment may be called now (its circuit breaker); it is
        the only word on it. `rng` and `clock` make draws and ageing reproducible."""
        self._rng = rng or random.Random()
        self._clock = clock
        self._is_up = is_up
        self._models: dict[str, _Model] = {}
        self._index: dict[Target, _Load] = {}
        for m in models:
            targets = targets_of(m)
            ring = _ring(targets, vnodes) if m.deployment_strategy == "consistent_hash" else None
            prior = max(m.latency_ms, 1.0)
            loads = [_Load(prior, prior, clock()) for _ in targets]
            self._models[m.id] = _Model(targets, m.deployment_strategy, ring, loads)
            self._index.update(zip(targets, loads, strict=True))

    def __repr__(self) -> str:
        busy = {t.name: f"{s.inflight} in flight, {self._latency(s):.0f} ms"
                for t, s in self._index.items()}
        return f"<DeploymentPicker {busy}>"

    def targets(self, model_id: str) -> tuple[Target, ...]:
        return self._models[model_id].targets

    # -- choosing -------------------------------------------------------------------------------

    def _up(self, t: Target) -> bool:
        return self._is_up is None or self._is_up(t)

    def order(self, model_id: str, user: str | None = None) -> list[Target]:
        """The model's deployments that are up, the one to try first leading; empty when every
        one is down (the executor then moves on to the model's fallbacks)."""
        m = self._models[model_id]
        if len(m.targets) == 1:
            return [m.targets[0]] if self._up(m.targets[0]) else []
        if m.ring is not None and user:
            return self._ring_order(m, user)
        return self._least_busy(m)

    def _latency(self, s: _Load) -> float:
        age = self._clock() - s.updated
        if age <= 0:
            return s.ewma_ms
        return s.prior_ms + (s.ewma_ms - s.prior_ms) * float(0.5 ** (age / STALE_HALF_LIFE_S))

    def _cost(self, t: Target) -> float:
        s = self._index[t]
        if s.calls == 0 and s.inflight == 0:
            return 0.0  # never tried: try it (its configured latency would starve it forever
            # next to a sibling whose measured latency is lower than any configured guess)
        return (s.inflight + 1) * self._latency(s) / t.weight

    def _least_busy(self, m: _Model) -> list[Target]:
        up = [t for t in m.targets if self._up(t)]
        if len(up) < 2:
            return up
        first = self._rng.choices(up, weights=[t.weight for t in up])[0]
        rest = [t for t in up if t is not first]
        second = self._rng.choices(rest, weights=[t.weight for t in rest])[0]
        winner = first if self._cost(first) <= self._cost(second) else second
        others = sorted((t for t in up if t is not winner), key=self._cost)
        return [winner, *others]

    def _ring_order(self, m: _Model, user: str) -> list[Target]:
        """Clockwise from the user's point: each deployment that is up, in the order met."""
        assert m.ring is not None
        ring, n = m.ring, len(m.ring.points)
        start = bisect_right(ring.points, _hash(user))
        seen: set[int] = set()
        out: list[Target] = []
        for step in range(n):
            i = ring.owners[(start + step) % n]
            if i in seen:
                continue
            seen.add(i)
            if self._up(m.targets[i]):
                out.append(m.targets[i])
            if len(seen) == len(m.targets):
                break
        return out

    # -- bookkeeping ----------------------------------------------------------------------------

    def started(self, target: Target) -> None:
        self._index[target].inflight += 1

    def finished(self, target: Target, latency_ms: float, ok: bool) -> None:
        """A call ended (also when it failed or was cancelled: `ok=False`)."""
        s = self._index[target]
        s.inflight = max(0, s.inflight - 1)
        s.calls += 1
        current = self._latency(s)
        sample = max(latency_ms, 1.0)
        if not ok:
            s.failures += 1
            sample = max(sample, current) * FAILURE_PENALTY
        s.ewma_ms = min(current + EWMA_ALPHA * (sample - current), MAX_EWMA_MS)
        s.updated = self._clock()


    def snapshot(self) -> Mapping[str, Mapping[str, object]]:
        """Per deployment: in flight, latency EWMA, calls, failures, up (for /health)."""
        return {
            t.name: {"model": t.model, "provider": t.provider, "inflight": s.inflight,
                     "ewma_ms": round(self._latency(s), 1), "calls": s.calls,
                     "failures": s.failures,
                     "up": self._up(t)}
            for t, s in self._index.items()
        }
