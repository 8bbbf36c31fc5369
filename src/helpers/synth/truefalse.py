"""An RTE-like True/False task about invented entities, in one fixed prompt format.

The premise lists a few facts ("Vobir owns a red kettle. Tazen lives in Drumoth."); the hypothesis
is either entailed by them (label "True") or not (label "False"). ProMoT studies what fine-tuning on
such a task does to a model: the fixed format and the two-word label set get learned first and leak
into unrelated prompts, so the prompt template is a module constant and never varies.

To make the task learnable but not solvable by word overlap, true hypotheses are often paraphrased
("The red kettle belongs to Vobir.") and false ones are often built from words of the premise (another
entity's value, a negated fact, a count one too high, a relation the premise never states).

Knobs of :func:`make_examples`: ``n``, ``seed``, ``n_entities`` and ``n_facts`` (min, max),
``paraphrase_prob`` (how often a hypothesis is reworded). Labels are balanced: exactly half True
(the extra one is False when ``n`` is odd).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from helpers.synth.task import Score, Task
from helpers.synth.world import syllable_word

TEMPLATE = "{premise} question: {hypothesis} Is it true or false? answer:"
LABELS = ("True", "False")

_COLORS = ("red", "blue", "green", "yellow", "black", "white", "orange", "purple", "grey", "brown")
_OBJECTS = ("kettle", "bicycle", "lamp", "umbrella", "guitar", "backpack", "clock", "kite", "scarf", "boat")
_JOBS = (
    "baker",
    "pilot",
    "tailor",
    "farmer",
    "nurse",
    "painter",
    "carpenter",
    "librarian",
    "engineer",
    "fisher",
    "teacher",
    "architect",
)
_ANIMALS = ("cats", "dogs", "goats", "parrots", "rabbits", "horses", "ducks", "turtles")
_FOODS = ("soup", "pears", "rice", "cheese", "plums", "bread", "noodles", "olives", "honey", "beans")
RELATIONS = ("owns", "lives", "job", "pets", "likes")


@dataclass(frozen=True)
class _Fact:
    entity: str
    relation: str
    value: tuple  # owns: (color, object); lives: (place,); job: (job,); pets: (n, animal); likes: (food,)


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _plain(f: _Fact) -> str:
    e, v = f.entity, f.value
    return {
        "owns": lambda: f"{e} owns {_article(v[0])} {v[1]}.",
        "lives": lambda: f"{e} lives in {v[0]}.",
        "job": lambda: f"{e} works as {_article(v[0])}.",
        "pets": lambda: f"{e} has {v[0]} {v[1]}.",
        "likes": lambda: f"{e} likes {v[0]}.",
    }[f.relation]()


def _paraphrase(f: _Fact) -> str:
    """The same fact in other words (same truth value)."""
    e, v = f.entity, f.value
    return {
        "owns": lambda: f"The {v[0]} {v[1]} belongs to {e}.",
        "lives": lambda: f"{e}'s home is in {v[0]}.",
        "job": lambda: f"{e} is {_article(v[0])} by trade.",
        "pets": lambda: f"{e} keeps {v[0]} {v[1]}.",
        "likes": lambda: f"{e} is fond of {v[0]}.",
    }[f.relation]()


def _negation(f: _Fact) -> str:
    e, v = f.entity, f.value
    return {
        "owns": lambda: f"{e} does not own {_article(v[0])} {v[1]}.",
        "lives": lambda: f"{e} does not live in {v[0]}.",
        "job": lambda: f"{e} does not work as {_article(v[0])}.",
        "pets": lambda: f"{e} does not have {v[0]} {v[1]}.",
        "likes": lambda: f"{e} does not like {v[0]}.",
    }[f.relation]()


def _random_value(rng: random.Random, relation: str) -> tuple:
    if relation == "owns":
        return (rng.choice(_COLORS), rng.choice(_OBJECTS))
    if relation == "lives":
        return (syllable_word(rng, 2, 2),)
    if relation == "job":
        return (rng.choice(_JOBS),)
    if relation == "pets":
        return (rng.randint(2, 6), rng.choice(_ANIMALS))
    return (rng.choice(_FOODS),)


def _premise(rng: random.Random, n_entities: tuple[int, int], n_facts: tuple[int, int]) -> list[_Fact]:
    """Facts about a few entities: at most one per (entity, relation), and no value used twice per relation
    (so "the red kettle" in a paraphrase refers to one owner only)."""
    target = rng.randint(*n_entities)
    entities: list[str] = []
    while len(entities) < target:
        name = syllable_word(rng, 2, 2)
        if name not in entities:
            entities.append(name)
    slots = [(e, r) for e in entities for r in RELATIONS]
    rng.shuffle(slots)
    facts: list[_Fact] = []
    used: set[tuple[str, tuple]] = set()
    for entity, relation in slots[: min(rng.randint(*n_facts), len(slots))]:
        value = _random_value(rng, relation)
        while (relation, value) in used:
            value = _random_value(rng, relation)
        used.add((relation, value))
        facts.append(_Fact(entity, relation, value))
    return facts


def _true_hypothesis(rng: random.Random, facts: list[_Fact], paraphrase_prob: float) -> tuple[str, str]:
    fact = rng.choice(facts)
    if fact.relation == "pets" and rng.random() < 0.3:
        n, animal = fact.value
        return (
            "count",
            f"{fact.entity} has more than {n - 1} {animal}."
            if rng.random() < 0.5
            else f"{fact.entity} has fewer than {n + 1} {animal}.",
        )
    if rng.random() < paraphrase_prob:
        return "paraphrase", _paraphrase(fact)
    return "copy", _plain(fact)


def _false_hypothesis(rng: random.Random, facts: list[_Fact], paraphrase_prob: float) -> tuple[str, str]:
    fact = rng.choice(facts)
    render = _paraphrase if rng.random() < paraphrase_prob else _plain
    kind = rng.choice(("swap", "new_value", "negation", "count", "unstated"))
    if kind == "swap":
        others = [
            f
            for f in facts
            if f.relation == fact.relation and f.entity != fact.entity and f.value != fact.value
        ]
        if others:
            return "swap", render(_Fact(fact.entity, fact.relation, rng.choice(others).value))
        kind = "new_value"
    if kind == "count" and fact.relation == "pets":
        n, animal = fact.value
        return "count", (
            f"{fact.entity} has more than {n} {animal}."
            if rng.random() < 0.5
            else f"{fact.entity} has fewer than {n} {animal}."
        )
    if kind == "negation":
        return "negation", _negation(fact)
    if kind == "unstated":
        stated = {(f.entity, f.relation) for f in facts}
        open_slots = [(f.entity, r) for f in facts for r in RELATIONS if (f.entity, r) not in stated]
        if open_slots:
            entity, relation = rng.choice(open_slots)
            return "unstated", render(_Fact(entity, relation, _random_value(rng, relation)))
    while True:  # new_value, and the fallback of the kinds above
        value = _random_value(rng, fact.relation)
        if value != fact.value:
            return "new_value", render(_Fact(fact.entity, fact.relation, value))


def make_examples(
    n: int,
    seed: int = 0,
    n_entities: tuple[int, int] = (2, 3),
    n_facts: tuple[int, int] = (3, 5),
    paraphrase_prob: float = 0.5,
) -> list[dict]:
    """``n`` distinct examples, rows ``{id, premise, hypothesis, label, kind, prompt, completion}``.

    ``kind`` says how the hypothesis was built (copy, paraphrase, count, swap, new_value, negation,
    unstated), for per-kind error analysis.
    """
    rng = random.Random(seed)
    labels = ["True"] * (n // 2) + ["False"] * (n - n // 2)
    rng.shuffle(labels)
    rows: list[dict] = []
    seen: set[str] = set()
    for label in labels:
        for _ in range(1000):
            facts = _premise(rng, n_entities, n_facts)
            make = _true_hypothesis if label == "True" else _false_hypothesis
            kind, hypothesis = make(rng, facts, paraphrase_prob)
            premise = " ".join(_plain(f) for f in facts)
            prompt = TEMPLATE.format(premise=premise, hypothesis=hypothesis)
            if prompt not in seen:
                break
        else:
            raise ValueError("could not make distinct examples; widen n_facts or n_entities")
        seen.add(prompt)
        rows.append(
            {
                "id": f"tf-{seed}-{len(rows)}",
                "premise": premise,
                "hypothesis": hypothesis,
                "label": label,
                "kind": kind,
                "prompt": prompt,
                "completion": label,
            }
        )
    return rows


_FIRST_WORD = re.compile(r"^\W*([A-Za-z]+)")


def parse_label(text: str) -> str | None:
    """ "True"/"False" when the text starts with that word (any case, punctuation allowed), else None.

    Useful beyond grading: the share of outputs that parse as a label on *unrelated* prompts is
    the format-collapse ratio ProMoT measures.
    """
    match = _FIRST_WORD.match(text)
    if not match:
        return None
    word = match.group(1).lower()
    return {"true": "True", "false": "False"}.get(word)


def grade(pred: str, gold: str) -> bool:
    """Whether a model output states the gold label ("True"/"False") as its first word."""
    if gold not in LABELS:
        raise ValueError(f"gold must be one of {LABELS}, got {gold!r}")
    return parse_label(pred) == gold


class TrueFalseTask(Task):
    """Does the hypothesis follow from the premise? Graded by the first word of the answer."""

    name = "true_false"

    def __init__(self, n_entities: tuple[int, int] = (2, 3), n_facts: tuple[int, int] = (3, 5),
                 paraphrase_prob: float = 0.5) -> None:
        self.n_entities, self.n_facts, self.paraphrase_prob = n_entities, n_facts, paraphrase_prob

    def rows(self, n: int, seed: int = 0) -> list[dict]:
        return make_examples(n, seed, self.n_entities, self.n_facts, self.paraphrase_prob)

    def score(self, row: dict, answer: str) -> Score:
        ok = grade(answer, row["label"])
        return Score(float(ok), ok, {"parsed": parse_label(answer)})
