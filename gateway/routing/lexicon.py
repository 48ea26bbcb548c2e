"""Routing, step 1b: the hand-set cues the task classifier counts, and the tokenizer they share.

Each cue names a task and a weight; `classify` adds the weights of the cues a prompt contains
and takes the largest sum. Words are matched against the prompt's word set (a set lookup
each, so the table can grow without slowing the hot path); phrases by substring search on the
lower-cased text. The weights were set by hand from what the words mean, not fitted to data.
"""

from __future__ import annotations

import string
from types import MappingProxyType

# Punctuation becomes a separator. Non-ASCII bytes are kept, so other scripts still form words.
_SEPARATORS = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))


def words(text: str) -> list[bytes]:
    """Lower-cased words of `text` as UTF-8 bytes (what features hash and cues look up)."""
    return split_lowered(text.lower().encode("utf-8", "surrogatepass"))


def split_lowered(raw: bytes) -> list[bytes]:
    """`words` of text already lower-cased and encoded."""
    return raw.translate(_SEPARATORS).split()


Cue = tuple[str, str, float, frozenset[bytes]]  # phrase, task, weight, its words


def _index(
    phrases: tuple[tuple[str, str, float], ...],
) -> tuple[MappingProxyType[bytes, tuple[Cue, ...]], tuple[Cue, ...]]:
    """Phrases keyed by their first word, each with all its words (a phrase is only searched
    for when every one of its words is in the prompt); phrases led by a symbol on their own."""
    by_word: dict[bytes, list[Cue]] = {}
    symbols: list[Cue] = []
    for phrase, task, weight in phrases:
        toks = words(phrase)
        cue = (phrase, task, weight, frozenset(toks))
        if toks and phrase.lower().encode().startswith(toks[0]):
            by_word.setdefault(toks[0], []).append(cue)
        else:
            symbols.append(cue)
    return MappingProxyType({k: tuple(v) for k, v in by_word.items()}), tuple(symbols)


def _table(
    spec: dict[str, dict[float, str]],
) -> MappingProxyType[bytes, tuple[tuple[str, float], ...]]:
    out: dict[bytes, list[tuple[str, float]]] = {}
    for task, by_weight in spec.items():
        for weight, listed in by_weight.items():
            for word in listed.split():
                out.setdefault(word.encode(), []).append((task, weight))
    return MappingProxyType({k: tuple(v) for k, v in out.items()})


WORD_CUES = _table(
    {
        "code": {
            3.0: "python javascript typescript java golang rust kotlin swift php ruby cpp csharp "
            "sql html css regex bash powershell dockerfile kubernetes k8s ansible terraform "
            "numpy pandas pytorch tensorflow django flask fastapi react vue angular nodejs "
            "jquery typeof println printf stdout stderr traceback stacktrace segfault "
            "def elif lambda args kwargs struct enum namespace const async await "
            "compile compiler debug debugging refactor repo github git npm pip unittest "
            "pytest backend frontend api endpoint json yaml xml dataframe sqlite postgres "
            "mysql mongodb redis shader vba excel macro linux unix webpage webapp",
            1.5: "function functions code coding program programming script implement "
            "implementation class method variable array arrays string strings loop "
            "recursion recursive algorithm bug error exception module library framework "
            "database query server client docker app cli syntax parse parser returns "
            "boolean integer list tuple dict dictionary",
        },
        "math": {
            3.0: "equation equations integral integrals derivative derivatives polynomial "
            "theorem lemma proof prove simplify factorial modulo mod divisible divisor "
            "divisors gcd lcm primes sqrt logarithm log exponent matrix determinant "
            "eigenvalue eigenvalues vector vectors probability combinatorics permutations "
            "triangle circle radius diameter perimeter hypotenuse polygon hexagon "
            "parabola asymptote quadratic cubic integer integers digit digits "
            "boxed frac cdot dfrac binom infty sum_ pmod arithmetic geometric "
            "calculus algebra trigonometry sin cos tan",
            1.5: "calculate compute solve evaluate percent percentage ratio average "
            "fraction remainder area volume total sum product difference quotient "
            "value values real positive negative odd even number numbers",
        },
        "reasoning": {
            2.5: "clue clues puzzle riddle deduce deduction logic logical syllogism "
            "fallacy premise premises conclusion infer inference paradox "
            "contradiction hypothesis valid invalid",
        },
        "extraction": {
            3.0: "summarize summarise summary summarization tldr extract extraction "
            "classify categorize categorise label sentiment translate translation "
            "paraphrase rephrase proofread rewrite keywords entities",
            1.0: "passage article document text excerpt transcript report email review "
            "reviews table csv",
        },
        "generation": {
            3.0: "story stories poem poems poetry haiku limerick sonnet lyrics song songs "
            "rap verse essay blog tweet slogan tagline headline novel chapter fiction "
            "screenplay dialogue dialog narrative fanfic creative imaginative brainstorm "
            "rhyme rhymes rhyming",
            1.5: "write compose draft create generate invent imagine describe speech letter "
            "post caption advertisement character characters scene plot",
        },
        "chat": {
            3.0: "roleplay pretend persona",
            1.0: "hi hello hey thanks thank lol chat talk feel feeling friend",
        },
        "open_qa": {
            2.0: "molecule molecules molecular reactant reactants synthesis spectroscopy nmr "
            "quantum electron electrons photon photons proton neutron particle particles "
            "hamiltonian orbital protein proteins gene genes enzyme dna rna mutation "
            "isomer catalyst wavelength relativistic magnetic conductor spin plasmid "
            "chromosome genome antibody receptor",
            1.0: "history capital invented founded population president country city "
            "meaning definition define named album film movie novel singer actor "
            "team won played born wrote",
        },
    }
)

# Weak cues read only in the question (the last sentences): a passage that mentions causes
# or likelihoods is not yet a reasoning task; a question that asks for them is.
QUESTION_CUES = _table(
    {
        "reasoning": {
            1.5: "likely probably might could would should because reason reasoning why "
            "explain justify implies therefore best cause causes effect effects happen "
            "result results least",
        },
    }
)

# Phrases, matched as substrings of the lower-cased prompt. Each is only searched for when its
# first word is among the prompt's words (or always, when it starts with a symbol), so the
# table costs little per request.
PHRASE_CUES: tuple[tuple[str, str, float], ...] = (
    ("```", "code", 4.0),
    ("def ", "code", 2.0),
    ("#include", "code", 4.0),
    ("import ", "code", 1.5),
    ("return ", "code", 1.5),
    ("();", "code", 3.0),
    ("=>", "code", 2.0),
    ("</", "code", 2.0),
    ("write a function", "code", 4.0),
    ("write a python", "code", 4.0),
    ("write a program", "code", 4.0),
    ("c++", "code", 3.0),
    ("c#", "code", 3.0),
    (">>>", "code", 3.0),
    ("\\boxed", "math", 4.0),
    ("\\frac", "math", 3.0),
    ("\\[", "math", 2.0),
    ("\\(", "math", 2.0),
    ("step by step", "reasoning", 1.5),
    ("explain your reasoning", "reasoning", 3.0),
    ("which of the following", "reasoning", 1.0),
    ("which of these", "reasoning", 2.0),
    ("most likely", "reasoning", 2.0),
    ("best explains", "reasoning", 3.0),
    ("best describes", "reasoning", 2.0),
    ("what would happen", "reasoning", 2.0),
    ("where would", "reasoning", 2.0),
    ("where might", "reasoning", 2.0),
    ("where could", "reasoning", 2.0),
    ("what might", "reasoning", 1.5),
    ("true or false", "reasoning", 1.5),
    ("tl;dr", "extraction", 4.0),
    ("key points", "extraction", 3.0),
    ("bullet points", "extraction", 2.0),
    ("the following text", "extraction", 3.0),
    ("the following passage", "extraction", 3.0),
    ("the following article", "extraction", 3.0),
    ("from the text", "extraction", 3.0),
    ("in json format", "extraction", 2.0),
    ("write a story", "generation", 3.0),
    ("a script ", "generation", 2.0),
    ("alternate universe", "generation", 3.0),
    ("clue(s)", "reasoning", 6.0),
    ("write a poem", "generation", 3.0),
    ("short story", "generation", 3.0),
    ("blog post", "generation", 3.0),
    ("cover letter", "generation", 3.0),
    ("act as", "chat", 3.0),
    ("role of", "chat", 2.0),
    ("you are a", "chat", 1.5),
    ("imagine you are", "chat", 3.0),
    ("how are you", "chat", 3.0),
    ("let's play", "chat", 2.0),
)

# Cues in other languages, searched only when the prompt does not read as English.
FOREIGN_CUES: tuple[tuple[str, str, float], ...] = (
    ("代码", "code", 3.0),
    ("函数", "code", 2.0),
    ("编程", "code", 3.0),
    ("код", "code", 2.0),
    ("функци", "code", 2.0),
    ("пайтон", "code", 3.0),
    ("证明", "math", 3.0),
    ("计算", "math", 3.0),
    ("方程", "math", 3.0),
    ("求", "math", 1.0),
    ("вычисл", "math", 3.0),
    ("реши", "math", 2.0),
    ("уравнен", "math", 3.0),
    ("写", "generation", 2.0),
    ("诗", "generation", 3.0),
    ("歌词", "generation", 3.0),
    ("故事", "generation", 3.0),
    ("小说", "generation", 3.0),
    ("俳句", "generation", 3.0),
    ("物語", "generation", 3.0),
    ("напиши", "generation", 2.0),
    ("стих", "generation", 3.0),
    ("рассказ", "generation", 3.0),
    ("песн", "generation", 3.0),
    ("сценари", "generation", 3.0),
    ("viết", "generation", 2.0),
    ("escrib", "generation", 2.0),
    ("histori", "generation", 2.0),
    ("poema", "generation", 3.0),
    ("cuento", "generation", 3.0),
    ("invent", "generation", 1.5),
    ("genera", "generation", 1.0),
    ("écri", "generation", 2.0),
    ("schreib", "generation", 2.0),
    ("geschichte", "generation", 2.0),
    ("gedicht", "generation", 3.0),
    ("dialog", "generation", 2.0),
)


PHRASES_BY_WORD, SYMBOL_PHRASES = _index(PHRASE_CUES)
WORD_KEYS = frozenset(WORD_CUES)
QUESTION_KEYS = frozenset(QUESTION_CUES)
PHRASE_KEYS = frozenset(PHRASES_BY_WORD)
ENGLISH = frozenset(b"the a an and of to is in are what how".split())
