"""GRPO recipe: reinforcement learning from a course grader (notebook 17), TRL's ``GRPOTrainer`` with TRL 1.16's
defaults (DAPO loss, no KL term, rewards scaled within each prompt's group).

    python -m recipes.grpo --config recipes/configs/grpo.yaml [key=value ...]

The reward is the task's own score (:func:`helpers.align.trl_reward`): a plain function of the prompt's row and the
answer, in [0, 1]. Prompts are made by the task, or read from ``data.files`` whose rows carry what the grader reads
(``prompt`` plus ``constraints`` for ``instructions``, ``answer`` for ``math``...). ``train.num_generations`` answers
are sampled per prompt; ``batch_size`` counts answers per process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.align import trl_reward
from helpers.models import load_model
from helpers.runtime import Profile
from helpers.train import grpo_config
from recipes.common import NO_LORA, Plan, Recipe, lora, main, trl_builder, trl_overrides
from recipes.rows import graded_rows, make_task

DEFAULTS = {
    "lora": NO_LORA,
    "data": {"files": [], "task": "instructions",
             "task_args": {"n_constraints": [1, 2], "types": ["include_words", "starts_with"]}, "n": 64, "seed": 0},
}


def _config_class() -> type:
    from trl import GRPOConfig

    return GRPOConfig


def plan(config: dict[str, Any], profile: Profile, output_dir: Path) -> Plan:
    """The task's prompts as user messages, notebook 17's GRPO configuration, and the task's score as the reward."""
    from trl import GRPOTrainer

    data = config["data"]
    task = make_task(data["task"], data["task_args"])
    graded = graded_rows(data, task)
    rows = [{"id": row["id"], "prompt": [{"role": "user", "content": row["prompt"]}]} for row in graded]
    args = grpo_config(profile, output_dir, **trl_overrides(config, profile))
    model, tokenizer = load_model(profile.model_id)
    build = trl_builder(GRPOTrainer, reward_funcs=trl_reward(task, {row["prompt"]: row for row in graded}))
    source = {"task": data["task"], **({"files": data["files"]} if data["files"] else {"seed": data["seed"]})}
    return Plan(model, tokenizer, rows, args, build, keys=("prompt",), data=source, peft=lora(config["lora"]))


RECIPE = Recipe("grpo", DEFAULTS, _config_class, plan, own_rows=False)

if __name__ == "__main__":
    main(RECIPE)
