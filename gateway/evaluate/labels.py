"""Evaluation of the task classifier on a labelled file: accuracy, macro-F1, per class.

A file labelled with a coarser list of tasks than the classifier names (the shared
`tasktype_dev.jsonl` predates closed_qa, summarization, classification, rewrite and
brainstorming) is scored at its own granularity: a predicted task the file never uses is folded
into the coarse task that covered it (`COARSE`), so a reading-comprehension prompt the file
calls open_qa is not counted wrong for being named closed_qa.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from gateway.evaluate.data import LabelledSet
from gateway.routing import classify

# Classes with fewer examples than this are reported but left out of the macro-F1: a score
# over a handful of prompts says more about those prompts than about the classifier.
MIN_SUPPORT = 5
# fine task -> the coarse task of the older list that included it
COARSE = {
    "closed_qa": "open_qa",
    "summarization": "extraction",
    "classification": "extraction",
    "rewrite": "extraction",
    "brainstorming": "generation",
}


def folding(labels: set[str]) -> dict[str, str]:
    """The folds that apply to a file using `labels`."""
    return {f: c for f, c in COARSE.items() if f not in labels and c in labels}


def classifier_report(data: LabelledSet) -> dict[str, Any]:
    """`{"accuracy", "macro_f1", "per_class": {label: {precision, recall, f1, support,
    in_macro}}}` plus, for the human table, `confusion`, the folds applied and timing."""
    fold = folding({label for _, label, _ in data.rows})
    pairs = []
    started = time.perf_counter()
    for body, label, _ in data.rows:
        task = classify(body).task
        pairs.append((label, fold.get(task, task)))
    elapsed = time.perf_counter() - started
    truth = Counter(t for t, _ in pairs)
    predicted = Counter(p for _, p in pairs)
    hits = Counter(t for t, p in pairs if t == p)
    per_class: dict[str, dict[str, Any]] = {}
    for label in sorted(truth):
        precision = hits[label] / predicted[label] if predicted[label] else 0.0
        recall = hits[label] / truth[label]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": truth[label],
            "in_macro": truth[label] >= MIN_SUPPORT,
        }
    macro = [v["f1"] for v in per_class.values() if v["in_macro"]]
    return {
        "accuracy": round(sum(hits.values()) / max(len(pairs), 1), 4),
        "macro_f1": round(sum(macro) / max(len(macro), 1), 4),
        "per_class": per_class,
        "_confusion": Counter(pairs),
        "_folded": fold,
        "_ms_per_prompt": elapsed * 1000 / max(len(pairs), 1),
    }
