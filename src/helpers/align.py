"""The alignment recipes of notebooks 13-17 as functions: taught in their notebooks' cells, shared from here.

Notebook 17 runs every method on the same pairs and the same step budget, and the scripts of ``recipes/`` run
them at scale; both call these functions instead of copying cells. Each builds a fresh copy of the starting
model, trains it with the course's configuration of TRL's trainer (or :mod:`helpers.ppo`) and returns an
:class:`~helpers.train.Arm` (the tuned model, its run, its peak memory):

* :func:`sft_on_chosen` (SFT on the chosen answers), :func:`dpo_arm` (notebook 14), :func:`kto_arm`
  (notebook 15), :func:`orpo_arm` (notebook 16), :func:`ppo_arm` (notebook 13);
* :func:`grpo_arm` and :func:`rloo_arm`: RL from verifiable rewards, TRL's ``GRPOTrainer`` and ``RLOOTrainer``
  against a task's own score, through :func:`trl_reward`.

:func:`pair_margins` scores any model on held-out preference pairs teacher-forced (one forward pass per answer),
the measurement that decides a comparison which a few generated answers cannot; :func:`per_prompt` averages it
per prompt, since pairs of one prompt share answers and are not independent items.

``steps`` is the number of optimizer steps in every recipe, so arms can be given the same budget.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpers import lm
from helpers.memory import RssPeak, release_memory
from helpers.models import load_model
from helpers.ppo import PolicyWithValue, PPOSettings, train
from helpers.runtime import Profile
from helpers.synth.task import Task
from helpers.train import (
    Arm,
    TrainResult,
    dpo_config,
    grpo_config,
    kto_config,
    orpo_config,
    rloo_config,
    sft_config,
    train_arm,
)

PAIR_KEYS = ("prompt", "chosen", "rejected")
END_OF_TURN = "<|im_end|>"


def pair_margins(model: Any, tokenizer: Any, pairs: Sequence[dict], *, batch_size: int = 16) -> np.ndarray:
    """log π(chosen) − log π(rejected) per pair, each answer summed with its end of turn (as DPO scores it).

    Positive where the model prefers the chosen answer; the difference of two models' margins on the same pairs
    is their difference in log-ratio (the reference terms of DPO's implicit reward cancel).
    """
    prompts = [pair["prompt"] for pair in pairs]
    sides = {side: lm.answer_logprobs(model, tokenizer, prompts,
                                      [pair[side][0]["content"] + END_OF_TURN for pair in pairs],
                                      reduce="sum", batch_size=batch_size)
             for side in ("chosen", "rejected")}
    return np.subtract(sides["chosen"], sides["rejected"])


def per_prompt(values: Sequence[float], prompts: Sequence[Any]) -> list[float]:
    """Mean of ``values`` per prompt, in first-seen order: the independent items when pairs share a prompt."""
    if len(values) != len(prompts):
        raise ValueError(f"one prompt per value: {len(prompts)} prompts for {len(values)} values")
    groups: dict[str, list[float]] = {}
    for prompt, value in zip(prompts, values, strict=True):
        groups.setdefault(str(prompt), []).append(float(value))  # str: a chat prompt is a list of messages
    return [float(np.mean(v)) for v in groups.values()]


def _trl(trainer_class: Any) -> Callable[..., Any]:
    """A builder with :func:`helpers.train.train_arm`'s signature for a TRL trainer that takes ``processing_class``."""
    def build(model: Any, tokenizer: Any, dataset: Any, args: Any, **_: Any) -> Any:
        return trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    return build


def sft_on_chosen(name: str, pairs: Sequence[dict], profile: Profile, output_dir: str | Path, *, model_id: str,
                  device: Any, steps: int, **config: Any) -> Arm:
    """SFT on the chosen answers of ``pairs`` (prompt masked): the baseline every preference method must beat."""
    model, tokenizer = load_model(model_id, device=device)
    rows = [{"prompt": p["prompt"], "completion": p["chosen"]} for p in pairs]
    args = sft_config(profile, Path(output_dir) / name, loss="completion", max_steps=steps, warmup_steps=0, **config)
    return train_arm(name, model, tokenizer, rows, args)


def _offline_arm(trainer_class: Any, config: Callable[..., Any], name: str, rows: Sequence[dict], profile: Profile,
                 output_dir: str | Path, *, model_id: str, device: Any, steps: int, **overrides: Any) -> Arm:
    model, tokenizer = load_model(model_id, device=device)
    args = config(profile, Path(output_dir) / name, max_steps=steps, **overrides)
    return train_arm(name, model, tokenizer, list(rows), args, trainer=_trl(trainer_class))


def dpo_arm(name: str, pairs: Sequence[dict], profile: Profile, output_dir: str | Path, **kwargs: Any) -> Arm:
    """DPO (or any of TRL's pairwise losses via ``loss_type``) on ``pairs``, the reference precomputed."""
    from trl import DPOTrainer

    return _offline_arm(DPOTrainer, dpo_config, name, [{k: p[k] for k in PAIR_KEYS} for p in pairs], profile,
                        output_dir, **kwargs)


def kto_arm(name: str, rows: Sequence[dict], profile: Profile, output_dir: str | Path, **kwargs: Any) -> Arm:
    """KTO on labelled rows ``{prompt, completion, label}``; shuffle them first (KTO reads them in order)."""
    from trl import KTOTrainer

    return _offline_arm(KTOTrainer, kto_config, name, rows, profile, output_dir, **kwargs)


def orpo_arm(name: str, pairs: Sequence[dict], profile: Profile, output_dir: str | Path, **kwargs: Any) -> Arm:
    """ORPO on ``pairs``: one stage, no reference model (``beta`` is the paper's λ)."""
    from trl.experimental.orpo import ORPOTrainer

    return _offline_arm(ORPOTrainer, orpo_config, name, [{k: p[k] for k in PAIR_KEYS} for p in pairs], profile,
                        output_dir, **kwargs)


def ppo_arm(name: str, prompts: Sequence[str], reward_fn: Callable[[Sequence[Any], list[str]], Sequence[float]],
            reference: Any, tokenizer: Any, settings: PPOSettings, *, steps: int, batch_size: int, learning_rate: float,
            seed: int = 0) -> Arm:
    """PPO (:mod:`helpers.ppo`) from a copy of the frozen ``reference`` against ``reward_fn``, as notebook 13 runs
    it; the arm's result counts answer tokens sampled as its tokens."""
    release_memory()
    started = time.perf_counter()
    with RssPeak() as rss:
        policy = PolicyWithValue(copy.deepcopy(reference).requires_grad_(True))
        log, _ = train(policy, reference, tokenizer, prompts, reward_fn, settings, steps=steps, batch_size=batch_size,
                       learning_rate=learning_rate, seed=seed)
    seconds = time.perf_counter() - started
    tokens = int(sum(entry["length"] * batch_size for entry in log))
    result = TrainResult(name=name, steps=len(log), seconds=seconds, tokens=tokens, tokens_per_s=tokens / seconds,
                         steady_tokens_per_s=tokens / seconds, peak_cuda_gib=None,
                         losses=[(entry["step"], entry["policy_loss"]) for entry in log])
    return Arm(name, policy.model.requires_grad_(False), result, rss.delta_gib)


def trl_reward(task: Task, rows_by_prompt: dict[str, dict]) -> Callable[..., list[float]]:
    """A task's score as a TRL reward function (``prompts, completions, **columns -> floats``).

    Conversational prompts and completions arrive as message lists: the row is found by the last user message,
    and the answer is the completion's text.
    """
    def reward(prompts: Sequence[Any], completions: Sequence[Any], **_: Any) -> list[float]:
        rows = [rows_by_prompt[p if isinstance(p, str) else p[-1]["content"]] for p in prompts]
        answers = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        return [score.value for score in task.score_many(rows, answers)]

    reward.__name__ = f"{task.name}_score"  # TRL logs each reward function under its name
    return reward


def _rl_arm(trainer_name: str, config: Callable[..., Any], name: str, prompts: Sequence[str], task: Task,
            rows_by_prompt: dict[str, dict], profile: Profile, output_dir: str | Path, *, model_id: str, device: Any,
            steps: int, **overrides: Any) -> Arm:
    import trl

    model, tokenizer = load_model(model_id, device=device)
    rows = [{"prompt": [{"role": "user", "content": p}]} for p in prompts]
    args = config(profile, Path(output_dir) / name, max_steps=steps, **overrides)
    trainer_class = getattr(trl, trainer_name)

    def build(model: Any, tokenizer: Any, dataset: Any, args: Any, **_: Any) -> Any:
        return trainer_class(model=model, reward_funcs=trl_reward(task, rows_by_prompt), args=args,
                             train_dataset=dataset, processing_class=tokenizer)

    return train_arm(name, model, tokenizer, rows, args, trainer=build)


def grpo_arm(name: str, prompts: Sequence[str], task: Task, rows_by_prompt: dict[str, dict], profile: Profile,
             output_dir: str | Path, *, model_id: str, device: Any, steps: int, **config: Any) -> Arm:
    """GRPO (TRL's defaults: DAPO loss, no KL term, rewards scaled per group) against the task's own score."""
    return _rl_arm("GRPOTrainer", grpo_config, name, prompts, task, rows_by_prompt, profile, output_dir,
                   model_id=model_id, device=device, steps=steps, **config)


def rloo_arm(name: str, prompts: Sequence[str], task: Task, rows_by_prompt: dict[str, dict], profile: Profile,
             output_dir: str | Path, *, model_id: str, device: Any, steps: int, **config: Any) -> Arm:
    """RLOO (each answer's baseline is the mean reward of the other answers to its prompt) against the task."""
    return _rl_arm("RLOOTrainer", rloo_config, name, prompts, task, rows_by_prompt, profile, output_dir,
                   model_id=model_id, device=device, steps=steps, **config)
