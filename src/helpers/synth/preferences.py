"""Preference pairs and KTO labels from sampled responses scored by a programmatic ground truth.

The notebooks sample a model several times per prompt and score each sample with a rule (a grader,
a constraint checker, a sentiment lexicon...). This module turns those samples into training data:

- :func:`make_pairs`: chosen/rejected pairs, either the best against the worst response per prompt
  (``mode="best_worst"``) or every pair whose scores differ (``mode="all_pairs"``). A pair needs a score
  gap larger than ``margin``; ties are skipped and counted, never silently dropped.
- :func:`make_kto_rows`: unpaired rows labelled desirable when the score reaches ``threshold``.
- :func:`subsample_desirable`: keeps all undesirable rows and a deterministic subset of desirable ones
  so that they make up ``desirable_fraction`` of the result (the KTO data-imbalance experiment).
- :func:`kto_desirable_weight`: the matching loss weight for desirable examples.
- :func:`group_by_prompt`: pairs reordered so each prompt's pairs sit together (reward-model batches).
- :func:`pairs_to_labels`: pairs as KTO rows, chosen desirable and rejected undesirable, each answer once.

All functions are pure: the samples come in as data, no model is involved. Prompts may be strings or
message lists; with message lists the answers come out as ``[{"role": "assistant", ...}]``, the
conversational form TRL's trainers expect.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from helpers.data import RemovalReport, Removed

Prompt = str | list[dict]


def _answer(prompt: Prompt, text: str) -> Any:
    return text if isinstance(prompt, str) else [{"role": "assistant", "content": text}]


def _scores(
    responses: Sequence[Sequence[str]],
    scorer: Callable[[str], float] | None,
    scores: Sequence[Sequence[float]] | None,
) -> list[list[float]]:
    """Scores per prompt and response: computed by ``scorer`` or given, never both."""
    if (scorer is None) == (scores is None):
        raise ValueError("give exactly one of scorer (a function of the response) or scores (precomputed)")
    if scores is None:
        return [[float(scorer(r)) for r in group] for group in responses]
    if len(scores) != len(responses) or any(len(s) != len(r) for s, r in zip(scores, responses, strict=True)):
        raise ValueError("scores must have the same shape as responses")
    return [[float(x) for x in group] for group in scores]


def _distinct(texts: Sequence[str], values: Sequence[float]) -> tuple[list[tuple[str, float]], int]:
    """Identical responses collapse to their first occurrence; returns (unique, number collapsed)."""
    seen: dict[str, float] = {}
    for text, value in zip(texts, values, strict=True):
        seen.setdefault(text, value)
    return list(seen.items()), len(texts) - len(seen)


def make_pairs(
    prompts: Sequence[Prompt],
    responses: Sequence[Sequence[str]],
    scorer: Callable[[str], float] | None = None,
    *,
    scores: Sequence[Sequence[float]] | None = None,
    mode: str = "best_worst",
    margin: float = 0.0,
) -> RemovalReport:
    """Chosen/rejected pairs; the report's ``kept`` are the pair rows, ``removed`` what was skipped and why.

    Pair rows: ``{prompt, chosen, rejected, score_chosen, score_rejected, prompt_index}``. Skips are
    recorded per prompt: ``duplicate_response`` (repeated samples, counted once each), ``single_response``
    (fewer than two distinct samples), ``tie`` (best and worst, or a pair, within ``margin``).
    """
    if mode not in ("best_worst", "all_pairs"):
        raise ValueError(f"mode must be 'best_worst' or 'all_pairs', got {mode!r}")
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} response lists")
    all_scores = _scores(responses, scorer, scores)
    pairs: list[dict] = []
    removed: list[Removed] = []

    def add(i: int, win: tuple[str, float], lose: tuple[str, float]) -> None:
        pairs.append(
            {
                "prompt": prompts[i],
                "chosen": _answer(prompts[i], win[0]),
                "rejected": _answer(prompts[i], lose[0]),
                "score_chosen": win[1],
                "score_rejected": lose[1],
                "prompt_index": i,
            }
        )

    for i, (texts, values) in enumerate(zip(responses, all_scores, strict=True)):
        unique, collapsed = _distinct(texts, values)
        removed.extend(Removed(i, i, "duplicate_response") for _ in range(collapsed))
        if len(unique) < 2:
            removed.append(Removed(i, i, "single_response", detail=f"{len(unique)} distinct response(s)"))
            continue
        if mode == "best_worst":
            best = max(unique, key=lambda tv: tv[1])  # first of equals wins: deterministic
            worst = min(unique, key=lambda tv: tv[1])
            if best[1] - worst[1] > margin:
                add(i, best, worst)
            else:
                removed.append(Removed(i, i, "tie", detail=f"best {best[1]:g} vs worst {worst[1]:g}"))
            continue
        for a in range(len(unique)):
            for b in range(a + 1, len(unique)):
                hi, lo = (unique[a], unique[b]) if unique[a][1] >= unique[b][1] else (unique[b], unique[a])
                if hi[1] - lo[1] > margin:
                    add(i, hi, lo)
                else:
                    removed.append(
                        Removed(i, i, "tie", detail=f"responses {a} and {b}: {hi[1]:g} vs {lo[1]:g}")
                    )
    return RemovalReport(pairs, removed)


def make_kto_rows(
    prompts: Sequence[Prompt],
    responses: Sequence[Sequence[str]],
    scorer: Callable[[str], float] | None = None,
    *,
    scores: Sequence[Sequence[float]] | None = None,
    threshold: float,
) -> RemovalReport:
    """Unpaired rows ``{prompt, completion, label, score, prompt_index}``; label = score >= threshold.

    Repeated samples of one prompt are kept once (removed as ``duplicate_response``), so a response
    the model produces often does not count several times.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} response lists")
    all_scores = _scores(responses, scorer, scores)
    rows: list[dict] = []
    removed: list[Removed] = []
    for i, (texts, values) in enumerate(zip(responses, all_scores, strict=True)):
        unique, collapsed = _distinct(texts, values)
        removed.extend(Removed(i, i, "duplicate_response") for _ in range(collapsed))
        for text, value in unique:
            rows.append(
                {
                    "prompt": prompts[i],
                    "completion": _answer(prompts[i], text),
                    "label": value >= threshold,
                    "score": value,
                    "prompt_index": i,
                }
            )
    return RemovalReport(rows, removed)


def subsample_desirable(rows: Sequence[dict], desirable_fraction: float, seed: int = 0) -> RemovalReport:
    """Keep every undesirable row and a seeded random subset of desirable ones, so that desirable rows
    make up ``desirable_fraction`` of the result (as close as whole rows allow).

    If there are too few desirable rows to reach the fraction, all are kept: check the achieved
    share in the report rather than assuming it. Kept rows stay in their original order. Keeping
    10 % of the desirable half of a balanced set is ``desirable_fraction = 0.1 / 1.1``.
    """
    if not 0 <= desirable_fraction < 1:
        raise ValueError("desirable_fraction must be in [0, 1)")
    good = [i for i, r in enumerate(rows) if r["label"] is True]
    n_bad = len(rows) - len(good)
    target = min(len(good), round(desirable_fraction * n_bad / (1 - desirable_fraction)))
    chosen = set(random.Random(seed).sample(good, target))
    kept = [r for i, r in enumerate(rows) if r["label"] is not True or i in chosen]
    removed = [Removed(i, rows[i].get("id", i), "subsampled_desirable") for i in good if i not in chosen]
    return RemovalReport(kept, removed)


def kto_desirable_weight(n_desirable: int, n_undesirable: int, ratio: float = 1.0) -> float:
    """lambda_D for KTO with lambda_U = 1, so that lambda_D * n_D / n_U equals ``ratio``.

    The KTO paper recommends keeping that product between 1 and 4/3 (a later version says 3/2), so
    that the rarer desirable examples still weigh as much as the undesirable ones.
    """
    if n_desirable <= 0 or n_undesirable <= 0:
        raise ValueError("both counts must be positive")
    return ratio * n_undesirable / n_desirable


def group_by_prompt(pairs: Sequence[dict], seed: int = 0) -> list[dict]:
    """Pairs reordered so that each prompt's pairs sit next to each other, the prompts in a seeded random order.

    Read in this order (sequential sampling), a batch holds whole prompts' comparisons, as InstructGPT trains
    its reward model (all C(K,2) pairs of a prompt in one batch element). Shuffled as separate rows, the same
    answers come back in many steps of one epoch, and the reward model overfits them within that epoch.
    """
    order: dict[Any, list[dict]] = {}
    for pair in pairs:
        order.setdefault(pair.get("prompt_index", id(pair)), []).append(pair)
    groups = list(order.values())
    random.Random(seed).shuffle(groups)
    return [pair for group in groups for pair in group]


def pairs_to_labels(pairs: Sequence[dict]) -> list[dict]:
    """KTO rows from preference pairs, as the KTO paper converts them: each pair's chosen answer desirable, its
    rejected answer undesirable; an answer that appears in several pairs counts once, with its first label."""
    rows: dict[tuple[str, str], dict] = {}
    for pair in pairs:
        for side, label in (("chosen", True), ("rejected", False)):
            key = (repr(pair["prompt"]), repr(pair[side]))
            rows.setdefault(key, {"prompt": pair["prompt"], "completion": pair[side], "label": label})
    return list(rows.values())
