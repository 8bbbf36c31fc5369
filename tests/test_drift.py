"""helpers.evals.drift for prompt-tuned models: RealPositionLogits lines their logits up with the input."""

import pytest
import torch
from peft import get_peft_model

from helpers.evals import RealPositionLogits, mean_token_kl, virtual_token_count
from helpers.models import load_model, resolve_model
from helpers.train import lora_config, prompt_tuning_config


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = load_model("tiny")
    return model, tokenizer, resolve_model("tiny")[0]


def test_prompt_tuned_logits_line_up_with_the_input(tiny):
    model, tokenizer, path = tiny
    tuned = get_peft_model(load_model("tiny")[0], prompt_tuning_config(5, "Answer briefly.", path))
    assert virtual_token_count(tuned) == 5
    batch = tokenizer(["hello there", "a longer line of text here"], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert tuned(**batch).logits.shape[1] == batch["input_ids"].shape[1] + 5
        wrapped = RealPositionLogits(tuned)(**batch).logits
    assert wrapped.shape[:2] == batch["input_ids"].shape


def test_soft_prompt_moves_the_predictions_and_disabling_it_restores_them(tiny):
    model, tokenizer, path = tiny
    tuned = get_peft_model(load_model("tiny")[0], prompt_tuning_config(5, "Answer briefly.", path))
    texts = ["the cat sat on the mat", "one two three four"]
    with_prompt = mean_token_kl(RealPositionLogits(tuned), model, tokenizer, texts)
    with tuned.disable_adapter():
        without_prompt = mean_token_kl(RealPositionLogits(tuned), model, tokenizer, texts)
    assert with_prompt > 1e-6
    assert without_prompt == pytest.approx(0.0, abs=1e-6)


def test_other_models_pass_through_unchanged(tiny):
    model, tokenizer, _ = tiny
    with_lora = get_peft_model(load_model("tiny")[0], lora_config(4))
    assert virtual_token_count(model) == 0 and virtual_token_count(with_lora) == 0
    batch = tokenizer(["hello there"], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(RealPositionLogits(model)(**batch).logits, model(**batch).logits)


def test_sampled_kl_is_zero_for_the_reference_itself_and_grows_when_the_model_moves(mixed):
    import copy

    from helpers.evals import sampled_kl

    model, tokenizer = mixed
    prompts = ["Hi", "Say something long"]
    same = sampled_kl(model, model, tokenizer, prompts, max_new_tokens=5, samples=2)
    assert same == pytest.approx([0.0, 0.0], abs=1e-5)
    moved = copy.deepcopy(model)
    with torch.no_grad():
        moved.lm_head.weight.mul_(3.0)  # a sharper distribution than the reference's
    assert all(kl > 0 for kl in sampled_kl(moved, model, tokenizer, prompts, max_new_tokens=5, samples=8))
    assert sampled_kl(moved, model, tokenizer, prompts, max_new_tokens=5, seed=1) == sampled_kl(
        moved, model, tokenizer, prompts, max_new_tokens=5, seed=1)
