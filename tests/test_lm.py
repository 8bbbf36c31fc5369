"""The log-probability layer every loss and measurement stands on, checked against hand computations."""

import math

import pytest
import torch

from helpers import lm
from helpers.batching import pad_rows


def _hand_logprobs(model, ids: list[int]) -> torch.Tensor:
    """log p(token t+1 | tokens <= t) for one unpadded row, straight from the model's logits."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits, -1)[:-1].gather(-1, torch.tensor(ids[1:])[:, None]).squeeze(-1)


def test_gather_logprobs_is_the_log_softmax_entry():
    logits = torch.randn(2, 5, 11)
    targets = torch.randint(0, 11, (2, 5))
    expected = torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)
    assert torch.allclose(lm.gather_logprobs(logits, targets), expected, atol=1e-6)


@pytest.mark.parametrize("side", ["right", "left"])
def test_token_logprobs_match_each_row_alone_whatever_the_padding(mixed, side):
    model, _ = mixed
    rows = [[5, 17, 300, 41, 9, 77], [8, 120, 6]]
    input_ids, attention_mask = pad_rows(rows, 0, side=side)
    with torch.no_grad():
        got = lm.token_logprobs(model, input_ids, attention_mask)
    for i, row in enumerate(rows):
        real = (attention_mask[i, 1:] * attention_mask[i, :-1]).bool()  # a real token predicting a real token
        assert torch.allclose(got[i][real], _hand_logprobs(model, row), atol=1e-5)


def test_start_skips_the_prompt_columns_and_hidden_states_are_the_final_normed_ones(mixed):
    model, _ = mixed
    input_ids, attention_mask = pad_rows([[5, 17, 300, 41, 9, 77]], 0, side="right")
    with torch.no_grad():
        full = lm.token_logprobs(model, input_ids, attention_mask)
        tail, hidden = lm.token_logprobs(model, input_ids, attention_mask, start=3, hidden=True)
        final = model.model(input_ids=input_ids).last_hidden_state
    assert torch.allclose(tail, full[:, 3:], atol=1e-6)
    assert torch.allclose(hidden, final[:, 3:-1], atol=1e-5)


def test_sequence_logprobs_sum_and_mean_over_the_mask():
    logprobs = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -4.0]])
    mask = torch.tensor([[0, 1, 1], [1, 0, 0]])
    assert lm.sequence_logprobs(logprobs, mask, "sum").tolist() == [-5.0, -0.5]
    assert lm.sequence_logprobs(logprobs, mask, "mean").tolist() == [-2.5, -0.5]
    with pytest.raises(ValueError, match="reduce"):
        lm.sequence_logprobs(logprobs, mask, "max")


def test_answer_logprobs_match_a_direct_forward_pass(mixed):
    model, tokenizer = mixed
    prompts, answers = ["Where was Ana born?", "Hi"], ["Kraemor", "Hello there"]
    scores = lm.answer_logprobs(model, tokenizer, prompts, answers, reduce="sum", batch_size=1)
    batched = lm.answer_logprobs(model, tokenizer, prompts, answers, reduce="sum", batch_size=2)  # right padding
    assert scores == pytest.approx(batched, abs=1e-4)
    text = lm.render_prompts(tokenizer, prompts[:1])[0]
    p = tokenizer(text, add_special_tokens=False)["input_ids"]
    a = tokenizer(answers[0], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([p + a])).logits[0].float(), dim=-1)
    direct = sum(float(logp[len(p) - 1 + i, token]) for i, token in enumerate(a))
    assert scores[0] == pytest.approx(direct, abs=1e-4)
    mean = lm.answer_logprobs(model, tokenizer, prompts[:1], answers[:1])[0]
    assert mean == pytest.approx(direct / len(a), abs=1e-5) and mean < 0 and math.isfinite(mean)


def test_answer_logprobs_reject_bad_input(mixed):
    model, tokenizer = mixed
    with pytest.raises(ValueError, match="no tokens"):
        lm.answer_logprobs(model, tokenizer, ["q"], [""])
    with pytest.raises(ValueError, match="prompts but"):
        lm.answer_logprobs(model, tokenizer, ["q", "r"], ["a"])
    with pytest.raises(ValueError, match="reduce"):
        lm.answer_logprobs(model, tokenizer, ["q"], ["a"], reduce="max")


def test_token_logprobs_carry_gradients_for_losses(mixed):
    model, _ = mixed
    input_ids, attention_mask = pad_rows([[5, 17, 300, 41]], 0, side="right")
    lm.token_logprobs(model, input_ids, attention_mask).sum().backward()
    assert model.lm_head.weight.grad is not None and model.lm_head.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_pad_token_falls_back_to_eos_and_says_when_neither_exists():
    class Tok:
        pad_token_id, eos_token_id = None, 7

    assert lm.pad_token_id(Tok()) == 7
    Tok.eos_token_id = None
    with pytest.raises(ValueError, match="neither a pad nor an EOS"):
        lm.pad_token_id(Tok())
