"""Preference data from the course's own ground truth, built once and cached: what notebooks 12-17 train on.

RLHF, DPO, KTO and ORPO all learn from judgements of sampled answers. People make those judgements in
production; here a task's own score does (:mod:`helpers.synth.task`), so every method can later be judged
by the same truth. :func:`build` samples the starting model several times per prompt (plain sampling at
temperature 1), scores every answer, and keeps all of it: prompts, answers and scores, for training prompts
and for held-out prompts (more samples each, for best-of-n and for measuring a reward model on answers it
never saw). Pairs (:meth:`PreferenceData.pairs`) and binary labels (:meth:`PreferenceData.kto_rows`) are
derived on demand, with the rules of :mod:`helpers.synth.preferences` (every two answers of a prompt whose
scores differ make a pair; equal scores make none and are counted).

The result is cached under the model cache (``preferences/<key>.json``), keyed by everything that decided
it (task, model, prompt counts, samples, answer length, seed, device), so the notebooks after 12 reuse the
same answers and a missing or changed cache is simply rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from helpers.lm import device_of, generate
from helpers.models import cache_root
from helpers.synth.preferences import make_kto_rows, make_pairs
from helpers.synth.task import Task


@dataclass
class PreferenceData:
    """Sampled answers and their ground-truth scores, per prompt, for training and held-out prompts.

    Each row is the task's row plus ``samples`` (answers, in the order sampled) and ``scores`` (their
    values in [0, 1]).
    """

    spec: dict[str, Any]
    train: list[dict]
    held_out: list[dict]

    def split(self, name: str) -> list[dict]:
        if name not in ("train", "held_out"):
            raise ValueError(f"split must be 'train' or 'held_out', got {name!r}")
        return self.train if name == "train" else self.held_out

    def pairs(self, split: str = "train", margin: float = 0.0) -> Any:
        """Chosen/rejected pairs (every two answers of a prompt whose scores differ by more than ``margin``),
        as a :class:`~helpers.data.RemovalReport`: ``kept`` the pairs, ``removed`` the ties and repeats."""
        rows = self.split(split)
        return make_pairs(_messages(rows), [r["samples"] for r in rows], scores=[r["scores"] for r in rows],
                          mode="all_pairs", margin=margin)

    def kto_rows(self, split: str = "train", threshold: float = 1.0) -> Any:
        """Unpaired rows labelled desirable when the answer's score reaches ``threshold`` (KTO's data)."""
        rows = self.split(split)
        return make_kto_rows(_messages(rows), [r["samples"] for r in rows], scores=[r["scores"] for r in rows],
                             threshold=threshold)


def _messages(rows: Sequence[dict]) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": row["prompt"]}] for row in rows]


def _sample_and_score(model: Any, tokenizer: Any, task: Task, rows: list[dict], samples: int, max_new_tokens: int,
                      seed: int) -> list[dict]:
    prompts = [row["prompt"] for row in rows for _ in range(samples)]
    answers = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, do_sample=True, temperature=1.0,
                       seed=seed, progress=False)
    scores = task.score_many([row for row in rows for _ in range(samples)], answers)
    return [{**row, "samples": answers[i * samples:(i + 1) * samples],
             "scores": [s.value for s in scores[i * samples:(i + 1) * samples]]} for i, row in enumerate(rows)]


def _fingerprint(model: Any) -> float:
    """A number that changes when any weight does: a tuned copy of the model never reads the start's cache."""
    with torch.no_grad():
        return round(float(sum(p.double().sum() for p in model.parameters())), 6)


def build(model: Any, tokenizer: Any, task: Task, *, n_train: int, n_held_out: int, samples_train: int,
          samples_held_out: int, max_new_tokens: int, seed: int = 0, task_spec: dict[str, Any] | None = None,
          cache: bool = True) -> PreferenceData:
    """Sample and score answers of ``model`` to ``n_train + n_held_out`` task prompts (held-out prompts last).

    ``task_spec`` names how the task was configured (its knobs), for the cache key. With ``cache`` an
    earlier build of the same spec is read back instead of sampled again.
    """
    if min(n_train, n_held_out, samples_train, samples_held_out, max_new_tokens) < 1:
        raise ValueError("prompt counts, samples per prompt and max_new_tokens must all be >= 1")
    spec = {"task": task.name, "task_spec": task_spec or {}, "model": getattr(model, "tuning_lab_source", None)
            or getattr(model.config, "_name_or_path", "?"), "n_train": n_train, "n_held_out": n_held_out,
            "samples_train": samples_train, "samples_held_out": samples_held_out, "max_new_tokens": max_new_tokens,
            "seed": seed, "device": device_of(model).type, "torch": torch.__version__.split("+")[0],
            "weights": _fingerprint(model)}
    spec = json.loads(json.dumps(spec))  # as stored: tuples become lists, so a read-back spec compares equal
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_root() / "preferences" / f"{key}.json"
    if cache and path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("spec") == spec:
            return PreferenceData(spec, stored["train"], stored["held_out"])
    rows = task.rows(n_train + n_held_out, seed=seed)
    data = PreferenceData(spec, _sample_and_score(model, tokenizer, task, rows[:n_train], samples_train,
                                                  max_new_tokens, seed),
                          _sample_and_score(model, tokenizer, task, rows[n_train:], samples_held_out,
                                            max_new_tokens, seed + 1))
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"spec": spec, "train": data.train, "held_out": data.held_out}))
        os.replace(tmp, path)
    return data
