"""Knowledge probes: did the model get a fact right, get it wrong, or say it does not know, and how sure was it.

A fine-tuned model's answer to a factual question falls in one of three bins, and the distinction
matters more than accuracy alone:

* **right**: the gold answer appears in the reply (whole words, after normalisation; a chat model
  may say "She was born in Kraemor." and be right);
* **abstained**: the reply declines ("I don't know", "I'm not sure", ...), detected by
  :func:`is_abstention`;
* **wrong**: anything else, i.e. a confident answer that is not the fact: a *hallucination*.

:func:`tally` counts the three bins (:class:`Tally`); :func:`grade` decides one answer. A model
that answers everything has no abstentions and many hallucinations on what it cannot know; one taught
to abstain trades some of those for over-refusals on what it does know. Both show in one tally.

:func:`answer_logprobs` is the model's own confidence: the log-probability it gives an answer after
the (chat-rendered) question, teacher-forced, so no sampling noise. Fed the model's greedy answers,
it tells how sure the model is of what it says; :func:`separation` (the AUROC) says how well that
confidence tells facts it could know from facts it could not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from helpers.evals.graders import normalize_text
from helpers.synth.task import answer_in_response

Grade = Literal["right", "wrong", "abstained"]
GRADES: tuple[Grade, ...] = ("right", "wrong", "abstained")

IDK_ANSWER = "I don't know."  # the label abstention training teaches; is_abstention recognises it

# Phrases (after normalize_text: lowercase, no punctuation or articles) by which a reply declines.
ABSTENTION_PATTERNS: tuple[str, ...] = (
    r"\bi (?:dont|do not|really dont) know\b",
    r"\b(?:im|i am) (?:not sure|unsure|not certain|not aware)\b",
    r"\bi (?:cannot|cant|could not|couldnt) (?:say|tell|find|answer|determine|know)\b",
    r"\bi (?:have|had) no (?:information|idea|knowledge|record|data)\b",
    r"\bi dont have (?:any )?(?:information|knowledge|data|record|details)\b",
    r"\bno (?:information|idea) (?:about|on|regarding)\b",
    r"\b(?:is|are|remains) (?:unknown|not known)\b",
    r"^unknown$",
)
_ABSTENTION_RE = re.compile("|".join(ABSTENTION_PATTERNS))


def is_abstention(text: str) -> bool:
    """True when the reply declines to answer ("I don't know", "I'm not sure", "I have no information ...").

    Matched on the normalised text against :data:`ABSTENTION_PATTERNS`, so case and punctuation do not
    matter. A phrase list, not a model: it misses unusual wordings, which then count as wrong answers.
    """
    return bool(_ABSTENTION_RE.search(normalize_text(text)))


def grade(answer: str, gold: str | Sequence[str]) -> Grade:
    """One answer's bin: ``right`` if a gold answer appears in it, else ``abstained`` if it declines, else ``wrong``.

    Right is checked first, so "I'm not sure, maybe Kraemor" counts as right when Kraemor is the fact.
    An empty reply neither gives the fact nor declines: it is ``wrong``.
    """
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds or any(not normalize_text(g) for g in golds):
        raise ValueError(f"gold answers must be non-empty text, got {golds!r}")
    if answer_in_response(answer, golds):
        return "right"
    return "abstained" if is_abstention(answer) else "wrong"


@dataclass(frozen=True)
class Tally:
    """How many answers were right, wrong (hallucinated) and abstained, and the shares of each."""

    right: int
    wrong: int
    abstained: int

    @property
    def n(self) -> int:
        return self.right + self.wrong + self.abstained

    def share(self, name: Grade) -> float:
        """The share of answers in one bin (0 when there are no answers)."""
        if name not in GRADES:
            raise ValueError(f"unknown bin {name!r}; choose one of {GRADES}")
        return getattr(self, name) / self.n if self.n else 0.0

    @property
    def hallucination_rate(self) -> float:
        """Wrong answers among those *attempted* (abstentions left out): how often a given answer is false."""
        attempted = self.right + self.wrong
        return self.wrong / attempted if attempted else 0.0

    def as_dict(self) -> dict[str, Any]:
        shares = {f"{name}_share": round(self.share(name), 4) for name in GRADES}
        return {**asdict(self), "n": self.n, **shares, "hallucination_rate": round(self.hallucination_rate, 4)}


def tally(answers: Sequence[str], golds: Sequence[str | Sequence[str]]) -> Tally:
    """Grade every answer against its gold (:func:`grade`) and count right / wrong / abstained."""
    if len(answers) != len(golds):
        raise ValueError(f"{len(answers)} answers but {len(golds)} gold answers")
    grades = [grade(answer, gold) for answer, gold in zip(answers, golds, strict=True)]
    return Tally(**{name: grades.count(name) for name in GRADES})


def separation(positive: Sequence[float], negative: Sequence[float]) -> float:
    """AUROC: the chance that a random ``positive`` score exceeds a random ``negative`` one (ties count half).

    0.5 means the score cannot tell the two groups apart; 1.0 means every positive is above every
    negative. Used with confidences on knowable (positive) and unknowable (negative) facts.
    """
    if not positive or not negative:
        raise ValueError("separation needs at least one score in each group")
    wins = sum((p > q) + 0.5 * (p == q) for p in positive for q in negative)
    return wins / (len(positive) * len(negative))
