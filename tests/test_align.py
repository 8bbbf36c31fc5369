"""The shared alignment recipes: each trains the tiny model for a step and returns a measured arm."""

import pytest

from helpers import align
from helpers.models import load_reference
from helpers.ppo import PPOSettings
from helpers.runtime import get_profile
from helpers.synth.instructions import InstructionTask
from helpers.synth.preferences import pairs_to_labels

PAIRS = [{"prompt": [{"role": "user", "content": f"Say {w}."}], "chosen": [{"role": "assistant", "content": w}],
          "rejected": [{"role": "assistant", "content": "no"}]} for w in ("yes", "maybe", "sure", "ok")]


@pytest.mark.parametrize("recipe", ["sft_on_chosen", "dpo_arm", "orpo_arm"])
def test_pair_recipes_train_one_step(tmp_path, recipe):
    arm = getattr(align, recipe)(recipe, PAIRS, get_profile("smoke"), tmp_path, model_id="tiny", device="cpu",
                                 steps=1, per_device_train_batch_size=2, max_length=64)
    assert arm.result.steps == 1 and arm.model is not None and arm.peak_gib >= 0


def test_kto_recipe_trains_on_labels(tmp_path):
    rows = pairs_to_labels(PAIRS)
    arm = align.kto_arm("kto", rows, get_profile("smoke"), tmp_path, model_id="tiny", device="cpu", steps=1,
                        per_device_train_batch_size=4, max_length=64)
    assert arm.result.steps == 1


@pytest.mark.parametrize("recipe", ["grpo_arm", "rloo_arm"])
def test_rl_recipes_train_against_the_task_score(tmp_path, recipe):
    task = InstructionTask(n_constraints=(1, 1), types=["starts_with"])
    rows = task.rows(4)
    by_prompt = {row["prompt"]: row for row in rows}
    arm = getattr(align, recipe)(recipe, list(by_prompt), task, by_prompt, get_profile("smoke"), tmp_path,
                                 model_id="tiny", device="cpu", steps=1, per_device_train_batch_size=4,
                                 num_generations=2, max_completion_length=4)
    assert arm.result.steps == 1


def test_ppo_recipe_and_the_trl_reward_adapter():
    task = InstructionTask(n_constraints=(1, 1), types=["starts_with"])
    rows = task.rows(3)
    by_prompt = {row["prompt"]: row for row in rows}
    reward = align.trl_reward(task, by_prompt)
    phrase = rows[0]["constraints"][0]["text"]
    completions = [[{"role": "assistant", "content": f"{phrase} indeed."}], [{"role": "assistant", "content": "x"}]]
    prompts = [[{"role": "user", "content": rows[0]["prompt"]}]] * 2
    assert reward(prompts, completions) == [1.0, 0.0] and reward.__name__ == "instructions_score"
    reference, tokenizer = load_reference("tiny")
    arm = align.ppo_arm("ppo", list(by_prompt), lambda p, t: [1.0] * len(t), reference, tokenizer,
                        PPOSettings(max_new_tokens=3, epochs=1), steps=2, batch_size=2, learning_rate=1e-5)
    assert arm.result.steps == 2 and not any(p.requires_grad for p in arm.model.parameters())
