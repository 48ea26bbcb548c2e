"""Routing, step 2a: the cheap prompt features the learned quality estimate reads.

Hashed word ids (the whole prompt, and separately its last words, where the question usually
is) plus a few numbers. The same function serves a live request and a row of an evaluation
file, and a log row stores the result (`to_json`), so offline files, the request log and
feedback all feed one learner. Hashing is CRC-32, stable across processes and machines.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.config import TASKS
from gateway.routing.classify import Classification

FEATURE_VERSION = 1
HASH_BITS = 20
_MASK = (1 << HASH_BITS) - 1
TAIL_WORDS = 80  # the question of a few-shot or long prompt sits at its end
MAX_IDS = 384  # bounds the log row; kept ids are the smallest hashes (a consistent sample)
_WHOLE, _TAIL = 1, 2  # CRC start values: two namespaces in one hashed space

DENSE_NAMES: tuple[str, ...] = (
    "log_prompt_tokens",
    "complexity",
    "multi_turn",
    "images",
    "needs_json",
    "needs_tools",
    "brief_answer",
    "digit_share",
    *(f"task_{t}" for t in TASKS),
)


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """Features of one prompt: sorted hashed word ids and `DENSE_NAMES`-ordered numbers."""

    ids: tuple[int, ...]
    dense: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"v": FEATURE_VERSION, "h": list(self.ids), "d": list(self.dense)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptFeatures | None:
        """Parse a stored feature dict; None if it is from another feature version or broken."""
        try:
            if data.get("v") != FEATURE_VERSION:
                return None
            ids = tuple(int(i) for i in data["h"])
            dense = tuple(float(x) for x in data["d"])
        except (KeyError, TypeError, ValueError):
            return None
        if len(dense) != len(DENSE_NAMES):
            return None
        return cls(ids=ids, dense=dense)


def hashed_ids(words: Sequence[bytes], vocab: set[bytes] | None = None) -> tuple[int, ...]:
    """Distinct words of the whole prompt and of its tail, hashed into one space."""
    crc, mask = zlib.crc32, _MASK
    whole = {crc(w, _WHOLE) & mask for w in (set(words) if vocab is None else vocab)}
    if len(whole) > MAX_IDS:
        whole = set(sorted(whole)[:MAX_IDS])
    whole.update([crc(w, _TAIL) & mask for w in set(words[-TAIL_WORDS:])])
    return tuple(sorted(whole))


def extract(c: Classification) -> PromptFeatures:
    """Features of a classified request."""
    t = c.text
    task_hot = tuple(1.0 if c.task == t else 0.0 for t in TASKS)
    dense = (
        math.log1p(c.prompt_tokens) / 8.0,
        c.complexity / 10.0,
        1.0 if c.prompt.n_user_turns > 1 else 0.0,
        1.0 if c.prompt.n_images else 0.0,
        1.0 if "json" in c.needs else 0.0,
        1.0 if "tools" in c.needs else 0.0,
        1.0 if c.expected_output_tokens <= 20 else 0.0,
        min(t.digits * 10 / max(len(t.low), 1), 1.0),
        *task_hot,
    )
    # rounded as stored, so a log row's features equal the live ones
    return PromptFeatures(ids=hashed_ids(t.words, t.vocab), dense=tuple(round(x, 4) for x in dense))
