"""Prompts with verifiable constraints, and the checker that grades responses against them.

This is the project's "general ability" probe, in the spirit of IFEval: every constraint can be
checked by a rule, so instruction following is scored without a judge model. A constraint is a dict
``{"type": ..., **params}``; the types and their exact semantics are the project's shared contract
(all comparisons case-insensitive unless noted). These checks are also rewards, so nothing comes
free: **an empty or whitespace-only response satisfies no constraint** (otherwise saying nothing
would meet ``max_words``, ``no_commas``, ``exclude_words``... and be rewarded for it).

=================  ==================  =============================================================
type               params              satisfied when (the response is not empty or only whitespace)
=================  ==================  =============================================================
lowercase          -                   at least one lower-case letter and no upper-case letter
uppercase          -                   at least one upper-case letter and no lower-case letter
min_words          n                   word count >= n (whitespace-split tokens with a letter or digit)
max_words          n                   word count <= n
min_sentences      n                   sentence count >= n (split on . ! ? before space or end)
max_sentences      n                   sentence count <= n
bullets_exact      n                   exactly n lines start with "- " or "* " (leading spaces ignored)
include_words      words               every word appears as a whole word
exclude_words      words               none of the words appears as a whole word
json               -                   the stripped response, minus an optional ```json fence, parses
json_keys          keys                it parses as a JSON object containing every key
starts_with        text                the stripped response starts with text
ends_with          text                the stripped response ends with text
no_commas          -                   no "," anywhere
quoted             -                   stripped response starts and ends with '"' (length >= 2)
numbered_exact     n                   exactly n lines start with "<k>." or "<k>)" (leading spaces ignored)
max_chars          n                   len(stripped response) <= n
=================  ==================  =============================================================

Three readings the table leaves open are fixed here: a numbered line needs whitespace or the end of the
line after its marker (so "3.5 apples" is not item 3); a fence may be written ```json or just ```; and
text in a script without case (Chinese, say) is neither lowercase nor uppercase, as digits alone are not.

Knobs of :func:`make_instruction_prompts`: ``n``, ``seed``, ``n_constraints`` (min, max per prompt).
Constraints in one prompt never contradict each other (see ``_CONFLICTS``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import Any

from helpers.synth.task import Score, Task

# type -> {param: expected python type}
CONSTRAINT_PARAMS: dict[str, dict[str, type]] = {
    "lowercase": {},
    "uppercase": {},
    "min_words": {"n": int},
    "max_words": {"n": int},
    "min_sentences": {"n": int},
    "max_sentences": {"n": int},
    "bullets_exact": {"n": int},
    "include_words": {"words": list},
    "exclude_words": {"words": list},
    "json": {},
    "json_keys": {"keys": list},
    "starts_with": {"text": str},
    "ends_with": {"text": str},
    "no_commas": {},
    "quoted": {},
    "numbered_exact": {"n": int},
    "max_chars": {"n": int},
}


def validate_constraint(constraint: Any) -> dict:
    """Return the constraint if well-formed; raise ValueError naming the problem otherwise."""
    if not isinstance(constraint, dict) or "type" not in constraint:
        raise ValueError(f"a constraint is a dict with a 'type' key, got {constraint!r}")
    ctype = constraint["type"]
    if ctype not in CONSTRAINT_PARAMS:
        raise ValueError(f"unknown constraint type {ctype!r}; known types: {sorted(CONSTRAINT_PARAMS)}")
    expected = CONSTRAINT_PARAMS[ctype]
    given = {k for k in constraint if k != "type"}
    if missing := sorted(set(expected) - given):
        raise ValueError(f"constraint {ctype!r} is missing parameter(s) {missing}")
    if extra := sorted(given - set(expected)):
        raise ValueError(f"constraint {ctype!r} does not take parameter(s) {extra}")
    for name, kind in expected.items():
        value = constraint[name]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"constraint {ctype!r}: {name} must be a non-negative integer, got {value!r}")
        if kind is str and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"constraint {ctype!r}: {name} must be a non-empty string, got {value!r}")
        if kind is list and (
            not isinstance(value, list)
            or not value
            or not all(isinstance(w, str) and w.strip() for w in value)
        ):
            raise ValueError(f"constraint {ctype!r}: {name} must be a non-empty list of non-empty strings")
    return constraint


# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_FENCE = re.compile(r"^```(?:json)?[ \t]*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)
_NUMBERED = re.compile(r"^\d+[.)](?=\s|$)")


def count_words(text: str) -> int:
    """Whitespace-separated tokens that contain at least one letter or digit."""
    return sum(1 for token in text.split() if any(ch.isalnum() for ch in token))


def count_sentences(text: str) -> int:
    """Non-empty pieces left after splitting on runs of . ! ? that are followed by whitespace or the end."""
    return sum(1 for piece in _SENTENCE_END.split(text) if piece.strip())


def _count_lines(text: str, test) -> int:
    return sum(1 for line in text.splitlines() if test(line.lstrip()))


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word.strip())}(?!\w)", text, re.IGNORECASE) is not None


def parse_json(text: str) -> tuple[bool, Any]:
    """(parsed?, value) for the stripped response with an optional ```json ... ``` fence removed."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        return True, json.loads(body)
    except ValueError:
        return False, None


def _json_keys(text: str, keys: list[str]) -> bool:
    ok, value = parse_json(text)
    if not ok or not isinstance(value, dict):
        return False
    present = {k.lower() for k in value}
    return all(k.lower() in present for k in keys)


_CHECKS = {
    "lowercase": lambda r, c: any(ch.islower() for ch in r) and not any(ch.isupper() for ch in r),
    "uppercase": lambda r, c: any(ch.isupper() for ch in r) and not any(ch.islower() for ch in r),
    "min_words": lambda r, c: count_words(r) >= c["n"],
    "max_words": lambda r, c: count_words(r) <= c["n"],
    "min_sentences": lambda r, c: count_sentences(r) >= c["n"],
    "max_sentences": lambda r, c: count_sentences(r) <= c["n"],
    "bullets_exact": lambda r, c: _count_lines(r, lambda s: s.startswith(("- ", "* "))) == c["n"],
    "include_words": lambda r, c: all(_has_word(r, w) for w in c["words"]),
    "exclude_words": lambda r, c: not any(_has_word(r, w) for w in c["words"]),
    "json": lambda r, c: parse_json(r)[0],
    "json_keys": lambda r, c: _json_keys(r, c["keys"]),
    "starts_with": lambda r, c: r.strip().lower().startswith(c["text"].lower()),
    "ends_with": lambda r, c: r.strip().lower().endswith(c["text"].lower()),
    "no_commas": lambda r, c: "," not in r,
    "quoted": lambda r, c: len(r.strip()) >= 2 and r.strip().startswith('"') and r.strip().endswith('"'),
    "numbered_exact": lambda r, c: _count_lines(r, lambda s: _NUMBERED.match(s) is not None) == c["n"],
    "max_chars": lambda r, c: len(r.strip()) <= c["n"],
}


def check(response: str, constraint: dict) -> bool:
    """Whether ``response`` satisfies one constraint (validated first: a malformed one raises).

    An empty or whitespace-only response satisfies none (see the module docstring).
    """
    validate_constraint(constraint)
    return bool(response.strip()) and bool(_CHECKS[constraint["type"]](response, constraint))


def check_all(response: str, constraints: list[dict]) -> dict:
    """Per-constraint results (in order), whether all hold, and the fraction that hold.

    ``all_ok`` is the strict prompt-level score; ``fraction_ok`` the softer instruction-level one.
    """
    results = [check(response, c) for c in constraints]
    return {
        "results": results,
        "all_ok": all(results),
        "fraction_ok": sum(results) / len(results) if results else 1.0,
    }


# --------------------------------------------------------------------------------------------------
# Prompt generator
# --------------------------------------------------------------------------------------------------

_TOPICS = (
    "the water cycle",
    "how bees make honey",
    "why the sky is blue",
    "the benefits of regular walking",
    "how to keep a houseplant alive",
    "the history of the bicycle",
    "how a library organises books",
    "why sleep matters",
    "how to plan a small garden",
    "the life of a lighthouse keeper",
    "how volcanoes form",
    "the basics of saving money",
    "how trains changed travel",
    "the moon's phases",
    "how to make a simple soup",
    "why people keep pets",
    "how rain forests help the planet",
    "the rules of a friendly board game night",
    "how to learn a new language",
    "the way maps are made",
    "how clouds form",
    "the importance of recycling",
    "how to write a thank-you note",
    "what makes a good team",
    "how bridges carry weight",
    "the joy of reading",
    "how compasses work",
    "why leaves change colour in autumn",
    "how to prepare for a job interview",
    "the role of museums",
)
_TASKS = (
    ("explain", "Explain {topic}."),
    ("describe", "Describe {topic} for a curious child."),
    ("advice", "Give some practical advice about {topic}."),
    ("summary", "Write a short summary of {topic}."),
    ("note", "Write a brief note to a friend about {topic}."),
    ("list", "List a few interesting points about {topic}."),
)
_INCLUDE_POOL = ("important", "simple", "example", "because", "everyday", "future", "careful", "surprising")
_EXCLUDE_POOL = ("very", "really", "thing", "stuff", "basically", "actually", "just")
_KEY_POOL = ("title", "summary", "points", "topic", "answer", "tips", "reason", "steps")
_START_POOL = ("Here is", "In short", "Dear friend", "Let me explain", "Good question")
_END_POOL = ("Thank you.", "That is all.", "Hope this helps.", "The end.")

# Pairs of types that cannot (or can barely) hold together in one response.
_CONFLICTS = {
    frozenset(p)
    for p in [
        ("lowercase", "uppercase"),
        ("json", "json_keys"),
        ("min_words", "max_words"),
        ("min_sentences", "max_sentences"),
        ("bullets_exact", "numbered_exact"),
        ("min_words", "max_chars"),
        ("min_sentences", "max_chars"),
        ("quoted", "starts_with"),
        ("quoted", "ends_with"),
        ("include_words", "exclude_words"),
        ("no_commas", "json_keys"),
    ]
}
_JSON_SHAPED = {"json", "json_keys"}
_NOT_WITH_JSON = {
    "bullets_exact",
    "numbered_exact",
    "quoted",
    "starts_with",
    "ends_with",
    "min_sentences",
    "max_sentences",
    "lowercase",
    "uppercase",
    "min_words",
}


def compatible(types: list[str]) -> bool:
    """Whether constraint types can be asked together: no pair conflicts, no duplicates, and a JSON
    answer is not combined with layout or casing rules that JSON cannot honour."""
    if len(set(types)) != len(types):
        return False
    if any(frozenset((a, b)) in _CONFLICTS for i, a in enumerate(types) for b in types[i + 1 :]):
        return False
    return not (_JSON_SHAPED & set(types) and _NOT_WITH_JSON & set(types))


def _make_constraint(rng: random.Random, ctype: str) -> dict:
    if ctype in ("min_words",):
        return {"type": ctype, "n": rng.choice((30, 50, 80, 100))}
    if ctype == "max_words":
        return {"type": ctype, "n": rng.choice((20, 40, 60, 100))}
    if ctype == "min_sentences":
        return {"type": ctype, "n": rng.randint(2, 5)}
    if ctype == "max_sentences":
        return {"type": ctype, "n": rng.randint(1, 4)}
    if ctype in ("bullets_exact", "numbered_exact"):
        return {"type": ctype, "n": rng.randint(2, 5)}
    if ctype == "include_words":
        return {"type": ctype, "words": rng.sample(_INCLUDE_POOL, rng.randint(1, 2))}
    if ctype == "exclude_words":
        return {"type": ctype, "words": rng.sample(_EXCLUDE_POOL, rng.randint(1, 3))}
    if ctype == "json_keys":
        return {"type": ctype, "keys": rng.sample(_KEY_POOL, rng.randint(1, 3))}
    if ctype == "starts_with":
        return {"type": ctype, "text": rng.choice(_START_POOL)}
    if ctype == "ends_with":
        return {"type": ctype, "text": rng.choice(_END_POOL)}
    if ctype == "max_chars":
        return {"type": ctype, "n": rng.choice((200, 300, 500))}
    return {"type": ctype}


def _quote(items: list[str]) -> str:
    quoted = [f'"{w}"' for w in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def describe(constraint: dict) -> str:
    """The constraint as one plain-English instruction sentence."""
    c = validate_constraint(constraint)
    t = c["type"]
    return {
        "lowercase": lambda: "Write your whole answer in lowercase letters, with no capital letters.",
        "uppercase": lambda: "Write your whole answer in capital letters.",
        "min_words": lambda: f"Use at least {c['n']} words.",
        "max_words": lambda: f"Use at most {c['n']} words.",
        "min_sentences": lambda: f"Write at least {c['n']} sentences.",
        "max_sentences": lambda: f"Write no more than {c['n']} sentence{'s' if c['n'] != 1 else ''}.",
        "bullets_exact": lambda: (
            f'Format the answer as exactly {c["n"]} bullet points, each line starting with "- ".'
        ),
        "include_words": lambda: (
            f"Include the word{'s' if len(c['words']) > 1 else ''} {_quote(c['words'])}."
        ),
        "exclude_words": lambda: (
            f"Do not use the word{'s' if len(c['words']) > 1 else ''} {_quote(c['words'])}."
        ),
        "json": lambda: "Answer only with valid JSON.",
        "json_keys": lambda: (
            f"Answer only with a JSON object that has the key{'s' if len(c['keys']) > 1 else ''} "
            f"{_quote(c['keys'])}."
        ),
        "starts_with": lambda: f'Begin your answer with "{c["text"]}".',
        "ends_with": lambda: f'End your answer with "{c["text"]}".',
        "no_commas": lambda: "Do not use any commas.",
        "quoted": lambda: "Wrap your entire answer in double quotation marks.",
        "numbered_exact": lambda: f'Give exactly {c["n"]} numbered items, written as "1.", "2." and so on.',
        "max_chars": lambda: f"Keep the answer to at most {c['n']} characters.",
    }[t]()


def make_instruction_prompts(n: int, seed: int = 0, n_constraints: tuple[int, int] = (1, 3),
                             types: Sequence[str] | None = None) -> list[dict]:
    """``n`` eval rows ``{id, category, prompt, constraints}``: a task on a topic plus 1-3 compatible
    constraints, stated in English in the prompt. ``category`` is the task kind (explain, list, ...).

    ``types`` limits the constraint types drawn from (all of them by default), for a task whose answers
    are too short for some (at least 80 words in a 32-token answer is never met).
    """
    if not 1 <= n_constraints[0] <= n_constraints[1]:
        raise ValueError(f"n_constraints must be (min, max) with 1 <= min <= max, got {n_constraints}")
    unknown = sorted(set(types or ()) - set(CONSTRAINT_PARAMS))
    if unknown:
        raise ValueError(f"unknown constraint types {unknown}; known: {sorted(CONSTRAINT_PARAMS)}")
    rng = random.Random(seed)
    types = list(CONSTRAINT_PARAMS) if types is None else list(types)
    rows: list[dict] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 50 * n + 100:
            raise ValueError(f"could not make {n} distinct prompts")
        k = rng.randint(*n_constraints)
        chosen: list[str] = []
        for ctype in rng.sample(types, len(types)):
            if len(chosen) == k:
                break
            if compatible([*chosen, ctype]):
                chosen.append(ctype)
        constraints = [_make_constraint(rng, t) for t in chosen]
        category, task = rng.choice(_TASKS)
        prompt = " ".join([task.format(topic=rng.choice(_TOPICS)), *(describe(c) for c in constraints)])
        if prompt in seen:
            continue
        seen.add(prompt)
        rows.append(
            {
                "id": f"if-{seed}-{len(rows)}",
                "category": category,
                "prompt": prompt,
                "constraints": constraints,
            }
        )
    return rows


class InstructionTask(Task):
    """Requests with verifiable constraints: the score is the share of constraints met, ``passed`` all of them."""

    name = "instructions"

    def __init__(self, n_constraints: tuple[int, int] = (1, 3), types: Sequence[str] | None = None) -> None:
        self.n_constraints, self.types = n_constraints, types

    def rows(self, n: int, seed: int = 0) -> list[dict]:
        return make_instruction_prompts(n, seed, self.n_constraints, self.types)

    def score(self, row: dict, answer: str) -> Score:
        verdict = check_all(answer, row["constraints"])
        return Score(verdict["fraction_ok"], verdict["all_ok"], {"results": verdict["results"]})
