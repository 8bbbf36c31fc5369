"""Reward-model helpers: the pooled token, the loss against its opposite, best-of-n, calibration, heads."""

import math

import numpy as np
import pytest
import torch

from helpers import reward_models
from helpers.batching import pad_rows
from helpers.models import load_reward_model


def test_the_score_is_read_at_the_last_token_that_is_not_padding():
    rm, tokenizer = load_reward_model("tiny")
    rows = reward_models.chat_rows(tokenizer, ["Hi", "Tell me more"], ["Hello there.", "Sure"])
    assert all(tokenizer.decode(row[-2:]) == "<|im_end|>\n" for row in rows)  # the template ends each turn so
    input_ids, attention_mask = pad_rows(rows, rm.config.pad_token_id, side="right")
    index = reward_models.pooled_index(input_ids, rm.config.pad_token_id)
    assert index.tolist() == [len(row) - 1 for row in rows]  # ... and the newline after <|im_end|> is scored
    with torch.no_grad():
        direct = rm(input_ids=input_ids, attention_mask=attention_mask).logits.squeeze(-1)
        assert torch.allclose(reward_models.scores_by_hand(rm, input_ids, attention_mask), direct, atol=1e-5)
    ends_in_pad = torch.tensor([[5, 6, 7, rm.config.pad_token_id]])  # a row ending in the pad id itself
    assert reward_models.pooled_index(ends_in_pad, rm.config.pad_token_id).tolist() == [2]  # is read one early


def test_best_of_n_averages_the_top_pick_over_every_subset():
    proxy, truth = [[0.1, 0.9, 0.5]], [[1.0, 0.0, 0.5]]
    assert reward_models.best_of_n(proxy, truth, 1) == [pytest.approx(0.5)]  # n = 1 is the plain mean
    # subsets of 2: {0,1}->1 (truth 0), {0,2}->2 (0.5), {1,2}->1 (0): mean 1/6
    assert reward_models.best_of_n(proxy, truth, 2) == [pytest.approx(1 / 6)]
    assert reward_models.best_of_n(proxy, truth, 3) == [0.0]
    assert reward_models.best_of_n_kl(1) == 0.0 and reward_models.best_of_n_kl(4) == pytest.approx(math.log(4) - 0.75)
    with pytest.raises(ValueError):
        reward_models.best_of_n(proxy, truth, 4)


def test_gao_fit_recovers_its_coefficients_and_ensembles_are_conservative():
    d = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    alpha, beta = reward_models.gao_fit(d, d * (0.8 - 0.3 * d))
    assert alpha == pytest.approx(0.8) and beta == pytest.approx(0.3)
    members = np.array([[1.0, 0.0], [3.0, 0.2]])
    assert reward_models.conservative(members).tolist() == [1.0, 0.0]
    assert reward_models.conservative(members, "mean_minus_std").tolist() == pytest.approx([1.0, 0.0])


def test_reliability_bins_and_calibration_error():
    out = reward_models.reliability([0.1, 0.15, 0.9, 0.95], [False, True, True, True], bins=2)
    assert [row["n"] for row in out["bins"]] == [2, 2]
    assert out["ece"] == pytest.approx((2 * abs(0.5 - 0.125) + 2 * abs(1.0 - 0.925)) / 4)


def test_a_top_layer_head_on_cached_states_reproduces_the_model_and_learns_a_pair(mixed):
    model, _ = mixed
    rows = [[5, 17, 300, 41, 9], [8, 120, 6]]
    states = reward_models.trunk_states(model, rows, top_layers=1)
    head = reward_models.TopLayerHead(model, top_layers=1)
    with torch.no_grad():
        final = [model.model(input_ids=torch.tensor([row])).last_hidden_state[0] for row in rows]
        hidden = states[0][None]
        positions = torch.arange(hidden.shape[1])[None]
        rebuilt = head.norm(head.layers[0](hidden, position_ids=positions,
                                           position_embeddings=head.rotary(hidden, positions)))[0]
    assert torch.allclose(rebuilt, final[0], atol=1e-4)  # the cached states are exactly below the top layer
    before = head.score(states)
    reward_models.train_head(head, [states[0]] * 4, [states[1]] * 4, epochs=3, learning_rate=1e-3)
    after = head.score(states)
    assert after[0] - after[1] > before[0] - before[1]


def test_pair_accuracy_counts_per_prompt_and_ties_half():
    rows = [{"samples": ["a", "b", "c"], "scores": [1.0, 0.0, 0.0]}, {"samples": ["x", "y"], "scores": [0.5, 0.5]}]
    proxy = [[0.9, 0.1, 0.9], [0.0, 1.0]]
    assert reward_models.pair_accuracy(rows, proxy) == [pytest.approx(0.75)]  # (a>b right, a=c half); no pairs in 2
