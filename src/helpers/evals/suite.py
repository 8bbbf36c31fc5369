"""One named before/after battery of general ability, the same everywhere a notebook asks "what did it forget?".

Three views of the same question, from smooth to behavioural:

- ``kl_to_start``: mean token KL(tuned || start) on held-out general conversations of
  ``data/general_instructions.jsonl`` (teacher-forced, no sampling noise; zero means unchanged);
- ``constraint_pass``: the share of ``data/eval_general.jsonl`` prompts whose verifiable constraints are all
  met (lowercase, word counts, bullets, JSON...);
- ``qa_accuracy``: short general questions with checkable answers (``data/general_questions.jsonl``:
  capitals, science, arithmetic, word knowledge), right when an accepted answer appears in the reply.

``general_score`` is the mean of the two behavioural scores; the per-item scores behind it come back too
(``constraint_items``, ``qa_items``; :func:`general_items` joins them for a paired test).
:func:`general_battery` fixes the items once (seeded), :func:`general_suite` scores a model on them and
returns a plain dict, so notebooks 07, 10, 11 and 17 report the same numbers under the same names.
Generation, KL and constraint grading reuse :func:`~helpers.lm.generate`, :func:`~helpers.evals.mean_token_kl`
and :func:`~helpers.evals.constraint_score`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data import read_jsonl
from helpers.evals.drift import RealPositionLogits, mean_token_kl
from helpers.evals.graders import constraint_score
from helpers.lm import generate
from helpers.report import repo_root
from helpers.synth.task import answer_in_response

SUITE_NAME = "general-v1"
SUITE_PARTS = ("kl", "constraints", "qa")


@dataclass(frozen=True)
class GeneralBattery:
    """The fixed items of the battery, so a model before and after training is asked exactly the same."""

    kl_texts: tuple[str, ...]
    kl_ids: frozenset[str]  # rows of general_instructions.jsonl held out for KL: keep them out of training
    constraint_prompts: tuple[str, ...]
    constraint_lists: tuple[tuple[dict, ...], ...]
    questions: tuple[str, ...]
    answers: tuple[tuple[str, ...], ...]
    kl_max_length: int
    constraint_new_tokens: int
    answer_new_tokens: int


def _pick(rows: list[dict], n: int, rng: np.random.Generator, what: str) -> list[dict]:
    """``n`` rows in a seeded random order; asking for more than exist is an error, not a silent cap."""
    if not 1 <= n <= len(rows):
        raise ValueError(f"{what}: asked for {n} items, the file holds {len(rows)} (need 1..{len(rows)})")
    return [rows[int(i)] for i in rng.permutation(len(rows))[:n]]


def general_battery(tokenizer: Any, *, n_kl: int = 12, n_constraints: int = 12, n_questions: int = 48,
                    seed: int = 0, kl_max_length: int = 128, constraint_new_tokens: int = 64,
                    answer_new_tokens: int = 16, data_dir: Path | None = None) -> GeneralBattery:
    """Draw the battery's items from the shipped files (seeded; the same seed gives the same items)."""
    data_dir = repo_root() / "data" if data_dir is None else data_dir
    rng = np.random.default_rng(seed)
    kl_rows = _pick(read_jsonl(data_dir / "general_instructions.jsonl"), n_kl, rng, "KL conversations")
    eval_rows = _pick(read_jsonl(data_dir / "eval_general.jsonl"), n_constraints, rng, "constraint prompts")
    qa_rows = _pick(read_jsonl(data_dir / "general_questions.jsonl"), n_questions, rng, "general questions")
    return GeneralBattery(
        kl_texts=tuple(tokenizer.apply_chat_template(row["messages"], tokenize=False) for row in kl_rows),
        kl_ids=frozenset(row["id"] for row in kl_rows),
        constraint_prompts=tuple(row["prompt"] for row in eval_rows),
        constraint_lists=tuple(tuple(row["constraints"]) for row in eval_rows),
        questions=tuple(row["question"] for row in qa_rows),
        answers=tuple(tuple(row["answers"]) for row in qa_rows),
        kl_max_length=kl_max_length, constraint_new_tokens=constraint_new_tokens,
        answer_new_tokens=answer_new_tokens)


def general_suite(model: Any, reference: Any, tokenizer: Any, battery: GeneralBattery, *,
                  parts: Collection[str] = SUITE_PARTS, batch_size: int | None = None,
                  items: bool = False) -> dict[str, Any]:
    """Score ``model`` on the battery; ``reference`` is the frozen starting model the KL is measured to.

    ``parts`` picks a subset (``"kl"`` alone is cheap enough to run every few training steps). The dict holds
    only the scores asked for, plus ``general_score`` when both behavioural parts ran, and with ``items`` the
    per-item scores too (``constraint_items``, ``qa_items``: see :func:`general_items`).
    """
    unknown = set(parts) - set(SUITE_PARTS)
    if unknown or not parts:
        raise ValueError(f"parts must be a non-empty subset of {SUITE_PARTS}, got {sorted(parts)}")
    scores: dict[str, Any] = {"suite": SUITE_NAME}
    if "kl" in parts:
        # RealPositionLogits lines a prompt-tuned model's logits up with its input; others pass through.
        scores["kl_to_start"] = mean_token_kl(RealPositionLogits(model), reference, tokenizer,
                                              list(battery.kl_texts), max_length=battery.kl_max_length)
    if "constraints" in parts:
        responses = generate(model, tokenizer, list(battery.constraint_prompts),
                             max_new_tokens=battery.constraint_new_tokens, batch_size=batch_size, progress=False)
        graded = constraint_score(responses, battery.constraint_lists)
        scores["constraint_pass"] = graded["prompt_level"]
        scores["constraint_items"] = [float(ok) for ok in graded["per_prompt"]]
    if "qa" in parts:
        replies = generate(model, tokenizer, list(battery.questions), max_new_tokens=battery.answer_new_tokens,
                           batch_size=batch_size, progress=False)
        scores["qa_items"] = [float(answer_in_response(reply, answers))
                              for reply, answers in zip(replies, battery.answers, strict=True)]
        scores["qa_accuracy"] = float(np.mean(scores["qa_items"]))
    if "constraint_pass" in scores and "qa_accuracy" in scores:
        scores["general_score"] = (scores["constraint_pass"] + scores["qa_accuracy"]) / 2
    if not items:
        scores = {k: v for k, v in scores.items() if not k.endswith("_items")}
    return scores


def general_items(scores: dict[str, Any]) -> tuple[list[float], list[str]]:
    """The per-item scores behind ``general_score`` and their strata, for a paired test between two arms:
    ``stats.paired_difference(a_items, b_items, strata=strata)`` compares general scores as they are defined."""
    items = scores["constraint_items"] + scores["qa_items"]
    return items, ["constraints"] * len(scores["constraint_items"]) + ["questions"] * len(scores["qa_items"])
