"""DPO recipe: direct preference optimisation on chosen/rejected pairs (notebook 14), TRL's ``DPOTrainer`` under the
course's configuration (:func:`helpers.train.dpo_config`: the reference's log-probabilities computed once, so no
second model is kept).

    python -m recipes.dpo --config recipes/configs/dpo.yaml [key=value ...]

Pairs come from ``data.files`` (``{prompt, chosen, rejected}`` rows) or are sampled from the starting model and
ordered by a task's score, as notebooks 12-17 build them. ``train.beta`` is DPO's β; ``train.loss_type=ipo`` gives
IPO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.align import PAIR_KEYS
from helpers.models import load_model
from helpers.runtime import Profile
from helpers.train import dpo_config
from recipes.common import NO_LORA, Plan, Recipe, lora, main, main_process_first, trl_builder, trl_overrides
from recipes.rows import preference_file_rows, sampled_pairs

PREFERENCE_DATA = {"files": [], "task": "instructions",
                   "task_args": {"n_constraints": [1, 2], "types": ["include_words", "starts_with"]},
                   "n": 64, "samples": 4, "max_new_tokens": 32, "margin": 0.0, "seed": 0}
DEFAULTS = {"lora": NO_LORA, "data": PREFERENCE_DATA}


def _config_class() -> type:
    from trl import DPOConfig

    return DPOConfig


def preference_rows(config: dict[str, Any], args: Any, model: Any, tokenizer: Any) -> list[dict]:
    """``{id, prompt, chosen, rejected}`` rows from the files, else sampled with ``model`` by the first process."""
    data = config["data"]
    if data["files"]:
        pairs = preference_file_rows(data)
    else:
        with main_process_first(args):
            pairs = sampled_pairs(model.to(args.device), tokenizer, data)
    return [{k: pair[k] for k in ("id", *PAIR_KEYS)} for pair in pairs]


def plan(config: dict[str, Any], profile: Profile, output_dir: Path) -> Plan:
    """The pairs, notebook 14's DPO configuration and TRL's trainer."""
    from trl import DPOTrainer

    args = dpo_config(profile, output_dir, **trl_overrides(config, profile))
    model, tokenizer = load_model(profile.model_id)
    data = config["data"]
    source = {"files": data["files"]} if data["files"] else {"sampled_from": data["task"], "seed": data["seed"]}
    build = trl_builder(DPOTrainer, output_dir / "dataset")  # its reference log-probabilities cached there
    return Plan(model, tokenizer, preference_rows(config, args, model, tokenizer), args, build,
                keys=("prompt_ids", "chosen_ids", "rejected_ids"), data=source, peft=lora(config["lora"]))


RECIPE = Recipe("dpo", DEFAULTS, _config_class, plan)

if __name__ == "__main__":
    main(RECIPE)
