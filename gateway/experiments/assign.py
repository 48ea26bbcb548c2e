"""Plan step: which A/B experiment a request falls in, and which arm (model) it gets.

Runs on every request, so everything that does not depend on the request is worked out once,
when the `Assigner` is built: the match rules, each experiment's arms as cumulative integer
thresholds over the 64-bit hash space. Assigning is then a few comparisons, one BLAKE2b hash of
the unit (~1 us) and a bisect.

Stickiness: the arm is a function of (experiment name, unit) only, and the hash is BLAKE2b, the
same in every process and on every machine, so a user keeps their arm across restarts and
workers. Salting with the experiment's name keeps two experiments' splits independent. Changing
an experiment's weights moves as few units as the new thresholds require (units keep their hash;
only those whose hash falls between the old and the new threshold change arm).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.config import ExperimentConfig, GatewayConfig

_SPACE = 1 << 64  # the hash space: a unit's 64-bit BLAKE2b digest falls somewhere in it


@dataclass(frozen=True, slots=True)
class Assignment:
    """One request's place in one experiment."""

    experiment: str
    arm: str
    model: str  # the arm's model: an id, an alias or an `auto:<profile>` name
    unit: str  # which unit decided it: "user", "key" or "request"

    @property
    def header(self) -> str:
        """The value of `x-gateway-experiment`."""
        return f"{self.experiment}:{self.arm}"


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    model: frozenset[str] | None  # names the requested model may go by; None: any
    task: str | None
    key: str | None
    unit: str
    bounds: tuple[int, ...]  # cumulative upper bounds in hash space, the last one is _SPACE
    arms: tuple[tuple[str, str], ...]  # (arm name, model), in config order
    salt: bytes


def _bounds(weights: Iterable[float]) -> tuple[int, ...]:
    """Cumulative thresholds: arm i takes hashes in [bounds[i-1], bounds[i])."""
    ws = list(weights)
    total = sum(ws)
    out, acc = [], 0.0
    for w in ws:
        acc += w
        out.append(int(_SPACE * acc / total))
    out[-1] = _SPACE  # no unit may fall past the last arm through rounding
    return tuple(out)


def unit_hash(salt: bytes, unit: str) -> int:
    """A stable 64-bit hash of a unit within one experiment."""
    digest = hashlib.blake2b(unit.encode(), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big")


class Assigner:
    """Matches requests to experiments (the first enabled one that matches, in config order)
    and assigns a sticky arm. Build once per config with `from_config`."""

    def __init__(
        self, experiments: Iterable[ExperimentConfig],
        model_id: Callable[[str], str] = lambda name: name
    ) -> None:
        """`model_id` maps a model name (id or alias) to its id, so that a rule and a
        request naming the same model differently still match."""
        self._id = model_id
        self._experiments = tuple(self._compile(e) for e in experiments if e.enabled)

    @classmethod
    def from_config(cls, config: GatewayConfig) -> Assigner:
        def model_id(name: str) -> str:  # the config resolves names, nothing else does
            model = config.model(name)
            return name if model is None else model.id

        return cls(config.experiments, model_id)

    def __bool__(self) -> bool:
        return bool(self._experiments)

    def __repr__(self) -> str:
        return f"<Assigner {[e.name for e in self._experiments]}>"

    def _compile(self, e: ExperimentConfig) -> _Compiled:
        model = None
        if e.match.model is not None:
            model = frozenset({e.match.model, self._id(e.match.model)})
        return _Compiled(
            name=e.name,
            model=model,
            task=e.match.task,
            key=e.match.key,
            unit=e.unit,
            bounds=_bounds(a.weight for a in e.arms),
            arms=tuple((a.name, a.model) for a in e.arms),
            # The key of a keyed hash is at most 64 bytes: a digest of the name, whatever its length.
            salt=hashlib.blake2b(e.name.encode()).digest(),
        )

    def assign(
        self,
        *,
        model: str,
        request_id: str,
        task: str | None = None,
        key: str | None = None,
        user: str | None = None,
        profile: str | None = None,
    ) -> Assignment | None:
        """The experiment and arm of one request, or None when no experiment takes it.

        `model` is the requested model name, `profile` the routing profile it resolved to
        (so a rule on `auto:cheap` also takes `model: auto` with `routing.profile: cheap`),
        `task` the classified task, `key` the API key's name, `user` the body's `user`.
        A unit that is missing (no `user` and no key) falls back to the request id: such
        requests are split per request rather than all sent to one arm."""
        if not self._experiments:
            return None
        names = (model, self._id(model), f"auto:{profile}" if profile else None)
        for e in self._experiments:
            if e.model is not None and not any(n in e.model for n in names if n):
                continue
            if (e.task is not None and e.task != task) or (e.key is not None and e.key != key):
                continue
            if e.unit == "user":
                unit = user or key or request_id
            elif e.unit == "key":
                unit = key or request_id
            else:
                unit = request_id
            i = bisect_right(e.bounds, unit_hash(e.salt, unit))
            arm, arm_model = e.arms[i]
            return Assignment(e.name, arm, arm_model, e.unit)
        return None
