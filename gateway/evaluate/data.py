"""Evaluation, step 1: read a JSONL file of prompts with recorded per-model outcomes, or of
prompts labelled with a task, into one shape whatever its source.

Outcome files name the outcome `performance`, `correct` or `score` (a dict model -> value);
MT-Bench style rows have `turns` and `score_turn1`/`score_turn2` and become one row per turn.
Judge scores on a 1-10 scale are divided by 10, so every outcome is 0..1. Recorded costs
(`cost_usd`) and token counts (`input_tokens`/`output_tokens`) are kept when present.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTCOME_KEYS = ("performance", "correct", "score")
GROUP_KEYS = ("eval_name", "benchmark", "task_name", "source_dataset", "category", "source")
# Names in outcome files that are routers, not models: reported beside us, never routed to.
ROUTER_SUFFIX = "_router"
LABEL_MAP = {"chat_roleplay": "chat"}  # the file's label names -> the gateway's task names


@dataclass(frozen=True)
class EvalRow:
    id: str
    body: Mapping[str, Any]  # a chat-completions body with the prompt
    outcomes: Mapping[str, float]  # model -> 0..1
    costs: Mapping[str, float] | None = None  # model -> recorded USD
    output_tokens: Mapping[str, float] | None = None  # model -> recorded or estimated tokens
    group: str = ""


@dataclass(frozen=True)
class OutcomeSet:
    name: str
    rows: tuple[EvalRow, ...]
    models: tuple[str, ...]  # routable models, in first-seen order
    references: tuple[str, ...]  # routers recorded in the file, for comparison only
    scale: str  # "0..1" or "1..10 / 10"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelledSet:
    name: str
    rows: tuple[tuple[Mapping[str, Any], str, str], ...]  # (body, gateway task, source label)
    notes: tuple[str, ...] = field(default_factory=tuple)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: invalid JSON: {exc.msg}") from None


def _body(turns: list[str]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": t} for t in turns]}


def _floats(raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(k): float(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _answer_tokens(row: Mapping[str, Any]) -> dict[str, float] | None:
    """Recorded output tokens, or answer characters / 4 when only the length is known."""
    tokens = _floats(row.get("output_tokens"))
    if tokens:
        return tokens
    lengths = row.get("answer_len")
    if isinstance(lengths, Mapping):
        out = {}
        for model, info in lengths.items():
            if isinstance(info, Mapping):
                n = info.get("answer_tokens") or (info.get("answer_chars") or 0) / 4
                if n:
                    out[str(model)] = float(n)
        return out or None
    return None


def _group(row: Mapping[str, Any]) -> str:
    for key in GROUP_KEYS:
        value = row.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _outcome_rows(raw: Mapping[str, Any], n: int) -> Iterator[tuple[str, Any, dict[str, float]]]:
    """(id, body, outcomes) for one file row: one per turn for MT-Bench style rows."""
    rid = str(raw.get("id", n))
    turns = raw.get("turns")
    if isinstance(turns, list) and turns:
        for t in range(len(turns)):
            scores = _floats(raw.get(f"score_turn{t + 1}"))
            if scores:
                yield f"{rid}#turn{t + 1}", _body([str(x) for x in turns[: t + 1]]), scores
        return
    prompt = raw.get("prompt")
    if not isinstance(prompt, str):
        return
    for key in OUTCOME_KEYS:
        scores = _floats(raw.get(key))
        if scores:
            yield rid, _body([prompt]), scores
            return


def read(path: str | Path) -> OutcomeSet | LabelledSet:
    """Read one data file; labelled if its rows carry `label_gateway`."""
    path = Path(path)
    rows = list(_lines(path))
    if rows and "label_gateway" in rows[0]:
        return _labelled(path, rows)
    out: list[EvalRow] = []
    models: dict[str, None] = {}
    for n, raw in enumerate(rows):
        for rid, body, scores in _outcome_rows(raw, n):
            for m in scores:
                models.setdefault(m, None)
            out.append(
                EvalRow(
                    id=rid,
                    body=body,
                    outcomes=scores,
                    costs=_floats(raw.get("cost_usd")) or None,
                    output_tokens=_answer_tokens(raw),
                    group=_group(raw),
                )
            )
    if not out:
        raise ValueError(f"{path}: no rows with a prompt and per-model outcomes ({OUTCOME_KEYS})")
    judge = max(v for r in out for v in r.outcomes.values()) > 1.0
    if judge:  # a 1..10 judge scale
        out = [
            EvalRow(
                r.id,
                r.body,
                {m: v / 10 for m, v in r.outcomes.items()},
                r.costs,
                r.output_tokens,
                r.group,
            )
            for r in out
        ]
    names = tuple(models)
    return OutcomeSet(
        name=path.name,
        rows=tuple(out),
        models=tuple(m for m in names if not m.endswith(ROUTER_SUFFIX)),
        references=tuple(m for m in names if m.endswith(ROUTER_SUFFIX)),
        scale="1..10 / 10" if judge else "0..1",
    )


def _labelled_body(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The chat body of a labelled row: `prompt` (one user turn) or `messages`, with the
    optional `system` prompt and `tools` a request may carry."""
    messages = raw.get("messages")
    if isinstance(messages, list) and messages:
        body: dict[str, Any] = {"messages": list(messages)}
    elif isinstance(raw.get("prompt"), str):
        body = _body([raw["prompt"]])
    else:
        return None
    if isinstance(raw.get("system"), str):
        body["messages"].insert(0, {"role": "system", "content": raw["system"]})
    if isinstance(raw.get("tools"), list):
        body["tools"] = raw["tools"]
    return body


def _labelled(path: Path, rows: list[dict[str, Any]]) -> LabelledSet:
    out = []
    skipped = 0
    for raw in rows:
        label = raw.get("label_gateway")
        body = _labelled_body(raw)
        if not isinstance(label, str) or body is None:
            skipped += 1
            continue
        out.append((body, LABEL_MAP.get(label, label), str(raw.get("label_original"))))
    notes = (f"{skipped} rows without a single gateway label skipped",) if skipped else ()
    return LabelledSet(name=path.name, rows=tuple(out), notes=notes)
