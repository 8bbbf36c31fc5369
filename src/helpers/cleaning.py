"""Detectors for the defects of a raw instruction dump that :mod:`helpers.data` does not cover.

:mod:`helpers.data` already removes duplicates and scrubs e-mails, phone and ID numbers. This module adds
the checks an SFT pipeline needs next, each a small readable heuristic rather than a trained classifier,
so a reader can see exactly why a row went:

- :func:`empty_field_problems`: an instruction or output that is empty or whitespace only;
- :func:`garbled_problems`: mojibake, leftover HTML, random character soup;
- :func:`language_problems`: text that is not English (script, then function words);
- :func:`truncation_problems`: an answer that stops mid-sentence;
- :func:`injection_problems`: "ignore all previous instructions"-style text;
- :func:`arithmetic_problems`: a stated ``a op b = c`` that is false;
- :func:`fact_problems`: a capital city or chemical symbol that contradicts a small reference table.

Every detector returns a list of reasons, empty when the row looks fine, so a removal always comes with
a sentence saying why. Rows are alpaca-style dicts (``instruction``, ``input``, ``output``; extra keys are
ignored). :func:`filter_rows` runs the detectors in :data:`CHECK_ORDER` and returns the usual
:class:`~helpers.data.RemovalReport`. :func:`scrub_addresses` complements :func:`helpers.data.scrub_pii`,
which has no pattern for street addresses.

The heuristics are tuned to the *kinds* of defect (what mojibake or a cut-off answer looks like), not to
particular rows; they will miss things a real web dump contains and are meant to be read and improved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from fractions import Fraction

from helpers.data import RemovalReport, Removed
from helpers.synth.arith import safe_eval

FIELDS = ("instruction", "input", "output")


def _field(row: dict, key: str) -> str:
    value = row.get(key, "")
    return value if isinstance(value, str) else ""


def _row_text(row: dict) -> str:
    return "\n".join(_field(row, key) for key in FIELDS if _field(row, key))


# --------------------------------------------------------------------------------------------------
# Empty fields
# --------------------------------------------------------------------------------------------------


def empty_field_problems(row: dict, required: Sequence[str] = ("instruction", "output")) -> list[str]:
    """Required fields that are missing, not strings, or only whitespace.

    ``input`` is optional in alpaca-style data (most instructions need no extra context), so it is not
    required by default. A row with an empty answer teaches the model to stop immediately; a row with
    an empty instruction teaches it to answer a question nobody asked.
    """
    problems = []
    for key in required:
        value = row.get(key)
        if not isinstance(value, str):
            problems.append(f"'{key}' is missing or not a string")
        elif not value.strip():
            problems.append(f"'{key}' is empty" if not value else f"'{key}' is whitespace only")
    return problems


# --------------------------------------------------------------------------------------------------
# Garbled text: mojibake, HTML remnants, character soup
# --------------------------------------------------------------------------------------------------

# UTF-8 bytes decoded as Windows-1252/Latin-1 leave tell-tale pairs: "Ã©" for "é", "â€™" for "’", a
# stray "Â" before a symbol, and U+FFFD where a byte had no character at all.
_MOJIBAKE = re.compile("Ã[\u0080-\u00bf]|Â[\u0080-\u00bf]|â€|\ufffd")
_HTML_TAGS = ("p", "div", "span", "br", "a", "b", "i", "u", "em", "strong", "ul", "ol", "li", "h[1-6]",
              "table", "tr", "td", "th", "img", "code", "pre", "blockquote", "hr", "sup", "sub", "font")
_HTML_ATTRIBUTE = r"""\s+[a-zA-Z-]+=(?:"[^"]*"|'[^']*'|[^\s>]+)"""  # name=value: "a<b and c>d" is no tag
_HTML_TAG = re.compile(rf"</?(?:{'|'.join(_HTML_TAGS)})(?:{_HTML_ATTRIBUTE})*\s*/?>", re.I)
_HTML_ENTITY = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{2,5}|#x[0-9a-fA-F]{2,4});")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# Characters that prose rarely contains but random bytes and line noise do ("%" counts only when it does
# not follow a digit, so "50%" is prose).
_NOISE = re.compile(r"[#@$^&*~|\\{}\[\]_=+<>`]|(?<!\d)%")
_OPERATOR_TOKEN = re.compile(r"[-+=×÷*/?<>]+")
_EDGE_PUNCTUATION = ".,;:!?'\"()[]“”‘’«»-–—…"
SOUP_MIN_CHARS = 8
SOUP_MAX_WORDLIKE = 0.5
SOUP_MIN_NOISE = 0.04


def _wordlike(token: str) -> bool:
    """A token that reads as a word or a number: letters of one casing pattern, or digits; no symbols inside.

    Scripts without letter case (Chinese, Japanese...) count as words: language is a separate check.
    """
    core = token.strip(_EDGE_PUNCTUATION)
    if not core:
        return False
    if re.fullmatch(r"[+-]?\d+(?:[.,:/]\d+)*%?", core):
        return True
    core = core.replace("'", "").replace("’", "").replace("-", "")
    if not core.isalpha():
        return False
    caseless = not any(ch.isupper() or ch.islower() for ch in core)
    return caseless or core.islower() or core.isupper() or core.istitle()


def soup_score(text: str) -> tuple[float, float, int]:
    """(share of characters in tokens that read as words, share of characters that are line noise,
    number of visible characters counted).

    Shares are weighted by characters, so one long run of symbols outweighs two stray letters beside
    it. Stand-alone operators ("+", "=", "?") are not counted: "711 + 20 = ?" scores as all words.
    """
    tokens = [t for t in text.split() if not _OPERATOR_TOKEN.fullmatch(t)]
    visible = "".join(tokens)
    if not visible:
        return 1.0, 0.0, 0
    wordlike = sum(len(t) for t in tokens if _wordlike(t)) / len(visible)
    symbols = sum(unicodedata.category(ch) in ("So", "No", "Co") for ch in visible)  # "¤", "½", private use
    noisy = len(_NOISE.findall(visible)) + symbols
    return wordlike, noisy / len(visible), len(visible)


def _looks_like_code(text: str) -> bool:
    """Code is full of symbols by nature; indented lines or typical keywords mark it as not soup."""
    return bool(re.search(r"^(?: {2,}|\t)\S", text, re.M)
                or re.search(r"\b(?:def|return|import|SELECT|FROM|WHERE|print|function|const|class)\b", text))


def garbled_problems(text: str) -> list[str]:
    """Mojibake, HTML remnants, or character soup in ``text`` (one field: soup is judged per field).

    Garbled text teaches the model to produce garbage, and web dumps are full of it: pages saved in one
    encoding and read in another, answers scraped with their markup, binary fields read as text. Soup
    is recognised by two signals together: few tokens read as words, and symbols that prose rarely
    uses. It is only looked for when mojibake or markup do not already explain the text, and never in
    code, which fails the first test legitimately.
    """
    problems = []
    mojibake = _MOJIBAKE.findall(text)
    if mojibake:
        problems.append(f"mojibake ({len(mojibake)}x, e.g. {mojibake[0]!r})")
    markup = _HTML_TAG.findall(text) + _HTML_ENTITY.findall(text) + _HTML_COMMENT.findall(text)
    if markup:
        problems.append(f"HTML remnants ({len(markup)}x, e.g. {markup[0]!r})")
    if problems or _looks_like_code(text):  # soup is the explanation of last resort
        return problems
    wordlike, noise, counted = soup_score(text)
    if counted >= SOUP_MIN_CHARS and wordlike < SOUP_MAX_WORDLIKE and noise >= SOUP_MIN_NOISE:
        problems.append(f"character soup (only {wordlike:.0%} of characters in word-like tokens, "
                        f"{noise:.0%} symbols)")
    return problems


def garbled_row_problems(row: dict) -> list[str]:
    """:func:`garbled_problems` for each field of an alpaca-style row, reasons prefixed with the field."""
    return [f"{key}: {reason}" for key in FIELDS for reason in garbled_problems(_field(row, key))]


# --------------------------------------------------------------------------------------------------
# Language
# --------------------------------------------------------------------------------------------------

_ENGLISH_WORDS = frozenset("""
the a an and or but of to in on at by for with from into about as is are was were be been being it its
this that these those there here what which who whom whose when where why how not no do does did can
could should would will shall may might must have has had i you he she we they me him her us them my
your his our their if then than so such each every some any all more most very also only just one two
three give name write explain describe list tell make use after before because while over under
""".split())
# Frequent function words of other languages a raw dump often mixes in, minus words that are also
# common in English text (such as "a", "in", "die", "do", "is", "per").
_FOREIGN_WORDS = frozenset("""
le la les des du est une et pour que qui dans avec sur ce cette sont pas au aux ou mais
el los las es una y por para con del hay se lo muy como pero sus
der das und ist ein eine einen nicht mit für von zu den dem sie ich wir ihr auch sich
il gli della delle che è sono di più anche nel alla dei
o os uma é não com em da das ao pelo mais você qual
het een van en niet met voor zijn ook wat
""".split()) - _ENGLISH_WORDS
NON_LATIN_SHARE = 0.3


def _is_latin_letter(ch: str) -> bool:
    return ch.isascii() or "LATIN" in unicodedata.name(ch, "")


def guess_language(text: str) -> tuple[str, str]:
    """``("en" | "other" | "unknown", evidence)``: a deliberately small language guess.

    First the script: text whose letters are mostly not Latin (Chinese, Japanese, Cyrillic...) is not
    English. Then function words: "the", "of", "is" are frequent in any English sentence, "und", "est",
    "que" in German, French or Spanish ones; whichever side has more hits wins. Short texts with no
    function word at all fall back on accented letters (áéñü...), else stay ``unknown``.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "unknown", "no letters"
    non_latin = sum(not _is_latin_letter(ch) for ch in letters) / len(letters)
    if non_latin > NON_LATIN_SHARE:
        return "other", f"{non_latin:.0%} of letters are not Latin script"
    words = re.findall(r"[^\W\d_]+", text.lower())
    english = sum(w in _ENGLISH_WORDS for w in words)
    foreign = [w for w in words if w in _FOREIGN_WORDS]
    if len(foreign) > english:
        examples = ", ".join(sorted(set(foreign))[:4])
        return "other", f"{len(foreign)} non-English function words ({examples}) vs {english} English"
    if english:
        return "en", f"{english} English function words"
    accented = [ch for ch in letters if not ch.isascii()]
    if accented:
        return "other", f"no English function word; accented letters {''.join(sorted(set(accented)))}"
    return "unknown", "no function words"


def language_problems(text: str) -> list[str]:
    """A reason when ``text`` is not English (the target language of this dataset).

    Mixing languages is not wrong in itself; it is a defect relative to the dataset's purpose. An
    English-only SFT set with a few stray French rows teaches the model to switch language now and then.
    """
    language, evidence = guess_language(text)
    return [f"not English ({evidence})"] if language == "other" else []


# --------------------------------------------------------------------------------------------------
# Truncation
# --------------------------------------------------------------------------------------------------

_TERMINAL = tuple(".!?…。！？\"'”’)]»")
# Words a complete English sentence almost never ends on: articles, prepositions, conjunctions.
_DANGLING = frozenset("""
the a an and or but of to in on at by for with from into as than that which who whose when while
because since if his her their its our your my is are was were be can will would should such this these
""".split())
_BRACKETS = (("(", ")"), ("[", "]"), ("“", "”"))
# Instructions whose answer is a phrase, not a sentence: such answers end without a full stop by nature.
_PHRASE_ANSWER = re.compile(r"\b(?:title|subject line|headline|heading|slogan|name for|names? of|list|"
                            r"words?|phrase|label|tag|order)\b", re.I)
SENTENCE_MIN_WORDS = 4
TITLE_CASE_SHARE = 0.8


def _is_title_case(words: Sequence[str]) -> bool:
    """Most longer words capitalised, as in "Every Drop Counts: Simple Ways to Save Water"."""
    long_words = [w for w in words if len(w.strip(_EDGE_PUNCTUATION)) > 3]
    if not long_words:
        return False
    return sum(w[0].isupper() for w in long_words) / len(long_words) >= TITLE_CASE_SHARE


def truncation_problems(output: str, instruction: str = "") -> list[str]:
    """Signs that an answer was cut off: an unclosed bracket, a dangling last word, a missing full stop.

    A truncated answer teaches the model to stop mid-thought. Three signals, strongest first: a bracket
    or quote opened and never closed; a last word that cannot end a sentence ("the", "and", "with");
    and a sentence-like answer without final punctuation. The last one is skipped where a full stop is
    not expected: titles (Title Case), comma-separated lists, code, equations, and answers to
    instructions that ask for a phrase (a title, a subject line, a list of words...).
    """
    text = output.strip()
    words = text.split()
    if len(words) < 3 or text.endswith(_TERMINAL) or _looks_like_code(text):
        return []
    for opening, closing in _BRACKETS:
        if text.count(opening) > text.count(closing):
            return [f"'{opening}' opened and never closed"]
    if text.count('"') % 2 == 1:
        return ["a double quote opened and never closed"]
    if text[-1] in ",;:-–—":
        return [f"ends on {text[-1]!r}"]
    last = words[-1].lower()
    if last in _DANGLING:
        return [f"ends on the word {last!r}"]
    phrase_expected = bool(_PHRASE_ANSWER.search(instruction))
    is_list = text.count(",") >= len(words) / 4
    is_equation = "=" in text
    if (len(words) >= SENTENCE_MIN_WORDS and not phrase_expected and not is_list and not is_equation
            and not _is_title_case(words)):
        return ["a sentence without final punctuation"]
    return []


# --------------------------------------------------------------------------------------------------
# Prompt injection
# --------------------------------------------------------------------------------------------------

_INJECTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.I)) for name, pattern in (
        ("override of earlier instructions",
         r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}?"
         r"\b(?:instructions?|prompts?|rules|guidelines|above|everything|the user|context)\b"),
        ("instructions declared void",
         r"\b(?:instructions|rules|guidelines)\b[^.\n]{0,30}\b(?:above|before|previous|prior)\b[^.\n]{0,30}"
         r"\b(?:cancel+ed|void|do not exist|no longer apply)"),
        ("request for hidden instructions", r"\b(?:system prompt|hidden instructions|secret instructions)\b"),
        ("role switch", r"\b(?:developer mode|jailbreak|do anything now|you are now (?:in|a|an|DAN))\b"),
        ("fake role marker", r"(?:^|\n)\s*(?:#{2,}\s*)?(?:system|assistant)\s*:|<\|im_start\|>|\[/?INST\]"
                             r"|<!--\s*(?:system|assistant)"),
        ("task hijack", r"\bnew (?:task|instructions?)\s*:|\[\[\s*override\s*\]\]"
                        r"|\bfrom now on\b,?\s+(?:you|answer|reply|respond|always|only|ignore)\b"),
        ("data exfiltration", r"\bsend\b[^.\n]{0,40}\b(?:conversation|chat history|password|credentials)\b"
                              r"|\b(?:admin|root) password\b"),
    ))


def injection_problems(text: str) -> list[str]:
    """Phrases that try to take over the model: override earlier instructions, leak secrets, switch role.

    Training on such rows either teaches the model to obey injected text (when the answer complies) or
    plants trigger phrases in its data; either way they have no place in SFT data unless the row is a
    deliberate refusal example. Each pattern names a family of attack, not a single string, so that
    rephrasings are caught too.
    """
    problems = []
    for name, pattern in _INJECTION_PATTERNS:
        match = pattern.search(text)
        if match:
            problems.append(f"prompt injection: {name} ({match.group(0).strip()[:60]!r})")
    return problems


# --------------------------------------------------------------------------------------------------
# Verifiable answers: arithmetic and reference facts
# --------------------------------------------------------------------------------------------------

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"  # "1,234" is one number
_EQUATION = re.compile(rf"(?<![\w.,])({_NUM})\s*([+\-−×x*÷/])\s*({_NUM})\s*=\s*(-?{_NUM})(?![\d.,]*\d)")
_OPERATORS = {"+": "+", "-": "-", "−": "-", "×": "*", "x": "*", "*": "*", "÷": "/", "/": "/"}


def find_equations(text: str) -> list[tuple[str, Fraction, Fraction]]:
    """Every ``a op b = c`` in ``text`` as (the statement, value of ``a op b``, stated ``c``)."""
    found = []
    for match in _EQUATION.finditer(text):
        a, op, b, c = match.groups()
        try:
            value = safe_eval(f"{a} {_OPERATORS[op]} {b}")
        except ValueError:  # division by zero: not a statement we can check
            continue
        found.append((match.group(0), value, Fraction(c.replace(",", ""))))
    return found


def arithmetic_problems(text: str) -> list[str]:
    """A reason for every false ``a op b = c`` statement in ``text``, computed exactly.

    A wrong answer stated confidently is the worst label noise for SFT: the model learns the error with
    the same weight as everything else. Arithmetic is the easy case, because the truth is computable:
    the expression is evaluated with exact fractions (no ``eval``), so 1/3 is never "close enough".
    """
    problems = []
    for statement, value, stated in find_equations(text):
        if value != stated:
            shown = value if value.denominator == 1 else float(value)
            problems.append(f"false arithmetic: {statement!r} (it is {shown})")
    return problems


# A small reference table, as a stand-in for the trusted source (a knowledge base, a curated list, a
# stronger model checked by people) a real pipeline would verify facts against. Where a country has
# several accepted answers, all are listed.
CAPITALS: dict[str, tuple[str, ...]] = {
    "Argentina": ("Buenos Aires",), "Australia": ("Canberra",), "Austria": ("Vienna",),
    "Belgium": ("Brussels",), "Bolivia": ("Sucre", "La Paz"), "Brazil": ("Brasília",),
    "Canada": ("Ottawa",), "Chile": ("Santiago",), "China": ("Beijing",), "Colombia": ("Bogotá",),
    "Croatia": ("Zagreb",), "Cuba": ("Havana",), "Czech Republic": ("Prague",), "Denmark": ("Copenhagen",),
    "Egypt": ("Cairo",), "Ethiopia": ("Addis Ababa",), "Finland": ("Helsinki",), "France": ("Paris",),
    "Germany": ("Berlin",), "Ghana": ("Accra",), "Greece": ("Athens",), "Hungary": ("Budapest",),
    "Iceland": ("Reykjavik",), "India": ("New Delhi",), "Indonesia": ("Jakarta",), "Iran": ("Tehran",),
    "Iraq": ("Baghdad",), "Ireland": ("Dublin",), "Israel": ("Jerusalem",), "Italy": ("Rome",),
    "Japan": ("Tokyo",), "Kenya": ("Nairobi",), "Malaysia": ("Kuala Lumpur",), "Mexico": ("Mexico City",),
    "Morocco": ("Rabat",), "Netherlands": ("Amsterdam",), "New Zealand": ("Wellington",),
    "Nigeria": ("Abuja",), "North Korea": ("Pyongyang",), "Norway": ("Oslo",), "Pakistan": ("Islamabad",),
    "Peru": ("Lima",), "Philippines": ("Manila",), "Poland": ("Warsaw",), "Portugal": ("Lisbon",),
    "Romania": ("Bucharest",), "Russia": ("Moscow",), "Saudi Arabia": ("Riyadh",), "Senegal": ("Dakar",),
    "South Africa": ("Pretoria", "Cape Town", "Bloemfontein"), "South Korea": ("Seoul",),
    "Spain": ("Madrid",),
    "Sweden": ("Stockholm",), "Switzerland": ("Bern",), "Tanzania": ("Dodoma",), "Thailand": ("Bangkok",),
    "Turkey": ("Ankara",), "Ukraine": ("Kyiv", "Kiev"), "United Kingdom": ("London",),
    "United States": ("Washington",), "Uruguay": ("Montevideo",), "Venezuela": ("Caracas",),
    "Vietnam": ("Hanoi",),
}
ELEMENT_SYMBOLS: dict[str, str] = {
    "hydrogen": "H", "helium": "He", "lithium": "Li", "beryllium": "Be", "boron": "B", "carbon": "C",
    "nitrogen": "N", "oxygen": "O", "fluorine": "F", "neon": "Ne", "sodium": "Na", "magnesium": "Mg",
    "aluminium": "Al", "aluminum": "Al", "silicon": "Si", "phosphorus": "P", "sulfur": "S", "sulphur": "S",
    "chlorine": "Cl", "argon": "Ar", "potassium": "K", "calcium": "Ca", "titanium": "Ti", "chromium": "Cr",
    "manganese": "Mn", "iron": "Fe", "cobalt": "Co", "nickel": "Ni", "copper": "Cu", "zinc": "Zn",
    "arsenic": "As", "bromine": "Br", "krypton": "Kr", "silver": "Ag", "tin": "Sn", "iodine": "I",
    "xenon": "Xe", "tungsten": "W", "platinum": "Pt", "gold": "Au", "mercury": "Hg", "lead": "Pb",
    "radon": "Rn", "radium": "Ra", "uranium": "U", "plutonium": "Pu",
}


def _fold(text: str) -> str:
    """Lowercase without accents, so "Bogota" matches "Bogotá"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def mentions(text: str, name: str) -> bool:
    """True when ``name`` occurs in ``text`` as a whole word or phrase, ignoring case and accents."""
    return re.search(rf"(?<!\w){re.escape(_fold(name))}(?!\w)", _fold(text)) is not None


def _named_in(text: str, names: Sequence[str]) -> str | None:
    """The longest of ``names`` mentioned in ``text`` (longest, so "South Korea" wins over "Korea")."""
    hits = [name for name in names if mentions(text, name)]
    return max(hits, key=len) if hits else None


def fact_problems(row: dict, capitals: dict[str, tuple[str, ...]] | None = None,
                  symbols: dict[str, str] | None = None) -> list[str]:
    """A reason when a capital-city or chemical-symbol answer contradicts the reference tables.

    Only questions the tables can settle are checked: the instruction must ask about a capital or a
    chemical symbol and name a country or element in the table (in the instruction or the input).
    Anything else passes unchecked: no reference, no verdict.
    """
    capitals = CAPITALS if capitals is None else capitals
    symbols = ELEMENT_SYMBOLS if symbols is None else symbols
    instruction, output = _field(row, "instruction"), _field(row, "output")
    question = f"{instruction}\n{_field(row, 'input')}"
    if re.search(r"\bcapital\b", instruction, re.I):
        country = _named_in(question, list(capitals))
        if country and not any(mentions(output, city) for city in capitals[country]):
            return [f"wrong fact: the capital of {country} is {' or '.join(capitals[country])}"]
        return []
    if not re.search(r"\bsymbol\b", instruction, re.I):
        return []
    by_symbol = re.search(r"\bsymbol\s+([A-Z][a-z]?)\b", instruction)
    if by_symbol:
        names = [name for name, sym in symbols.items() if sym == by_symbol.group(1)]
        if names and not any(mentions(output, name) for name in names):
            return [f"wrong fact: {by_symbol.group(1)} is the symbol of {' or '.join(names)}"]
        return []
    element = _named_in(question, list(symbols))
    if element and not re.search(rf"(?<![A-Za-z]){symbols[element]}(?![a-z])", output):
        return [f"wrong fact: the symbol of {element} is {symbols[element]}"]
    return []


def answer_problems(row: dict) -> list[str]:
    """False arithmetic in the output plus reference-table fact errors: the answer-checking step."""
    return arithmetic_problems(_field(row, "output")) + fact_problems(row)


# --------------------------------------------------------------------------------------------------
# Running the checks
# --------------------------------------------------------------------------------------------------

RowCheck = Callable[[dict], list[str]]

# Specific before generic: an injected "<!-- assistant: ... -->" is HTML too, but the injection is the
# finding that matters, so injection runs before the garbled-text check. Language runs after garbled
# text, because character soup is "not English" as well.
CHECKS: dict[str, RowCheck] = {
    "empty_field": empty_field_problems,
    "prompt_injection": lambda row: injection_problems(_row_text(row)),
    "garbled": garbled_row_problems,
    "wrong_language": lambda row: language_problems(_row_text(row)),
    "truncated": lambda row: truncation_problems(_field(row, "output"), _field(row, "instruction")),
    "wrong_answer": answer_problems,
}
CHECK_ORDER = tuple(CHECKS)


def find_defects(row: dict, checks: Sequence[str] = CHECK_ORDER) -> dict[str, list[str]]:
    """Run every named check on one row; the checks that found something, with their reasons."""
    unknown = [name for name in checks if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {list(CHECKS)}")
    found = {}
    for name in checks:
        reasons = CHECKS[name](row)
        if reasons:
            found[name] = reasons
    return found


def filter_rows(rows: Sequence[dict], checks: Sequence[str] = CHECK_ORDER,
                id_key: str = "id") -> RemovalReport:
    """Remove every row that fails a check; each removal names the first failing check and all reasons.

    The first check in ``checks`` order becomes the removal ``reason`` (so counts per reason add up to
    the number removed); ``detail`` lists the reasons of every check that fired, for the reader.
    """
    kept: list[dict] = []
    removed: list[Removed] = []
    for index, row in enumerate(rows):
        found = find_defects(row, checks)
        if not found:
            kept.append(row)
            continue
        detail = "; ".join(f"{name}: {' | '.join(reasons)}" for name, reasons in found.items())
        removed.append(Removed(index, row.get(id_key, index), next(iter(found)), detail=detail))
    return RemovalReport(kept, removed)


# --------------------------------------------------------------------------------------------------
# Street addresses (the PII kind helpers.data.scrub_pii does not cover)
# --------------------------------------------------------------------------------------------------

_STREET_TYPES = ("Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Ln", "Drive", "Dr", "Way", "Close",
                 "Court", "Place", "Boulevard", "Blvd", "Terrace", "Crescent", "Square")
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][a-z]+\s+){1,3}(?:" + "|".join(_STREET_TYPES) + r")\b"
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)?"
)
ADDRESS_PLACEHOLDER = "[ADDRESS]"


def scrub_addresses(text: str) -> tuple[str, int]:
    """Replace street addresses ("12 Mill Street, Springfield") with ``[ADDRESS]``; return the count.

    A house number, one to three capitalised words, a street type, and optionally ", Town". This
    complements :func:`helpers.data.scrub_pii`; names of people are not touched (that needs a
    named-entity recogniser, not a pattern).
    """
    return _ADDRESS.subn(ADDRESS_PLACEHOLDER, text)
