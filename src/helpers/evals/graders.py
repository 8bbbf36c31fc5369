"""Programmatic graders: exact match, numeric answers, verifiable constraints and unit-tested code.

Each grader is deterministic and cheap, so it can serve both as an evaluation metric and as the
ground truth that builds preference pairs (and later exposes reward hacking of a learned RM).
The constraint checker is the one in :mod:`helpers.synth.instructions` (re-exported here as
:func:`check_constraint` and :func:`check_constraints`), so data and grading share one definition;
likewise :func:`normalize_text` is the one in :mod:`helpers.data`, beside the deduplication key.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from helpers.data import normalize_text
from helpers.sandbox import CallCases, SandboxResult, run_many
from helpers.synth.instructions import check as check_constraint
from helpers.synth.instructions import check_all as check_constraints
from helpers.synth.pycode import extract_code

__all__ = [
    "check_constraint", "check_constraints", "code_score", "constraint_score", "exact_match", "extract_code",
    "extract_number", "normalize_text", "numeric_match",
]

# ---------------------------------------------------------------- text answers


def exact_match(pred: str, gold: str | Iterable[str]) -> bool:
    """True when ``pred`` equals ``gold`` (or any of several gold answers) after :func:`normalize_text`."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise ValueError("exact_match needs at least one gold answer")
    normalized = normalize_text(pred)
    return any(normalized == normalize_text(answer) for answer in golds)


# ---------------------------------------------------------------- numbers

# A number: optional minus (not when glued to a word or a digit, so "3-5" yields 3 and 5), either
# digits grouped by thousands commas or plain digits, then an optional decimal part.
_NUMBER = r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_HASH_RE = re.compile(r"####\s*\$?\s*(" + _NUMBER + ")")
_ANSWER_IS_RE = re.compile(r"answer\s*(?:is\s*)?[:=]?\s*\$?\s*(" + _NUMBER + ")", re.IGNORECASE)


def _to_number(token: str) -> int | float:
    cleaned = token.replace(",", "")
    return float(cleaned) if "." in cleaned else int(cleaned)


def extract_number(text: str) -> int | float | None:
    """The answer number in ``text``, or None when it holds no number.

    Preference order: the last ``#### n`` (the math data's answer line), else the last "answer is n" /
    "answer: n", else the last number anywhere. Thousands commas are removed ("1,234" -> 1234), a
    leading minus is kept ("-7" -> -7, but "3-5" ends in 5), "$" after the marker is skipped; an int is
    returned unless the number has a decimal point.
    """
    text = text.replace("\u2212", "-")  # the Unicode minus sign
    for pattern in (_HASH_RE, _ANSWER_IS_RE):
        found = pattern.findall(text)
        if found:
            return _to_number(found[-1])
    numbers = _NUMBER_RE.findall(text)
    return _to_number(numbers[-1]) if numbers else None


def numeric_match(pred: str, gold: str | int | float, *, rel_tol: float = 1e-6,
                  abs_tol: float = 1e-9) -> bool:
    """True when the number extracted from ``pred`` equals ``gold`` (a number, or text to extract from)."""
    predicted = extract_number(pred)
    expected = extract_number(gold) if isinstance(gold, str) else gold
    if expected is None:
        raise ValueError(f"the gold answer {gold!r} contains no number")
    return predicted is not None and math.isclose(predicted, expected, rel_tol=rel_tol, abs_tol=abs_tol)


# ---------------------------------------------------------------- verifiable constraints


def constraint_score(responses: Sequence[str],
                     constraint_lists: Sequence[Sequence[Mapping[str, Any]]]) -> dict:
    """Score responses against their verifiable constraints (schema in ``helpers.synth.instructions``).

    Returns ``prompt_level`` (share of responses meeting *all* their constraints), ``constraint_level``
    (share of all constraints met), ``per_type`` (pass rate per constraint type), ``per_type_counts``
    (``[passed, total]`` per type), ``per_prompt`` (one bool per response) and ``n``.
    """
    if len(responses) != len(constraint_lists):
        raise ValueError(f"got {len(responses)} responses but {len(constraint_lists)} constraint lists")
    if not responses:
        raise ValueError("constraint_score needs at least one response")
    per_prompt: list[bool] = []
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for response, constraints in zip(responses, constraint_lists, strict=True):
        verdict = check_constraints(response, [dict(c) for c in constraints])
        per_prompt.append(bool(verdict["all_ok"]))
        for constraint, ok in zip(constraints, verdict["results"], strict=True):
            total[constraint["type"]] += 1
            passed[constraint["type"]] += int(ok)
    return {
        "n": len(responses),
        "prompt_level": sum(per_prompt) / len(per_prompt),
        "constraint_level": sum(passed.values()) / sum(total.values()) if total else 1.0,
        "per_type": {kind: passed[kind] / total[kind] for kind in sorted(total)},
        "per_type_counts": {kind: [passed[kind], total[kind]] for kind in sorted(total)},
        "per_prompt": per_prompt,
    }


# ---------------------------------------------------------------- code

def code_score(completions: Sequence[str], tests_list: Sequence[CallCases | str], *, timeout_s: float = 5.0,
               memory_mb: int = 512, workers: int = 2) -> dict:
    """Run each completion's code (see :func:`extract_code`) against its tests in the sandbox.

    Tests are :class:`~helpers.sandbox.CallCases` (tests as data, graded outside the code's
    process: the only kind to use as a reward) or assert-style strings (see
    :func:`~helpers.sandbox.run_tests` for what those cannot guarantee).

    Returns ``pass_rate``, ``passed``, ``n``, ``statuses`` (count per sandbox status) and ``results``
    (the :class:`~helpers.sandbox.SandboxResult` per completion, in input order).
    """
    if len(completions) != len(tests_list):
        raise ValueError(f"got {len(completions)} completions but {len(tests_list)} tests")
    if not completions:
        raise ValueError("code_score needs at least one completion")
    results: list[SandboxResult] = run_many([extract_code(c) for c in completions], tests_list,
                                            timeout_s=timeout_s, memory_mb=memory_mb, workers=workers)
    passed = sum(result.passed for result in results)
    return {"pass_rate": passed / len(results), "passed": passed, "n": len(results),
            "statuses": dict(Counter(result.status for result in results)), "results": results}
