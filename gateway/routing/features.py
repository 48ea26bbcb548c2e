"""Routing, step 2a: the cheap prompt features the learned estimate reads.

Hashed words and word pairs of the END of the newest user turn (its last TAIL_WORDS words):
many prompts share a long few-shot prefix or an instruction template, and features from the
head would see only that. Plus a few numbers, the task the classifier named and the token
counts the cost estimate used. The same function serves a live request and a row of an
evaluation file, and a log row stores the result (`to_json`), so offline files, the request
log and feedback all feed one learner. Hashing is CRC-32, stable across processes and machines.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.config import TASKS
from gateway.routing.classify import Classification

FEATURE_VERSION = 2
HASH_BITS = 20
_MASK = (1 << HASH_BITS) - 1
TAIL_WORDS = 80  # the question of a few-shot or long prompt sits at its end
PAIR_WORDS = 40  # word pairs from the last this many words
_WORD, _PAIR = 2, 3  # CRC start values: two namespaces in one hashed space

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
COMPLEXITY = DENSE_NAMES.index("complexity")


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """Features of one prompt: sorted hashed ids, `DENSE_NAMES`-ordered numbers, the task
    and the (prompt, expected answer) token counts of the cost estimate."""

    ids: tuple[int, ...]
    dense: tuple[float, ...]
    task: str = "open_qa"
    tokens: tuple[int, int] = (0, 0)

    @property
    def complexity(self) -> int:
        return round(self.dense[COMPLEXITY] * 10)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FEATURE_VERSION,
            "h": list(self.ids),
            "d": list(self.dense),
            "t": self.task,
            "n": list(self.tokens),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptFeatures | None:
        """Parse a stored feature dict; None if it is from another feature version or broken."""
        try:
            if data.get("v") != FEATURE_VERSION:
                return None
            ids = tuple(int(i) for i in data["h"])
            dense = tuple(float(x) for x in data["d"])
            task = str(data["t"])
            n_in, n_out = (int(x) for x in data["n"])
        except (KeyError, TypeError, ValueError):
            return None
        if len(dense) != len(DENSE_NAMES) or task not in TASKS:
            return None
        return cls(ids=ids, dense=dense, task=task, tokens=(n_in, n_out))


def hashed_ids(words: Sequence[bytes]) -> tuple[int, ...]:
    """Distinct words of the tail and word pairs of its end, hashed into one space."""
    crc, mask = zlib.crc32, _MASK
    tail = words[-TAIL_WORDS:]
    out = {crc(w, _WORD) & mask for w in set(tail)}
    pairs = words[-PAIR_WORDS:]
    out.update(crc(a + b" " + b, _PAIR) & mask for a, b in itertools.pairwise(pairs))
    return tuple(sorted(out))


def extract(c: Classification) -> PromptFeatures:
    """Features of a classified request."""
    t = c.text
    task_hot = tuple(1.0 if c.task == name else 0.0 for name in TASKS)
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
    return PromptFeatures(
        ids=hashed_ids(t.words),
        dense=tuple(round(x, 4) for x in dense),
        task=c.task,
        tokens=(c.prompt_tokens, c.expected_output_tokens),
    )
