"""SFT recipe: supervised fine-tuning with the course's packing modes and loss masks (notebook 05).

    python -m recipes.sft --config recipes/configs/sft.yaml [key=value ...]

``packing``: ``none`` (padded rows), ``wrapped`` (rows cut to full length; documents see each other) or
``isolated`` (best-fit packing, attention kept inside each document). ``loss``: ``assistant`` (every assistant
turn trains), ``completion`` (the last answer only) or ``full`` (every token). ``lora.r`` > 0 trains LoRA adapters
instead of every weight (notebook 06).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.models import load_model
from helpers.runtime import Profile
from helpers.train import sft_config, sft_trainer
from recipes.common import NO_LORA, Plan, Recipe, lora, main, trl_overrides
from recipes.rows import sft_rows

DEFAULTS = {
    "packing": "none",
    "loss": "assistant",
    "lora": NO_LORA,
    "data": {"files": [], "task": None, "task_args": {}, "n": None, "seed": 0},
}


def _config_class() -> type:
    from trl import SFTConfig

    return SFTConfig


def plan(config: dict[str, Any], profile: Profile, output_dir: Path) -> Plan:
    """Rows shaped for the loss mode, notebook 05's SFT configuration, and the trainer whose attention fits the
    packing mode (:func:`helpers.train.sft_trainer`)."""
    data = config["data"]
    rows = sft_rows(data, config["loss"])
    args = sft_config(profile, output_dir, packing=config["packing"], loss=config["loss"],
                      **trl_overrides(config, profile))
    model, tokenizer = load_model(profile.model_id)
    source = {"files": data["files"]} if data["files"] else {"task": data["task"], "seed": data["seed"]}
    return Plan(model, tokenizer, rows, args, sft_trainer, keys=("input_ids",), data=source, peft=lora(config["lora"]))


RECIPE = Recipe("sft", DEFAULTS, _config_class, plan)

if __name__ == "__main__":
    main(RECIPE)
