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


def test_pair_margins_are_chosen_minus_rejected_and_flip_with_the_sides():
    profile = get_profile("smoke")
    model, tokenizer = load_reference(profile.model_id, device="cpu")
    margins = align.pair_margins(model, tokenizer, PAIRS)
    swapped = [{**p, "chosen": p["rejected"], "rejected": p["chosen"]} for p in PAIRS]
    assert margins.shape == (len(PAIRS),)
    assert align.pair_margins(model, tokenizer, swapped) == pytest.approx(-margins, abs=1e-5)
    same = [{**p, "rejected": p["chosen"]} for p in PAIRS]
    assert align.pair_margins(model, tokenizer, same) == pytest.approx(0.0, abs=1e-5)
    by_hand = [model_lp - other for model_lp, other in zip(
        align.lm.answer_logprobs(model, tokenizer, [p["prompt"] for p in PAIRS],
                                 [p["chosen"][0]["content"] + "<|im_end|>" for p in PAIRS], reduce="sum"),
        align.lm.answer_logprobs(model, tokenizer, [p["prompt"] for p in PAIRS], ["no<|im_end|>"] * len(PAIRS),
                                 reduce="sum"), strict=True)]
    assert margins == pytest.approx(by_hand, abs=1e-5)


def test_per_prompt_averages_pairs_that_share_a_prompt():
    prompts = [PAIRS[0]["prompt"], PAIRS[1]["prompt"], PAIRS[0]["prompt"]]
    assert align.per_prompt([1.0, 5.0, 3.0], prompts) == [2.0, 5.0]
    with pytest.raises(ValueError, match="one prompt per value"):
        align.per_prompt([1.0], prompts)
