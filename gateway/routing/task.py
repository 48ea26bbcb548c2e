"""Routing, step 1b: which kind of task a prompt is, from hand-set cues (`lexicon`, `phrases`).

Each cue adds its weight to one task; the largest sum wins, and open_qa wins when nothing
reaches 2 (the prompt is then "unnamed": the learner may still give it a cluster of its own).

Where a cue sits matters. A request is often an instruction around some material ("Summarize
this article: ..."): the instruction is at the start or the end, the material in between. When
the instruction zone (the first and last ZONE_WORDS words) holds a text task's instruction,
cues inside the material count only BODY_WEIGHT, so an article about a poet does not make its
summary a poem (a logic puzzle, whose cues are all in its body, is scored as before). Besides words
and phrases, a few cues read the shape of the text: LaTeX, numbers with a quantity question,
code punctuation, a bare list of words, a passage with a question after it, a conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import TASKS
from gateway.routing.lexicon import (
    ENGLISH,
    QUESTION_CUES,
    QUESTION_KEYS,
    WORD_CUES,
    WORD_KEYS,
    split_lowered,
)
from gateway.routing.phrases import (
    ANYWHERE,
    FOREIGN_CUES,
    PHRASE_KEYS,
    PHRASES_BY_WORD,
    STEM_PREFIX,
    STEMS_BY_PREFIX,
    SYMBOL_PHRASES,
)

# Long prompts are judged by their head and tail, which bounds the cost of a decision.
HEAD_CHARS = 3000
TAIL_CHARS = 1000
QUESTION_WORDS = 50  # the "question" is the prompt's last words
ZONE_WORDS = 24  # the instruction zone: this many words at each end
ZONE_CHARS = 160  # the same zone, for phrases, in characters
BODY_WEIGHT = 0.35  # a cue inside the material counts this much
MIN_SCORE = 2.0
# Tasks that work on a text the prompt carries; their instruction outranks the text's content.
TEXT_TASKS = ("summarization", "extraction", "classification", "rewrite", "closed_qa")
_DIGITS = b"0123456789"
_IMPERATIVE_GENERATE = frozenset(
    b"write compose draft create generate invent imagine tell continue".split()
)
_QUANTITY_QUESTIONS = (
    "how many",
    "how much",
    "how old",
    "how long",
    "how far",
    "how fast",
    "how large",
    "calculate",
    "what is the total",
    "what was the original",
    "find the",
    "what's the",
    "what will",
    "what should the",
    "how high",
    "how tall",
    "probability",
    "percentage",
    "monthly payment",
    "per minute",
    "per hour",
    "need on the",
    "catch up",
    "sample size",
)
_GREETINGS = frozenset(b"hi hello hey thanks thank yo morning evening".split())
_WH = frozenset(b"what who when where which how why whom whose".split())
# Questions that ask for an explanation or a fact from general knowledge, not a deduction.
_EXPLAIN = ("what is ", "what are ", "what's the difference", "what is the difference",
            "how do ", "how does ", "how did ", "why do ", "why does ", "why did ", "why is ",
            "why are ", "when did ", "when was ", "who is ", "who was ", "is it worth")
# ... and phrases that ask it anywhere in the question (advice, myths, "why" in other languages)
_ADVICE = ("what should i", "should i ", "best way to", "how can i ", "how should i", "how to ",
           "any tips", "difference between", "diff between", "what causes", "is it true",
           "is it bad", "is it safe", "a myth", "do employers", "pourquoi", "warum", "por qué")


@dataclass(slots=True)
class Text:
    """One prompt's text, tokenised once and shared by the classifier and the features."""

    text: str  # head and tail of the newest user message
    low: str
    words: list[bytes]
    vocab: set[bytes]
    digits: int  # digit characters

    @classmethod
    def of(cls, text: str) -> Text:
        if len(text) > HEAD_CHARS + TAIL_CHARS:
            text = text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]
        low = text.lower()
        raw = low.encode("utf-8", "surrogatepass")
        toks = split_lowered(raw)
        return cls(text, low, toks, set(toks), len(raw) - len(raw.translate(None, _DIGITS)))

    @property
    def zone(self) -> set[bytes]:
        """Words of the instruction zone (all of them in a short prompt)."""
        w = self.words
        if len(w) <= 2 * ZONE_WORDS:
            return self.vocab
        return set(w[:ZONE_WORDS]) | set(w[-ZONE_WORDS:])

    def in_zone(self, pos: int) -> bool:
        return pos < ZONE_CHARS or pos >= len(self.low) - ZONE_CHARS


Add = Callable[[str, float, str], None]
# A quoted text: opening quote after a space, colon or bracket (not an apostrophe in "Sarah's").
_QUOTE_SPAN = re.compile(
    r"(?:^|[\s:(])(?:'[^']{20,}'|\"[^\"]{20,}\"|\u2018[^\u2019]{20,}\u2019|\u201c[^\u201d]{20,}\u201d)"
)
_EITHER = re.compile(r"\b(?:is|are) (?:this|these|the|it|each)\b[^?.]{0,60}?\b[a-z]+ or (?:not )?[a-z]+\b")
_ASKING = frozenset(b"what who when where which how why does do is are can could should will".split())
_ME = frozenset(b"i im i'm my me myself".split())
_QUOTED = re.compile(r"'[^']{12,}'|\"[^\"]{12,}\"")  # quoted material is not the question
_CHOICE = re.compile(r"\b[a-z]+(?: [a-z]+)?, [a-z]+(?: [a-z]+)?,? or [a-z]+")


def _is_passage(t: Text) -> bool:
    """A long stretch of prose (reading comprehension, an article to work on): its middle is
    material, not instruction."""
    low = t.low
    return len(low) > 600 and low.count(".") >= 5 and "```" not in low and low.count("{") < 3


def _proper_nouns(text: str) -> int:
    """Capitalised words that do not start a sentence: names, places, titles (factual QA)."""
    count = 0
    prev = "."
    for w in text[:400].split():
        if w == "I" or w.startswith(("I'", "I\u2019")):
            pass  # the pronoun, not a name
        elif w[0].isupper() and (prev[-1] not in ".?!:\"'(" or (w.isupper() and len(w) > 1)):
            count += 1
        prev = w
    return count


def _short_question(t: Text, add: Add, cued: bool) -> None:
    """Factual lookups (names, dates, search-style queries) are open QA; short everyday
    questions without names ask for common sense, which is reasoning. A name weighs less
    when another cue already says what the prompt is (a puzzle about Tom and Kate)."""
    first = t.words[0]
    if first in _GREETINGS and len(t.words) <= 8:
        add("chat", 3.0, "greeting")
    elif t.text[:1].islower() and "?" not in t.text and first in _WH:
        add("open_qa", 3.0, "search-query")
    elif _proper_nouns(_QUOTED.sub(" ", t.text)) >= 1 or any(
        w.isdigit() and len(w) == 4 for w in t.words
    ):
        add("open_qa", 1.0 if cued else 2.5, "named-entity")
    elif t.low.startswith(_EXPLAIN) or any(a in t.low for a in _ADVICE):
        add("open_qa", 2.5, "explain-question")
    elif "?" in t.text or first in _WH:
        add("reasoning", 2.0, "commonsense-question")
    elif len(t.words) >= 5 and not t.low.rstrip().endswith((".", "!", ":")):
        add("reasoning", 2.0, "completion")


def _numbers(t: Text, add: Add, material: str | None, instructed: bool) -> None:
    """A short prompt of numbers that asks for a quantity is a word problem (unless the
    numbers are a quoted text to read); a prompt of mostly numbers is maths too, unless it is
    the material of another task."""
    low, n = t.low, len(t.words)
    last = low.rstrip()[-160:]
    asks = last.endswith("?") or any(q in last for q in ("calculate", "compute", "find the"))
    wordy = not instructed and material != "quote"
    if t.digits and n <= 150 and asks and wordy and any(q in last for q in _QUANTITY_QUESTIONS):
        add("math", 4.0, "word-problem")
    elif t.digits and t.digits * 25 >= len(low) and n < 150 and not instructed and not material:
        add("math", 2.0, "numbers")


def _material(t: Text) -> str | None:
    """The material the prompt carries to work on: "quote" (a quoted text), "block" (text
    after a colon or a line break near its start), or None."""
    if _QUOTE_SPAN.search(t.text):
        return "quote"
    low = t.low
    for sep in (": ", ":\n", "\n"):
        i = low.find(sep)
        if 0 < i < 200 and len(low) - i > 60:
            return "block"
    return None


def _asks(t: Text) -> bool:
    low = t.low.strip()
    return low.endswith("?") or "?" in low[:ZONE_CHARS] or bool(t.words and t.words[0] in _ASKING)


def _passage(t: Text, scores: dict[str, float], add: Add, material: str | None) -> None:
    """A question about material the prompt carries is closed QA; a long passage with no
    other instruction is too (reading comprehension)."""
    text_cue = max(scores[k] for k in TEXT_TASKS if k != "closed_qa")
    if text_cue >= 3 or scores["code"] >= 3:
        return
    if _is_passage(t):
        add("closed_qa", 4.0, "reading-passage")
    elif material and _asks(t):
        add("closed_qa", 2.5, "question-on-material")


def _structure(t: Text, scores: dict[str, float], add: Add, turns: int) -> None:
    """Cues from the shape of the text rather than its words."""
    cued = max(scores.values()) >= MIN_SCORE  # a word or phrase already said what it is
    low, n = t.low, len(t.words)
    material = _material(t)
    latex = low.count("$") >= 2 and "\\" in low
    if latex:
        add("math", 3.0, "latex")
    _numbers(t, add, material, max(scores[k] for k in TEXT_TASKS) >= 3)
    if material and (_CHOICE.search(low[:ZONE_CHARS]) or _EITHER.search(low[:ZONE_CHARS])):
        add("classification", 2.5, "pick-one-of")  # "positive or negative?" about a text
    braces = low.count("{") + low.count("}") + low.count(";\n") + low.count("\n    ")
    braces += low.count(";") // 2
    if braces >= 6:
        add("code", min(braces / 4, 6.0), "code-syntax")
    commas = low.count(",")
    if commas >= 4 and "?" not in low and ":" not in low and commas * 3 >= n:
        add("generation", 4.0, "word-list")  # "make a sentence from these concepts"
    text_cue = max(scores[k] for k in TEXT_TASKS)
    if t.words and t.words[0] in _IMPERATIVE_GENERATE and scores["code"] < 3 and text_cue < 3:
        add("generation", 2.5, "asks-to-write")
    if not latex:
        _passage(t, scores, add, material)
    if 0 < n <= 60 and t.text[:200].isascii() and text_cue < 3 and not material:
        _short_question(t, add, cued)
        if low.count(". ") >= 2 and low.rstrip().endswith("?") and not t.digits:
            add("reasoning", 2.0, "statements-then-question")  # a small puzzle
    if turns >= 2 and max(scores.values()) < 3:
        add("chat", 3.0, f"{turns}-turn conversation")
    elif n <= 20 and not cued and not material and t.vocab & _ME and not t.vocab & _WH:
        add("chat", 2.0, "about-me")  # "I miss my friends back home."


def _find(low: str, phrase: str) -> int:
    """Where `phrase` starts as whole words ("act as" is not in "impact assessment"), or -1."""
    pos = low.find(phrase)
    while pos > 0 and low[pos - 1].isalnum():
        pos = low.find(phrase, pos + 1)
    return pos


def _cues(t: Text, scores: dict[str, float], why: list[str]) -> None:
    """Words, question words and phrases. When the instruction zone holds a text task's
    instruction, cues from the material it works on count only BODY_WEIGHT."""
    zone = t.zone
    inside = dict.fromkeys(scores, 0.0)
    outside = dict.fromkeys(scores, 0.0)
    for w in t.vocab & WORD_KEYS:
        part = inside if w in zone else outside
        for task, weight in WORD_CUES[w]:
            part[task] += weight
        if len(why) < 12:
            why.append(w.decode("utf-8", "replace"))
    phrases = [c for w in t.vocab & PHRASE_KEYS for c in PHRASES_BY_WORD[w] if c[3] <= t.vocab]
    for phrase, task, weight, _ in phrases:
        pos = _find(t.low, phrase)
        if pos >= 0:
            (inside if t.in_zone(pos) or phrase in ANYWHERE else outside)[task] += weight
            why.append(repr(phrase))
    head, tail = t.low[:ZONE_CHARS], t.low[-ZONE_CHARS:]
    stems = {c for w in zone if (c := STEMS_BY_PREFIX.get(w[:STEM_PREFIX]))}
    for stem, task, weight in (s for group in stems for s in group):
        if _find(head, stem) >= 0 or _find(tail, stem) >= 0:
            inside[task] += weight
            why.append(repr(stem))
    instructed = max(inside[k] for k in TEXT_TASKS) >= 3
    scale = BODY_WEIGHT if instructed or _is_passage(t) else 1.0
    for task in scores:
        scores[task] += inside[task] + scale * outside[task]
    for w in set(t.words[-QUESTION_WORDS:]) & QUESTION_KEYS:
        for task, weight in QUESTION_CUES[w]:
            scores[task] += weight * scale
    for phrase, task, weight, _ in SYMBOL_PHRASES:  # code and LaTeX marks count anywhere
        if phrase in t.low:
            scores[task] += weight
            why.append(repr(phrase))
    if not t.vocab & ENGLISH:
        for phrase, task, weight in FOREIGN_CUES:
            if phrase in t.low:
                scores[task] += weight
                why.append(repr(phrase))


def classify_task(
    t: Text, system: str = "", turns: int = 1
) -> tuple[str, tuple[str, ...], dict[str, float]]:
    """(task, the cues that spoke, the score of every task). `turns` is the number of user
    turns: a conversation without another clear task is chat."""
    scores = dict.fromkeys(TASKS, 0.0)
    why: list[str] = []

    def add(task: str, weight: float, signal: str) -> None:
        scores[task] += weight
        why.append(signal)

    _cues(t, scores, why)
    _structure(t, scores, add, turns)
    if system:
        sys_low = system.lower()
        if ("you are" in sys_low or "you're" in sys_low) and (
            "role" in sys_low or "character" in sys_low or "persona" in sys_low
        ):
            add("chat", 3.0, "roleplay-system")
    task = max(scores, key=scores.__getitem__)
    if scores[task] < MIN_SCORE:
        task = "open_qa"
    return task, tuple(why), scores
