"""helpers.lm's one generation loop, seen through generate_until_stop: stop detection, padding, batching.

:func:`generate_until_stop` and :func:`generate` share the loop, so what they generate from the same
raw prompt must agree token for token; only how each cuts and decodes the ids differs.
"""

import pytest
import torch

from helpers.lm import Completion, generate, generate_until_stop, stop_rate
from helpers.models import load_tokenizer
from helpers.pretrain import build_llama

SMALL = dict(hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64, max_positions=128)
PROMPTS = ["Hi", "Alpha was born in the city of", "one two"]  # different lengths: batches are left-padded


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny")


def _constant_model(tokenizer):
    """A model whose logits are all zero, so greedy decoding always picks token id 0 (<|endoftext|>)."""
    model = build_llama(tokenizer, seed=0, **SMALL)
    with torch.no_grad():
        model.model.norm.weight.zero_()
    return model


def test_stop_is_detected_only_for_the_given_stop_tokens(tokenizer):
    model = _constant_model(tokenizer)
    prompts = ["Alpha was born in", "Hi"]
    stopped = generate_until_stop(model, tokenizer, prompts, max_new_tokens=5, stop_ids=[0, 2], batch_size=2)
    assert [c.stopped for c in stopped] == [True, True]
    assert [c.new_tokens for c in stopped] == [1, 1] and stopped[0].text == "<|endoftext|>"
    running = generate_until_stop(model, tokenizer, prompts, max_new_tokens=5, stop_ids=[2], batch_size=1)
    assert [c.stopped for c in running] == [False, False] and [c.new_tokens for c in running] == [5, 5]
    assert stop_rate(stopped + running) == 0.5


def test_stop_rate_and_bad_generation_input_are_explained(tokenizer):
    model = _constant_model(tokenizer)
    with pytest.raises(ValueError, match="no completions"):
        stop_rate([])
    with pytest.raises(ValueError, match="stop_ids is empty"):
        generate_until_stop(model, tokenizer, ["x"], max_new_tokens=2, stop_ids=[])
    with pytest.raises(ValueError, match="batch_size and max_new_tokens must be >= 1"):
        generate_until_stop(model, tokenizer, ["x"], max_new_tokens=2, stop_ids=[0], batch_size=0)
    with pytest.raises(ValueError, match="positions \\[1\\] encode to no tokens"):
        generate_until_stop(model, tokenizer, ["x", ""], max_new_tokens=2, stop_ids=[0])
    assert stop_rate([Completion("a", True, 1), Completion("b", False, 4)]) == 0.5


def test_until_stop_agrees_with_generate_and_does_not_depend_on_batching(mixed):
    model, tokenizer = mixed
    eos = [tokenizer.eos_token_id]
    batched = generate_until_stop(model, tokenizer, PROMPTS, max_new_tokens=8, stop_ids=eos, batch_size=3)
    alone = generate_until_stop(model, tokenizer, PROMPTS, max_new_tokens=8, stop_ids=eos, batch_size=1)
    assert batched == alone
    texts = generate(model, tokenizer, PROMPTS, max_new_tokens=8, chat=False, progress=False)
    assert [c.text for c in batched] == texts  # no row stopped, so no stop token to tell them apart
    assert len(set(texts)) == len(texts)  # the prompts really led to different completions


def test_a_row_is_cut_after_its_first_stop_token(mixed):
    model, tokenizer = mixed
    [full] = generate_until_stop(model, tokenizer, PROMPTS[:1], max_new_tokens=8, stop_ids=[tokenizer.eos_token_id])
    ids = tokenizer(full.text, add_special_tokens=False)["input_ids"]
    [cut] = generate_until_stop(model, tokenizer, PROMPTS[:1], max_new_tokens=8, stop_ids=[ids[2]])
    assert cut.stopped and cut.new_tokens == 3
    assert cut.text == tokenizer.decode(ids[:3])
