"""Routing, step 1b: the hand-set phrase cues of the task classifier (words are in `lexicon`).

Phrases are matched as substrings of the lower-cased prompt. Each is only searched for when its
first word is among the prompt's words (or always, when it starts with a symbol), so the table
costs little per request. Most phrases are the instruction of a request ("sum up", "pull out",
"based on the passage"): where they sit matters, see `task.py`. Weights were set by hand from
what the phrases mean, not fitted to data.
"""

from __future__ import annotations

from gateway.routing.lexicon import index_phrases, index_stems

Phrases = tuple[tuple[str, str, float], ...]


def _task(task: str, weighted: dict[float, tuple[str, ...]]) -> Phrases:
    return tuple((p, task, w) for w, listed in weighted.items() for p in listed)


PHRASE_CUES: Phrases = (
    *_task("code", {
        4.0: ("```", "#include", "write a function", "write a python", "write a program",
              "write a script", "write a sql", "write a regex", "write unit tests"),
        3.0: ("();", "c++", "c#", ">>>", "++)", "this code", "my code", "binary search",
              "linked list", "hash map", "off-by-one", "in golang", "quicksort"),
        2.0: ("def ", "=>", "</"),
        1.5: ("import ", "return "),
    }),
    *_task("math", {
        4.0: ("\\boxed",),
        3.0: ("\\frac",),
        2.0: ("\\[", "\\("),
    }),
    *_task("reasoning", {
        6.0: ("clue(s)",),
        3.0: ("explain your reasoning", "best explains", "spot the flaw",
              "always lies", "always tells the truth", "tells the truth", "telling the truth",
              "knights and knaves", "which is which", "who sits where", "who lives where",
              "who has which", "who gets which", "who owns which", "in what order",
              "find a valid", "possible to determine", "walk through your reasoning",
              "balance scale", "lateral thinking", "brain teaser", "every label is wrong",
              "this argument", "the argument", "this reasoning", "conclusion follow",
              "which side", "the name of the fifth", "exactly one of these", "only one of them",
              "statements is true", "statements are true", "is this feasible", "find an assignment",
              "every rule", "each rule", "valid order", "which pet", "which box",
              "causal explanation"),
        2.0: ("which of these", "most likely", "best describes", "what would happen",
              "where would", "where might", "where could", "least likely", "what comes next",
              "taller than", "shorter than", "older than", "younger than", "faster than",
              "who owns", "what day will", "what day was", "how can you measure"),
        1.5: ("step by step", "what might", "true or false", "think it through"),
        1.0: ("which of the following",),
    }),
    *_task("open_qa", {
        4.0: ("what causes",),
        2.5: ("what is the function of", "the difference between",
              "how does a", "how do the", "who wrote", "who painted", "who invented",
              "who was the", "which country has", "what does the term"),
        2.0: ("how does", "who was", "what were the main", "what is the capital", "what does",
              "work?"),
    }),
    *_task("summarization", {
        5.0: ("executive summary",),
        4.0: ("sum this up", "short version", "reduce this paragraph", "synopsis of", "what was decided",
              "tl;dr", "sum up", "sum it up", "boil this down", "boil it down", "the gist",
              "key takeaways", "reduce this text", "write a summary"),
        3.0: ("key points", "main points", "main point", "main arguments", "main facts",
              "in a nutshell", "brief overview", "what's it about", "what is it about",
              "an abstract", "abstract for"),
        2.0: ("in two lines", "to one sentence", "one sentence", "in one sentence", "single sentence",
              "couple of lines", "in a few words",
              "two sentences", "three sentences", "a summary"),
    }),
    *_task("extraction", {
        4.0: ("named entity", "fill in the fields"),
        3.0: ("get me all", "numbers out", "structured data", "which people are", "are named",
              "the tracking number", "account number", "pull out", "list every", "list all", "find all",
              "return json", "into json", "as json", "pull every", "pull all", "give me just",
              "just the", "out of this", "find every", "just list", "and list them",
              "out of my", "from this email",
              "json with fields", "a csv", "email addresses", "phone numbers", "action items",
              "mentioned in", "are mentioned", "appear in this", "give me only"),
        2.5: ("in json", "as a table", "the fields", "parse this"),
        1.0: ("all the",),
    }),
    *_task("classification", {
        5.0: ("positive, negative or neutral", "spam or not", "fact or an opinion",
              "fact or opinion"),
        4.0: ("positive or negative", "urgent or not", "is the tone", "part of speech", "in a category",
              "which programming language", "which category", "one of these categories", "label each",
              "label them",
              "which genre", "what genre", "which department", "what language is",
              "correct or incorrect", "low, medium", "into categories", "exactly one",
              "one label", "into one of", "which team should", "phishing or", "scam or",
              "clickbait or", "formal or informal", "pick one", "which section",
              "document type", "route this", "best fits", "which level"),
        3.0: ("group these", "a category", "likely to churn", "is this review", "is this headline",
              "the categories", "assign each", "tag this", "tag each", "mark each",
              "on a scale", "scale of 1", "scale from 1", "whether each"),
        2.5: ("sort these", "say whether"),
        2.0: ("assign a", "rate the", "is this email", "is this message",
              "is this sentence", "grammatically correct"),
        1.5: ("yes or no",),
    }),
    *_task("rewrite", {
        4.0: ("correct the mistakes", "say this differently", "tone down", "into bullet points",
              "without the passive", "fix the grammar", "correct any mistakes", "correct the punctuation",
              "passive voice", "plain english", "british english", "american english",
              "change the tone", "improve the flow", "how do you say",
              "turn these bullet points into", "into a flowing paragraph", "active voice",
              "fix grammar", "fix my grammar", "fix the spelling", "correct the grammar",
              "correct the spelling", "same meaning", "same info", "same facts", "no new info",
              "don't add", "dont add", "without adding", "keep the meaning", "keeping the meaning",
              "in plainer words", "in simpler words", "for a layperson", "non-technical reader",
              "less angry", "less passive", "less formal", "less casual", "less cringe",
              "sound less", "sounds less", "easier to read", "easier to follow"),
        3.0: ("more concise", "more formal", "third person", "formal academic", "rewrite my",
              "more professional", "more polite", "more exciting", "more casual", "sound more",
              "sounds more", "so it doesn't sound", "doesn't sound", "in the first person",
              "without changing", "into a paragraph", "shorter and"),
        2.0: ("in other words",),
        1.5: ("make this", "make it"),
    }),
    *_task("closed_qa", {
        5.0: ("based on the passage", "based on the text", "based on the article",
              "according to the passage", "according to the text", "according to the article",
              "according to the story", "according to this", "provided context",
              "questions that follow"),
        4.0: ("using this passage", "in the text below", "given the meeting", "answer from the",
              "read this job", "from this nutrition", "from my textbook", "does this warranty",
              "in the passage", "the text says", "read the text", "read the passage",
              "based on this", "based on the manual", "in the story", "in the email",
              "this excerpt", "given this table", "from the notes", "from this recipe"),
        3.0: ("the passage", "from the text", "using only", "context:", "the excerpt",
              "manual excerpt", "supported by this", "using the documentation", "look at this"),
        2.0: ("based on the", "according to the", "question:", "answer the question",
              "the document", "this document", "here is my", "here's our"),
        1.5: ("read this", "does this", "does the following", "here's the"),
    }),
    *_task("brainstorming", {
        5.0: ("help me brainstorm",),
        4.0: ("ideas for", "some ideas", "gift ideas", "name ideas", "any ideas",
              "possible features", "idea for", "what are some", "a few options"),
        3.0: ("possible names", "suggest ten", "list some", "icebreaker", "come up with", "some ways",
              "suggest some", "suggest five",
              "possible reasons", "possible research", "conversation starters",
              "alternatives to", "hobby suggestions", "as many as you can", "a broad list",
              "a big list", "list as many", "what could go wrong"),
        2.0: ("ways to", "throw some", "what could i", "what could we"),
        1.5: ("a list of", "list of"),
    }),
    *_task("generation", {
        3.0: ("write a story", "a script ", "alternate universe", "write a poem", "short story",
              "blog post", "cover letter", "wedding toast", "write an email", "write a letter",
              "thank you note", "thank-you note", "out of office", "birthday message",
              "a text apologizing", "a message apologizing"),
        2.0: ("draft a", "draft an", "an email to", "a letter to", "write me a"),
        1.5: ("write a",),
    }),
    *_task("chat", {
        4.0: ("stay in character", "can we just chat", "can we chat", "chat for a while",
              "how's it going", "nice to meet you", "just want to vent", "entertain me",
              "how are you", "what's your favourite", "your favourite", "your favorite"),
        3.0: ("how was your", "i miss", "be my", "keep me company", "what do you like", "good night",
              "talk tomorrow", "study buddy", "act as", "imagine you are", "talk to me", "good morning",
              "i'm feeling",
              "do you ever", "act as my", "play the role", "plays the role", "the role of a",
              "embrace the role", "let's play", "how's your day", "how is your day",
              "cheer me up", "mock interview", "role-play", "are you a real", "you're the best",
              "youre the best"),
        2.0: ("i just got", "i'm so happy", "you're a", "i'm so", "i feel", "let's have"),
        1.5: ("you are a",),
    }),
)

# Cues in other languages, searched only when the prompt does not read as English.
FOREIGN_CUES: Phrases = (
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
    ("résum", "summarization", 3.0),
    ("zusammenfass", "summarization", 3.0),
    ("总结", "summarization", 3.0),
    ("摘要", "summarization", 3.0),
    ("翻译", "rewrite", 3.0),
    ("tradu", "rewrite", 3.0),
    ("übersetz", "rewrite", 3.0),
    ("перевед", "rewrite", 3.0),
)

# Instructions in other languages written in Latin script, as word starts: read in the
# instruction zone only, whatever language the material is in ("Extrae de la siguiente
# factura...", "Bitte formuliere diesen Text..."), and before the material's cues are weighed.
ZONE_STEMS: Phrases = (
    *_task("extraction", {
        3.0: ("extrae", "extraer", "extraiga", "extrai", "extrahier", "herausziehen",
              "herausschreiben", "estrai", "sácame", "haal uit", "haal alle"),
    }),
    *_task("code", {
        4.0: ("función", "fonction", "funktion", "funzione", "função", "functie"),
    }),
    *_task("classification", {
        4.0: ("positiv oder negativ", "positivo o negativo", "positif ou négatif",
              "formel ou informel", "phishing oder", "oder legitim", "pos/neg"),
        3.0: ("clasific", "classifi", "classez", "classe chaque", "classe chacun", "classer ",
              "klassifizier",
              "kategorisier", "ordne jede", "ordne die", "deel de", "deel in", "indelen",
              "categoriz", "categoris"),
    }),
    *_task("rewrite", {
        3.0: ("traduc", "traduz", "traduis", "traduire", "traduci", "übersetz", "vertaal",
              "corrig", "korrigier", "reformul", "umformulier", "formuliere", "riformul",
              "riscriv", "reescrib", "réécri", "herschrijf", "herformuleer", "verbeter"),
    }),
    *_task("summarization", {
        3.0: ("resumen", "resumir", "resuma", "resumo", "resume este", "resume estas",
              "riassum", "samenvat", "fasse", "zusammenfass", "résumez", "résume", "résumé"),
    }),
    *_task("brainstorming", {
        3.0: ("idées", "ideas para", "ideen für", "ideen", "idee per", "idee di", "ideeën",
              "sammle", "propose-moi", "proponi", "elenca", "lluvia de ideas"),
    }),
    *_task("generation", {
        3.0: ("rédige", "redacta", "redacte", "escreve", "escribe", "schreib", "schrijf",
              "scrivi", "écris", "gedicht", "poème", "poema", "cuento"),
    }),
    *_task("math", {
        3.0: ("wie viel", "wieviel", "cuánto", "cuanto", "combien", "quanto", "hoeveel",
              "wahrscheinlichkeit", "probabilidad", "probabilité", "probabilità", "rechenweg",
              "calcul", "berechne", "calcula"),
    }),
    *_task("reasoning", {
        4.0: ("énigme", "rätsel", "logikrätsel", "acertijo", "adivinanza", "puzzel", "raadsel",
              "indovinello"),
        3.0: ("begründe", "explica el razonamiento", "leg uit hoe", "raisonnement", "failles"),
    }),
    *_task("chat", {
        3.0: ("hola", "qué tal", "que tal", "salut", "ça va", "guten abend", "guten morgen",
              "wie geht", "hoi!", "hoe is het", "ciao", "come stai", "tudo bem", "olá",
              "desahog", "discute"),
    }),
)

# Format marks that say what the whole prompt is wherever they sit (a puzzle's clue list).
ANYWHERE = frozenset({"clue(s)"})
PHRASES_BY_WORD, SYMBOL_PHRASES = index_phrases(PHRASE_CUES)
STEM_PREFIX = 3  # zone stems are looked up by the first bytes of a zone word
STEMS_BY_PREFIX = index_stems(ZONE_STEMS, STEM_PREFIX)
PHRASE_KEYS = frozenset(PHRASES_BY_WORD)
