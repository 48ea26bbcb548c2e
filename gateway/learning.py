"""Background step after the request path: refit the router's learned model from the log and feedback.

`Learner` loads the persisted state at start, then refits every `refit_interval_s` (and soon
after new feedback), hands the result to `use` (the planner swaps it into its router) and
saves it atomically so a restart keeps what was learned. It sees only what it needs: a way to
flush the log writer, a way to read outcomes, and where to put what it learned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config import LearnConfig
from gateway.routing import LearnedModel, OutcomeRecord, PromptFeatures, records_from_log

log = logging.getLogger("gateway.learning")

# Feedback usually arrives in bursts (a client rating a batch): wait this long after the first
# one so a burst costs one refit, not one per row.
FEEDBACK_DEBOUNCE_S = 0.5
EVIDENCE_KEPT = 20_000


def split_outcomes(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """`LogReader.outcomes()` rows (feedback joined in) as `records_from_log` arguments."""
    requests: list[dict[str, Any]] = []
    feedback: dict[str, dict[str, Any]] = {}
    for row in rows:
        requests.append({**row, "features": row.get("features_json")})
        if any(row.get(k) is not None for k in ("outcome", "score", "rating")):
            feedback[str(row.get("id"))] = {
                "outcome": row.get("outcome"), "score": row.get("score"),
                "rating": row.get("rating"),
            }
    return requests, feedback


def _signature(rows: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    """Changes whenever a request row or a feedback row is added (rows are oldest first)."""
    fb = [str(r["feedback_at"]) for r in rows if r.get("feedback_at") is not None]
    return (len(rows), rows[-1].get("id") if rows else None, len(fb), max(fb, default=None))


def load_state(path: Path) -> LearnedModel | None:
    """The saved learned model, or None if there is none (or it cannot be used)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable router state %s: %s", path, exc)
        return None
    try:
        return LearnedModel.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring router state %s: %s", path, exc)
        return None


def save_state(path: Path, model: LearnedModel) -> None:
    _write_json(path, model.to_json())


def _write_json(path: Path, value: Any) -> None:
    """Write atomically: a crash mid-write leaves the previous file, never half a file."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(value, separators=(",", ":")))
    os.replace(tmp, path)


def evidence_path(state: Path) -> Path:
    """Where the consensus evidence is kept, beside the learned state (`x.json` ->
    `x.evidence.json`)."""
    return state.with_name(state.stem + ".evidence.json")


def load_evidence(path: Path) -> list[OutcomeRecord]:
    """The consensus evidence saved by an earlier run ([] if none, or unreadable)."""
    try:
        rows = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable consensus evidence %s: %s", path, exc)
        return []
    return [o for r in (rows if isinstance(rows, list) else ()) if (o := _outcome(r))]


def _outcome(r: Any) -> OutcomeRecord | None:
    """One evidence record (`consensus.evidence`'s dict, or as saved) as a learning record;
    None for one that cannot be read (it costs only itself)."""
    try:
        features = PromptFeatures.from_json(r.get("features") or {})
        at = r.get("at") or datetime.now(UTC)
        if features is None:
            return None
        return OutcomeRecord(features=features, model=str(r["model"]), score=float(r["score"]),
                             weight=float(r["weight"]),
                             at=datetime.fromisoformat(at) if isinstance(at, str) else at)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def save_evidence(path: Path, records: Iterable[OutcomeRecord]) -> None:
    _write_json(path, [{"features": r.features.to_json(), "model": r.model, "score": r.score,
                        "weight": r.weight, "at": (r.at or datetime.now(UTC)).isoformat()}
                       for r in records])


class Learner:
    """Keeps the router's learned model fresh. `start()`/`close()` follow the app's lifespan."""

    def __init__(
        self,
        settings: LearnConfig,
        *,
        outcomes: Callable[[], Awaitable[Sequence[Mapping[str, Any]]]],
        use: Callable[[LearnedModel], None],
        flush: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.outcomes = outcomes
        self.use = use
        self.flush = flush
        self.path = Path(self.settings.state_path)
        self.refits = 0  # how many refits swapped in a model (for tests and health)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seen: tuple[Any, ...] | None = None  # the log as of the last fit
        self._stopping = False
        # Weak evidence from consensus (a leg that lost a vote): bounded, learned with the log
        # at the next refit, and saved beside the state so a restart keeps it.
        self._evidence: deque[OutcomeRecord] = deque(maxlen=EVIDENCE_KEPT)
        self._evidence_added = 0
        self._evidence_saved = 0

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def start(self) -> None:
        if not self.enabled:
            return
        kept = await asyncio.to_thread(load_evidence, evidence_path(self.path))
        self._evidence.extend(kept)
        self._evidence_added = self._evidence_saved = len(kept)
        saved = await asyncio.to_thread(load_state, self.path)
        if saved is not None:
            # a new Router solves every profile's allocation: tens of ms, off the event loop
            await asyncio.to_thread(self.use, saved)
            log.info("router state loaded from %s (%d records)", self.path, saved.n_records)
        self._task = asyncio.create_task(self._run(), name="router-refit")

    def add_evidence(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Learning records from outside the log (`gateway/execution/consensus.evidence`)."""
        for r in records:
            if (outcome := _outcome(r)) is not None:
                self._evidence.append(outcome)
                self._evidence_added += 1

    def notify(self) -> None:
        """New feedback arrived: refit soon rather than at the next interval."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is None:
            return
        self._stopping = True  # Python 3.11's wait_for can swallow a cancel that meets its expiry
        self._wake.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.refit_interval_s)
                await asyncio.sleep(FEEDBACK_DEBOUNCE_S)
            self._wake.clear()
            try:
                await self.refit()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed refit keeps the old model; the next one may succeed
                log.exception("router refit failed")

    async def refit(self) -> LearnedModel | None:
        """One refit now: flush pending rows, read outcomes, fit off the loop, swap, persist."""
        if self.flush is not None:
            await self.flush()
        rows = await self.outcomes()
        seen = (*_signature(rows), self._evidence_added)
        if seen == self._seen:  # nothing new: a fit costs seconds of CPU on a big log
            return None
        requests, feedback = split_outcomes(rows)
        records = [*records_from_log(requests, feedback), *self._evidence]
        if not records:
            return None
        half_life = self.settings.half_life_days
        model = await asyncio.to_thread(
            LearnedModel.fit, records, now=datetime.now(UTC), half_life_days=half_life
        )
        await asyncio.to_thread(self.use, model)
        self.refits += 1
        self._seen = seen
        await asyncio.to_thread(save_state, self.path, model)
        if self._evidence_added != self._evidence_saved:
            await asyncio.to_thread(save_evidence, evidence_path(self.path), list(self._evidence))
            self._evidence_saved = self._evidence_added
        return model
