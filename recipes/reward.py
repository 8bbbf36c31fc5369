"""Reward-model recipe: a Bradley-Terry reward model on chosen/rejected pairs (notebook 12), TRL's ``RewardTrainer``
on the trunk of the model with a fresh scalar head.

    python -m recipes.reward --config recipes/configs/reward.yaml [key=value ...]

As in notebook 12, each prompt's pairs are read together (:func:`helpers.synth.preferences.group_by_prompt`, read in
order), so a batch holds whole prompts' comparisons instead of the same answers coming back all epoch. Pairs come
from ``data.files`` or are sampled from the starting model and ordered by a task's score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.align import PAIR_KEYS
from helpers.memory import release_memory
from helpers.models import load_reference, load_reward_model
from helpers.runtime import Profile
from helpers.synth.preferences import group_by_prompt
from helpers.train import reward_config
from recipes.common import Plan, Recipe, main, main_process_first, trl_builder, trl_overrides
from recipes.dpo import PREFERENCE_DATA
from recipes.rows import preference_file_rows, sampled_pairs

DEFAULTS = {"data": PREFERENCE_DATA}


def _config_class() -> type:
    from trl import RewardConfig

    return RewardConfig


def indexed_by_prompt(pairs: list[dict]) -> list[dict]:
    """Pairs from files with the ``prompt_index`` sampled pairs carry, so :func:`group_by_prompt` keeps each prompt's
    pairs together for them too."""
    index: dict[str, int] = {}
    return [{**pair, "prompt_index": index.setdefault(repr(pair["prompt"]), len(index))} for pair in pairs]


def pairs_for(config: dict[str, Any], args: Any, model_id: str) -> list[dict]:
    """Pairs from the files, else sampled by the first process from the starting causal model (freed afterwards)."""
    data = config["data"]
    if data["files"]:
        return indexed_by_prompt(preference_file_rows(data))
    with main_process_first(args):
        sampler, tokenizer = load_reference(model_id, device=args.device)
        pairs = sampled_pairs(sampler, tokenizer, data)
    del sampler
    release_memory()
    return pairs


def plan(config: dict[str, Any], profile: Profile, output_dir: Path) -> Plan:
    """Pairs grouped by prompt, notebook 12's reward configuration (read in order), and TRL's trainer."""
    from trl import RewardTrainer

    args = reward_config(profile, output_dir, train_sampling_strategy="sequential", **trl_overrides(config, profile))
    pairs = group_by_prompt(pairs_for(config, args, profile.model_id), config["seed"])
    model, tokenizer = load_reward_model(profile.model_id)
    data = config["data"]
    source = {"files": data["files"]} if data["files"] else {"sampled_from": data["task"], "seed": data["seed"]}
    rows = [{k: pair[k] for k in ("id", *PAIR_KEYS)} for pair in pairs]
    return Plan(model, tokenizer, rows, args, trl_builder(RewardTrainer), keys=("chosen_ids", "rejected_ids"),
                data=source)


RECIPE = Recipe("reward", DEFAULTS, _config_class, plan)

if __name__ == "__main__":
    main(RECIPE)
