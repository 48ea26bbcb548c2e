"""Routing, step 1b: the hand-set word cues the task classifier counts, and the tokenizer they share.

Each cue names a task and a weight; `classify` adds the weights of the cues a prompt contains
and takes the largest sum. Words are matched against the prompt's word set (a set lookup
each, so the table can grow without slowing the hot path); phrases (`phrases.py`) by substring
search on the lower-cased text. The weights were set by hand from what the words mean, not
fitted to data.
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


def index_phrases(
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


def index_stems(
    stems: tuple[tuple[str, str, float], ...], prefix: int
) -> MappingProxyType[bytes, tuple[tuple[str, str, float], ...]]:
    """Word-start stems keyed by the first `prefix` bytes of their first word, so a prompt
    looks up only the stems its own words could start."""
    out: dict[bytes, list[tuple[str, str, float]]] = {}
    for stem, task, weight in stems:
        first = words(stem)[0]
        if len(first) < prefix:
            raise ValueError(f"stem {stem!r} is shorter than {prefix} bytes")
        out.setdefault(first[:prefix], []).append((stem, task, weight))
    return MappingProxyType({k: tuple(v) for k, v in out.items()})


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
            "pytest backend frontend dataframe sqlite postgres postgresql mysql mongodb redis "
            "shader linux unix webpage webapp div",
            1.5: "function functions code coding program programming script implement "
            "implementation class method variable array arrays loop recursion recursive "
            "algorithm bug exception module library framework database query docker cli "
            "syntax parser boolean tuple dict dictionary api endpoint json yaml xml vba "
            "excel macro snippet",
        },
        "math": {
            3.0: "equation equations integral integrals integrate derivative derivatives "
            "polynomial theorem lemma proof prove simplify factorial modulo mod divisible "
            "divisor divisors gcd lcm prime primes sqrt logarithm log exponent matrix "
            "determinant eigenvalue eigenvalues vector vectors probability combinatorics "
            "permutations triangle circle radius diameter perimeter hypotenuse polygon "
            "hexagon parabola asymptote quadratic cubic integer integers "
            "digit digits boxed frac cdot dfrac binom infty sum_ pmod arithmetic geometric "
            "calculus algebra trigonometry sin cos tan limit",
            1.5: "calculate compute solve percent percentage ratio average fraction remainder "
            "area volume quotient formula fahrenheit celsius solutions",
        },
        "reasoning": {
            2.5: "clue clues puzzle riddle deduce deduction logic logical syllogism "
            "fallacy premise premises conclusion conclude infer inference paradox "
            "contradiction hypothesis valid invalid flaw knights knaves feasible",
        },
        "summarization": {
            3.0: "summarize summarise summarizing summarising summary summaries summarization "
            "summarisation tldr recap gist condense",
            1.5: "overview takeaways digest briefly shorten",
        },
        "extraction": {
            3.0: "extract extraction extracted extracting entities entity ner",
            1.5: "parse mentioned fields identify pull grab csv keywords "
            "urls",
        },
        "classification": {
            3.0: "classify classification categorize categorise categorization "
            "categorisation sentiment spam toxic toxicity intent classifying categorizing "
            "categorising triage",
            1.5: "category categories genre priority severity urgency label labels "
            "fraud legitimate",
        },
        "rewrite": {
            3.0: "rewrite rephrase paraphrase proofread reword translate translation grammar "
            "spelling punctuation punchier paraphrases paraphrasing rephrasing rewording "
            "reformulate reformat reformatting translating proofreading",
            1.0: "french german spanish italian portuguese japanese korean chinese dutch "
            "russian arabic hindi swedish turkish greek",
            1.5: "edit concise polite professional polish",
        },
        "closed_qa": {
            1.5: "passage excerpt context",
        },
        "brainstorming": {
            4.0: "ideas",
            3.0: "brainstorm brainstorming",
            1.5: "suggest suggestions alternatives names options ways slogans taglines themes "
            "topics",
        },
        "generation": {
            3.0: "story stories poem poems poetry haiku limerick sonnet lyrics song songs "
            "rap verse essay blog tweet novel fiction screenplay narrative fanfic creative "
            "imaginative rhyme rhymes rhyming toast",
            1.5: "write compose draft create generate invent imagine describe speech letter "
            "post caption advertisement ad character characters scene plot slogan tagline "
            "headline chapter dialogue dialog",
        },
        "chat": {
            3.0: "roleplay pretend",
            1.5: "hi hello hey thanks thank lol haha chat talk feel feeling friend bored persona "
            "lonely nervous miss vent hiii heyy hiya",
        },
        "open_qa": {
            2.0: "molecule molecules molecular reactant reactants synthesis spectroscopy nmr "
            "quantum electron electrons photon photons proton neutron particle particles "
            "hamiltonian orbital protein proteins gene genes enzyme dna rna mutation "
            "isomer catalyst wavelength relativistic magnetic conductor spin plasmid "
            "chromosome genome antibody receptor",
            1.0: "history capital invented founded population president country city "
            "meaning definition define named album film movie singer actor "
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


WORD_KEYS = frozenset(WORD_CUES)
QUESTION_KEYS = frozenset(QUESTION_CUES)
# Words that say a prompt is English (not "a", "in" or "is": Spanish, German and Dutch have them).
ENGLISH = frozenset(b"the an and of to are what how with this that".split())
