"""Routing, step 1b: which kind of task a prompt is, from hand-set cues (see `lexicon`).

Each cue adds its weight to one task; the largest sum wins, and open_qa wins when nothing
reaches 2. Besides words and phrases, a few cues read the shape of the text: LaTeX, numbers
with a quantity question, code punctuation, a bare list of words, a long passage, and whether
a short question names things (factual, open QA) or not (common sense, reasoning).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import TASKS
from gateway.routing.lexicon import (
    ENGLISH,
    FOREIGN_CUES,
    PHRASE_KEYS,
    PHRASES_BY_WORD,
    QUESTION_CUES,
    QUESTION_KEYS,
    SYMBOL_PHRASES,
    WORD_CUES,
    WORD_KEYS,
    split_lowered,
)

# Long prompts are judged by their head and tail, which bounds the cost of a decision.
HEAD_CHARS = 3000
TAIL_CHARS = 1000
QUESTION_WORDS = 50  # the "question" is the prompt's last words
MIN_SCORE = 2.0
_DIGITS = b"0123456789"
_IMPERATIVE_GENERATE = frozenset(
    b"write compose draft create generate invent imagine tell make rewrite continue".split()
)
_QUANTITY_QUESTIONS = (
    "how many",
    "how much",
    "how old",
    "how long",
    "how far",
    "how fast",
    "how large",
    "$",
    "%",
    "calculate",
    "what is the total",
    "find the",
)
_GREETINGS = frozenset(b"hi hello hey thanks thank yo morning evening".split())
_WH = frozenset(b"what who when where which how why whom whose".split())


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


Add = Callable[[str, float, str], None]


def _proper_nouns(text: str) -> int:
    """Capitalised words that do not start a sentence: names, places, titles (factual QA)."""
    count = 0
    prev = "."
    for w in text[:400].split():
        if w[0].isupper() and (prev[-1] not in ".?!:\"'(" or (w.isupper() and len(w) > 1)):
            count += 1
        prev = w
    return count


def _short_question(t: Text, add: Add) -> None:
    """Factual lookups (names, dates, search-style queries) are open QA; short everyday
    questions without names ask for common sense, which is reasoning."""
    first = t.words[0]
    if first in _GREETINGS and len(t.words) <= 8:
        add("chat", 3.0, "greeting")
    elif t.text[:1].islower() and "?" not in t.text and first in _WH:
        add("open_qa", 3.0, "search-query")
    elif _proper_nouns(t.text) >= 1 or any(w.isdigit() and len(w) == 4 for w in t.words):
        add("open_qa", 2.5, "named-entity")
    elif "?" in t.text or first in _WH:
        add("reasoning", 2.0, "commonsense-question")
    elif len(t.words) >= 5 and not t.low.rstrip().endswith((".", "!", ":")):
        add("reasoning", 2.0, "completion")


def _structure(t: Text, scores: dict[str, float], add: Add) -> None:
    """Cues from the shape of the text rather than its words."""
    low, n = t.low, len(t.words)
    latex = low.count("$") >= 2 and "\\" in low
    if latex:
        add("math", 3.0, "latex")
    if t.digits and n <= 150 and any(q in low for q in _QUANTITY_QUESTIONS):
        add("math", 4.0, "word-problem")
    elif t.digits and t.digits * 25 >= len(low) and n < 150:
        add("math", 2.0, "numbers")
    braces = low.count("{") + low.count(";") + low.count("    ")
    if braces >= 6:
        add("code", min(braces / 4, 6.0), "code-syntax")
    commas = low.count(",")
    if commas >= 4 and "?" not in low and commas * 3 >= n:
        add("generation", 4.0, "word-list")  # "make a sentence from these concepts"
    if t.words and t.words[0] in _IMPERATIVE_GENERATE and scores["code"] < 3:
        add("generation", 2.5, "asks-to-write")
    if len(low) > 600 and low.count(".") >= 5 and scores["code"] < 3 and not latex:
        add("open_qa", 4.0, "reading-passage")
    elif 0 < n <= 60 and t.text[:200].isascii():
        _short_question(t, add)


def _cues(t: Text, scores: dict[str, float], why: list[str]) -> None:
    """Words, question words and phrases."""
    for w in t.vocab & WORD_KEYS:
        for task, weight in WORD_CUES[w]:
            scores[task] += weight
        if len(why) < 12:
            why.append(w.decode("utf-8", "replace"))
    for w in set(t.words[-QUESTION_WORDS:]) & QUESTION_KEYS:
        for task, weight in QUESTION_CUES[w]:
            scores[task] += weight
    phrases = [c for w in t.vocab & PHRASE_KEYS for c in PHRASES_BY_WORD[w] if c[3] <= t.vocab]
    for phrase, task, weight, _ in (*phrases, *SYMBOL_PHRASES):
        if phrase in t.low:
            scores[task] += weight
            why.append(repr(phrase))
    if not t.vocab & ENGLISH:
        for phrase, task, weight in FOREIGN_CUES:
            if phrase in t.low:
                scores[task] += weight
                why.append(repr(phrase))


def classify_task(t: Text, system: str = "") -> tuple[str, tuple[str, ...], dict[str, float]]:
    """(task, the cues that spoke, the score of every task)."""
    scores = dict.fromkeys(TASKS, 0.0)
    why: list[str] = []

    def add(task: str, weight: float, signal: str) -> None:
        scores[task] += weight
        why.append(signal)

    _cues(t, scores, why)
    _structure(t, scores, add)
    if system:
        sys_low = system.lower()
        if "you are" in sys_low and ("role" in sys_low or "character" in sys_low):
            add("chat", 3.0, "roleplay-system")
    task = max(scores, key=scores.__getitem__)
    if scores[task] < MIN_SCORE:
        task = "open_qa"
    return task, tuple(why), scores
