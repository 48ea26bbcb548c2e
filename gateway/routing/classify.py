"""Routing, step 1: classify a request from the request itself: task, complexity, hard needs, size.

Pure and cheap (~0.1 ms for a 2,000-character prompt): one tokenisation, set intersections
with the cue tables, a handful of substring counts. Used for explicit models too, so
the log can say what kind of request each one was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.routing.prompt import PromptView, view
from gateway.routing.task import Text, classify_task
from gateway.routing.tokens import estimate_prompt, estimate_text

# Typical answer length per task (tokens), for the cost estimate before the answer exists.
# A rewrite is about as long as its text and a summary a fraction of it: see expected_output.
EXPECTED_OUTPUT = {
    "code": 600,
    "math": 450,
    "reasoning": 350,
    "open_qa": 300,
    "closed_qa": 150,
    "summarization": 250,
    "extraction": 250,
    "classification": 30,
    "rewrite": 400,
    "generation": 700,
    "brainstorming": 450,
    "chat": 200,
    "tool_use": 150,
}
REWRITE_RATIO = 1.1  # answer tokens per prompt token: a rewrite or translation
SUMMARY_RATIO = 0.2  # answer tokens per prompt token: a summary
_BRIEF = (
    "without explanation",
    "only the letter",
    "single choice",
    "one word",
    "only answer",
    "just the answer",
    "answer only",
    "reply with only",
    "respond with only",
)


@dataclass(frozen=True, slots=True)
class Classification:
    """What a request is and what it needs, with the signals behind each judgement."""

    task: str
    task_source: str  # "classifier" or "routing.task"
    task_signals: tuple[str, ...]
    task_scores: Mapping[str, float]
    complexity: int  # 1..10
    complexity_signals: tuple[str, ...]
    needs: frozenset[str]  # capabilities the model must have: tools, vision, json, streaming
    prompt_tokens: int  # estimated high
    expected_output_tokens: int
    prompt: PromptView = field(repr=False)
    text: Text = field(repr=False)  # the tokenised prompt, reused by the features

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "task_source": self.task_source,
            "task_signals": list(self.task_signals),
            "complexity": self.complexity,
            "complexity_signals": list(self.complexity_signals),
            "needs": sorted(self.needs),
            "prompt_tokens": self.prompt_tokens,
            "expected_output_tokens": self.expected_output_tokens,
        }


def _needs(body: Mapping[str, Any], prompt: PromptView) -> frozenset[str]:
    needs: set[str] = set()
    tools = body.get("tools") or body.get("functions")
    if (tools and body.get("tool_choice") != "none") or prompt.has_tool_results:
        needs.add("tools")
    if prompt.n_images:
        needs.add("vision")
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema"):
        needs.add("json")
    if body.get("stream") is True:
        needs.add("streaming")
    return frozenset(needs)


def _complexity(
    prompt: PromptView, t: Text, task: str, tokens: int, needs: frozenset[str]
) -> tuple[int, tuple[str, ...]]:
    """1 (greeting) .. 10 (long, multi-constraint, technical); each raise names its signal."""
    level = 2
    why: list[str] = []

    def bump(n: int, signal: str) -> None:
        nonlocal level
        level += n
        why.append(f"+{n} {signal}")

    for limit, n in ((300, 1), (1500, 1), (6000, 1), (30000, 1)):
        if tokens > limit:
            bump(n, f">{limit} tokens")
    if task in ("math", "code", "reasoning"):
        bump(1, f"task {task}")
    steps = t.text.count("\n- ") + t.text.count("\n* ") + t.text.count("\n1.")
    if steps >= 3:
        bump(1, f"{steps} listed requirements")
    hard = _HARD & t.vocab
    if hard:
        bump(min(len(hard), 2), "technical: " + ", ".join(sorted(h.decode() for h in hard)[:3]))
    if prompt.n_user_turns >= 3:
        bump(1, f"{prompt.n_user_turns} turns")
    for need in ("tools", "vision", "json"):
        if need in needs:
            bump(1, f"needs {need}")
    if len(t.words) <= 12 and task in ("chat", "open_qa"):
        level -= 1
        why.append("-1 short")
    return max(1, min(10, level)), tuple(why)


_HARD = frozenset(
    b"prove proof derive rigorous optimize optimise complexity concurrency concurrent "
    b"distributed architecture theorem asymptotic invariant formal adversarial "
    b"multithreaded lock-free compiler kernel cryptographic quantum thermodynamics".split()
)


def expected_output(task: str, body: Mapping[str, Any], low_tail: str, text_tokens: int = 0) -> int:
    """How long the answer will likely be: the task's typical length (for a rewrite or a
    summary, scaled by the text it works on), cut by brevity cues and by the client's own
    `max_tokens`."""
    n = EXPECTED_OUTPUT.get(task, 300)
    if task == "rewrite" and text_tokens:
        n = min(max(int(text_tokens * REWRITE_RATIO), 40), 4000)
    elif task == "summarization" and text_tokens:
        n = min(max(int(text_tokens * SUMMARY_RATIO), 80), 600)
    if any(cue in low_tail for cue in _BRIEF):
        n = 10
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
        n = min(n, cap)
    return n


_SHOT_MARKS = ("answer:", "\na:", "output:", "\nlabel:")


def focus(text: str) -> str:
    """The part of a prompt that says what is asked: for a few-shot prompt (worked examples,
    each ending in "Answer:", then the real question) the last block only, so the examples
    are not mistaken for material to work on."""
    low = text.lower()
    if max(low.count(mark) for mark in _SHOT_MARKS) >= 2:
        cut = text.rstrip().rfind("\n\n")
        if cut > 0 and len(text) - cut > 20:
            return text[cut + 2 :]
    return text


def classify(body: Mapping[str, Any], task_override: str | None = None) -> Classification:
    """Classify a chat-completions body. `task_override` (from `routing.task`) wins if given."""
    prompt = view(body)
    t = Text.of(focus(prompt.last_user or prompt.text))
    needs = _needs(body, prompt)
    tokens = estimate_prompt(prompt)
    signals: tuple[str, ...]
    scores: dict[str, float]
    if task_override:
        task, signals, scores = task_override, ("routing.task",), {}
    elif "tools" in needs:
        task, signals, scores = "tool_use", ("tools in request",), {}
    else:
        task, signals, scores = classify_task(t, prompt.system, prompt.n_user_turns)
    level, why = _complexity(prompt, t, task, tokens, needs)
    return Classification(
        task=task,
        task_source="routing.task" if task_override else "classifier",
        task_signals=signals,
        task_scores={k: v for k, v in scores.items() if v > 0},
        complexity=level,
        complexity_signals=why,
        needs=needs,
        prompt_tokens=tokens,
        expected_output_tokens=expected_output(
            task, body, t.low[-400:], estimate_text(prompt.last_user)
        ),
        prompt=prompt,
        text=t,
    )
