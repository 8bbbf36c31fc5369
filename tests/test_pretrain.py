"""helpers.pretrain: full-row packing, a seeded base model, per-token loss, mask rendering, cache."""

import json

import pytest
import torch

from helpers.models import cache_problem, load_tokenizer
from helpers.pretrain import (
    build_llama,
    mask_markup,
    pack_rows,
    save_to_cache,
    token_losses,
)

SMALL = dict(hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64, max_positions=128)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny")


def test_rows_are_full_and_keep_the_stream_in_order():
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    packed = pack_rows(docs, row_length=4, separator=[0])
    assert packed.rows == [[1, 2, 3, 0], [4, 5, 0, 6], [7, 8, 9, 0]]
    assert packed.stream_tokens == 12 and packed.dropped_tokens == 0 and packed.tokens == 12


def test_the_unfilled_tail_is_counted_not_hidden():
    packed = pack_rows([[1, 2, 3, 4, 5]], row_length=2)
    assert packed.rows == [[1, 2], [3, 4]]
    assert packed.dropped_tokens == 1


@pytest.mark.parametrize(("docs", "length", "message"), [
    ([[1, 2], []], 2, "document 1 has no tokens"),
    ([[1, 2, 3]], 1, "row_length must be at least 2"),
    ([[1, 2]], 8, "do not fill a single row"),
])
def test_bad_packing_input_is_explained(docs, length, message):
    with pytest.raises(ValueError, match=message):
        pack_rows(docs, row_length=length)


def test_same_seed_same_model_and_no_zeroed_special_token(tokenizer):
    a = build_llama(tokenizer, seed=3, **SMALL)
    b = build_llama(tokenizer, seed=3, **SMALL)
    c = build_llama(tokenizer, seed=4, **SMALL)
    wa, wb, wc = (m.get_input_embeddings().weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert a.get_output_embeddings().weight is wa  # tied
    assert wa[tokenizer.eos_token_id].norm() > 0  # the pad/EOS row is initialised like every other token


def test_token_losses_average_to_the_model_loss(tokenizer):
    model = build_llama(tokenizer, seed=1, **SMALL).eval()
    ids = tokenizer("Alpha studied at Beta College.", add_special_tokens=False)["input_ids"]
    losses = token_losses(model, ids)
    assert len(losses) == len(ids) - 1
    with torch.no_grad():
        expected = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    assert sum(losses) / len(losses) == pytest.approx(expected, rel=1e-5)


def test_mask_markup_brackets_each_trained_run(tokenizer):
    ids = tokenizer("a b c d", add_special_tokens=False)["input_ids"]
    assert mask_markup(tokenizer, ids, [0, 1, 0, 1]) == "a⟦ b⟧ c⟦ d⟧"
    with pytest.raises(ValueError, match="4 tokens but 3 mask entries"):
        mask_markup(tokenizer, ids, [0, 1, 1])


def test_save_to_cache_replaces_an_older_copy(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNING_LAB_CACHE", str(tmp_path))
    first = save_to_cache(build_llama(tokenizer, seed=0, **SMALL), tokenizer, "world-base-test", {"seed": 0})
    second = save_to_cache(build_llama(tokenizer, seed=1, **SMALL), tokenizer, "world-base-test", {"seed": 1})
    assert first == second == tmp_path / "world-base-test"
    assert cache_problem(second) is None
    assert json.loads((second / "world.json").read_text()) == {"seed": 1}
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(second)
    assert torch.equal(reloaded.get_input_embeddings().weight,
                       build_llama(tokenizer, seed=1, **SMALL).get_input_embeddings().weight)
