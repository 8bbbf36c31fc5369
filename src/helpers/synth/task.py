"""Tasks that carry their own ground truth: rows to train or evaluate on, and the score of one answer.

Every generator of :mod:`helpers.synth` whose answers can be checked exposes the same small interface
(nanochat's tasks carry their ``evaluate`` and ``reward`` the same way):

* ``rows(n, seed)``: ``n`` rows, each with a ``prompt`` (the request a model answers, as a user
  message) and whatever the checker needs (constraints, the gold number, hidden tests...);
* ``score(row, answer)``: a :class:`Score`, a value in [0, 1], whether the answer passes outright, and
  per-item detail where the task has it;
* ``score_many(rows, answers)``: the same for a batch (the code task runs its sandbox in parallel).

That one number is the evaluation metric, the reward of PPO, GRPO and RLOO, and the ground truth that
orders preference pairs and labels KTO rows, so none of them can disagree about what "right" means.
:func:`rewards` turns a task into the reward function the RL loops take.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from helpers.data import normalize_text


@dataclass(frozen=True)
class Score:
    """One answer's ground truth: ``value`` in [0, 1], ``passed`` the strict verdict, ``detail`` per item."""

    value: float
    passed: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"a score lies in [0, 1], got {self.value}")


class Task(ABC):
    """A source of rows whose answers a program can grade. Subclasses set ``name`` and the two methods."""

    name: str = "task"

    @abstractmethod
    def rows(self, n: int, seed: int = 0) -> list[dict]:
        """``n`` rows with a ``prompt`` each, fully decided by ``seed``."""

    @abstractmethod
    def score(self, row: dict, answer: str) -> Score:
        """The ground truth on one answer to ``row``."""

    def score_many(self, rows: Sequence[dict], answers: Sequence[str]) -> list[Score]:
        """One :class:`Score` per (row, answer), in order."""
        if len(rows) != len(answers):
            raise ValueError(f"{len(rows)} rows but {len(answers)} answers")
        return [self.score(row, answer) for row, answer in zip(rows, answers, strict=True)]


def rewards(task: Task, rows_by_prompt: dict[str, dict]) -> Callable[[Sequence[Any], Sequence[str]], list[float]]:
    """The reward function RL loops take (prompts, answers -> floats), backed by ``task``'s scores.

    ``rows_by_prompt`` maps each prompt string to its row, since a trainer hands back prompts, not rows;
    a message-list prompt is looked up by its last user message.
    """
    def reward(prompts: Sequence[Any], answers: Sequence[str]) -> list[float]:
        rows = [rows_by_prompt[p if isinstance(p, str) else p[-1]["content"]] for p in prompts]
        return [s.value for s in task.score_many(rows, answers)]

    return reward


def answer_in_response(response: str, answers: Sequence[str]) -> bool:
    """True when any accepted answer appears in the response as whole words, after normalisation.

    Containment, not exact match: a general chat model says "The capital of France is Paris." and is
    right. Whole words keep "7" from matching inside "17".
    """
    if not answers:
        raise ValueError("answer_in_response needs at least one accepted answer")
    text = f" {normalize_text(response)} "
    return any(re.search(rf"(?<!\w){re.escape(normalize_text(answer))}(?!\w)", text) for answer in answers)
