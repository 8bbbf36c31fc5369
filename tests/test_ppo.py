"""helpers.ppo: the PPO pieces checked against hand computations, then one real step on the tiny model."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers.lm import render_prompts, sample, token_logprobs
from helpers.ppo import (
    PolicyWithValue,
    PPOSettings,
    gae,
    masked_mean,
    per_token_rewards,
    ppo_losses,
    ppo_step,
    whiten,
)


def test_settings_reject_impossible_values():
    for bad in ({"beta": -0.1}, {"gamma": 0.0}, {"lam": 1.5}, {"clip_ratio": 0.0}, {"epochs": 0}):
        with pytest.raises(ValueError):
            PPOSettings(**bad)


def test_per_token_rewards_put_the_score_on_the_last_answer_token_and_penalise_every_token():
    logprobs = torch.tensor([[0.0, -1.0, -2.0, 0.0], [0.0, -1.0, 0.0, 0.0]])
    ref = torch.tensor([[0.0, -1.5, -1.0, 0.0], [0.0, -0.5, 0.0, 0.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])  # prompt, answer..., padding
    rewards, kl = per_token_rewards(torch.tensor([1.0, -2.0]), logprobs, ref, mask, beta=0.5)
    assert torch.allclose(kl, torch.tensor([[0.0, 0.5, -1.0, 0.0], [0.0, -0.5, 0.0, 0.0]]))
    assert torch.allclose(rewards, torch.tensor([[0.0, -0.25, 0.5 + 1.0, 0.0], [0.0, 0.25 - 2.0, 0.0, 0.0]]))


def test_gae_matches_the_recursion_and_ignores_padding():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.2, 0.4, 0.7, 9.0]])  # a value on the padding position must not leak in
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    a2 = 1.0 - 0.7
    a1 = 0.0 + 0.9 * 0.7 - 0.4 + 0.9 * 0.8 * a2
    a0 = 0.0 + 0.9 * 0.4 - 0.2 + 0.9 * 0.8 * a1
    assert torch.allclose(advantages, torch.tensor([[a0, a1, a2, 0.0]]))
    assert torch.allclose(returns, torch.tensor([[a0 + 0.2, a1 + 0.4, a2 + 0.7, 0.0]]))


def test_gae_with_lambda_one_and_no_discount_is_score_minus_value():
    rewards = torch.tensor([[0.0, 0.0, 3.0]])
    values = torch.tensor([[1.0, 2.0, 0.5]])
    advantages, returns = gae(rewards, values, torch.ones(1, 3), gamma=1.0, lam=1.0)
    assert torch.allclose(advantages, 3.0 - values)
    assert torch.allclose(returns, torch.full((1, 3), 3.0))


def test_whiten_and_masked_mean_only_see_masked_positions():
    values = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert masked_mean(values, mask).item() == pytest.approx(2.0)
    white = whiten(values, mask)
    assert white[0, :2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-4)
    assert white[0, 2].item() == 0.0


def test_clipping_stops_the_gradient_beyond_the_trust_region():
    settings = PPOSettings(clip_ratio=0.2)
    old = torch.zeros(1, 3)
    logprobs = torch.log(torch.tensor([[1.5, 1.1, 0.5]])).requires_grad_(True)  # ratios 1.5, 1.1, 0.5
    advantages = torch.tensor([[1.0, 1.0, -1.0]])
    zeros = torch.zeros(1, 3)
    losses = ppo_losses(logprobs, old, advantages, zeros, zeros, zeros, torch.ones(1, 3), settings)
    losses["policy_loss"].backward()
    grad = logprobs.grad[0]
    assert grad[0].item() == 0.0  # ratio 1.5 with a positive advantage: clipped, no more push
    assert grad[1].item() != 0.0  # ratio 1.1 is inside 1 +- 0.2: still pushed
    assert grad[2].item() == 0.0  # ratio 0.5 with a negative advantage: clipped too
    assert losses["clip_fraction"].item() == pytest.approx(2 / 3)


def test_value_loss_is_clipped_around_the_old_value():
    settings = PPOSettings(clip_value=0.2)
    values = torch.tensor([[1.0]], requires_grad=True)  # moved 1.0 from the old value 0.0
    losses = ppo_losses(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), values, torch.zeros(1, 1),
                        torch.tensor([[2.0]]), torch.ones(1, 1), settings)
    # unclipped (1 - 2)^2 = 1, clipped (0.2 - 2)^2 = 3.24: the larger, pessimistic one is kept
    assert losses["value_loss"].item() == pytest.approx(0.5 * 3.24)


def test_token_logprobs_do_not_depend_on_left_padding(mixed):
    model, tokenizer = mixed
    short, long = tokenizer(["Hello there", "A longer sentence with more words in it"])["input_ids"]
    alone = token_logprobs(model, torch.tensor([short]), torch.ones(1, len(short), dtype=torch.long))
    pad = len(long) - len(short)
    ids = torch.tensor([[tokenizer.pad_token_id] * pad + short, long])
    attn = torch.tensor([[0] * pad + [1] * len(short), [1] * len(long)])
    with torch.no_grad():
        batched = token_logprobs(model, ids, attn)
    assert torch.allclose(batched[0, pad:], alone[0], atol=1e-4)
    with torch.no_grad():
        tail = token_logprobs(model, ids, attn, start=pad + 2)  # skipping the prompt gives the same numbers
    assert torch.allclose(tail, batched[:, pad + 2:], atol=1e-5)


def test_sample_masks_exactly_the_answer_tokens(mixed):
    model, tokenizer = mixed
    torch.manual_seed(0)
    rollout = sample(model, tokenizer, ["Hi", "Tell me a long story about a dog"], max_new_tokens=6)
    prompt_lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"])
                      for t in render_prompts(tokenizer, ["Hi", "Tell me a long story about a dog"])]
    assert rollout.mask.shape == (2, rollout.input_ids.shape[1] - 1)
    assert rollout.mask.sum(1).tolist() == rollout.lengths
    assert all(1 <= n <= 6 for n in rollout.lengths)
    width = max(prompt_lengths)
    assert rollout.mask[:, : width - 1].sum().item() == 0  # no prompt position predicts an answer token
    assert rollout.start == width - 1 and rollout.mask[:, rollout.start].tolist() == [1.0, 1.0]
    assert len(rollout.texts) == 2


def test_one_ppo_step_moves_the_policy_toward_the_reward(mixed):
    model, tokenizer = mixed
    reference = copy.deepcopy(model).requires_grad_(False)
    torch.manual_seed(0)
    policy = PolicyWithValue(copy.deepcopy(model).requires_grad_(True))
    before = [p.detach().clone() for p in policy.model.parameters()]
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    seen = []

    def reward(prompts, texts):
        seen.append((list(prompts), list(texts)))
        return [float(len(t)) for t in texts]

    stats = ppo_step(policy, reference, tokenizer, optimizer, ["Hi", "Hello", "Why?", "Count"], reward,
                     PPOSettings(max_new_tokens=4, beta=0.1))
    assert set(stats) >= {"score", "kl", "length", "policy_loss", "value_loss", "clip_fraction", "approx_kl", "texts"}
    assert seen[0][0] == ["Hi", "Hello", "Why?", "Count"] and len(seen) == 1
    assert stats["kl"] == pytest.approx(0.0, abs=1e-4)  # the rollout came from a copy of the reference
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.model.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), model.parameters(), strict=True))


def test_train_repeats_the_step_on_seeded_batches_and_measures_on_schedule(mixed):
    from helpers.ppo import train

    model, tokenizer = mixed
    reference = copy.deepcopy(model).requires_grad_(False)
    prompts = ["Hi", "Hello", "Why?", "Count", "Name one"]
    measured = []

    def measure(policy_model, step):
        measured.append(step)
        return {"step": step}

    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        policy = PolicyWithValue(copy.deepcopy(model).requires_grad_(True))
        runs.append(train(policy, reference, tokenizer, prompts, lambda p, t: [1.0] * len(t),
                          PPOSettings(max_new_tokens=3), steps=3, batch_size=2, learning_rate=1e-4, measure=measure,
                          eval_every=2))
    log, curve = runs[0]
    assert [entry["step"] for entry in log] == [1, 2, 3] and all(len(entry["prompts"]) == 2 for entry in log)
    assert [point["step"] for point in curve] == [0, 2, 3] and measured == [0, 2, 3, 0, 2, 3]
    assert [entry["prompts"] for entry in log] == [entry["prompts"] for entry in runs[1][0]]  # same batches
    with pytest.raises(ValueError, match="batch_size"):
        train(policy, reference, tokenizer, prompts, lambda p, t: [0.0] * len(t), PPOSettings(), steps=1,
              batch_size=9, learning_rate=1e-4)


@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_a_ppo_step_moves_a_token_the_way_its_advantage_says(mixed, advantage):
    """The direction test: a good token (positive advantage) becomes likelier, a bad one rarer. With the policy
    loss negated this fails for both signs."""
    model, _ = mixed
    policy = copy.deepcopy(model).requires_grad_(True)
    ids = torch.tensor([[5, 17, 300, 41, 9, 77, 12]])
    attn = torch.ones_like(ids)
    mask = torch.ones(1, ids.shape[1] - 1)
    advantages = torch.zeros(1, ids.shape[1] - 1)
    advantages[0, 2] = advantage
    with torch.no_grad():
        old = token_logprobs(policy, ids, attn)
    zeros = torch.zeros_like(old)
    loss = ppo_losses(token_logprobs(policy, ids, attn), old, advantages, zeros, zeros, zeros, mask,
                      PPOSettings())["policy_loss"]
    loss.backward()
    with torch.no_grad():
        for param in policy.parameters():
            param -= 1e-3 * param.grad
        new = token_logprobs(policy, ids, attn)
    assert (new[0, 2] - old[0, 2]) * advantage > 0


def test_the_kl_penalty_charges_a_token_the_policy_made_likelier_than_the_reference():
    logprobs = torch.tensor([[-1.0, -0.5, -2.0]])
    ref = torch.tensor([[-1.0, -1.5, -1.0]])  # token 2 likelier than the reference, token 3 rarer
    rewards, kl = per_token_rewards(torch.tensor([0.0]), logprobs, ref, torch.ones(1, 3), beta=0.1)
    assert rewards[0, 1] < 0 < rewards[0, 2] and rewards[0, 0] == 0 and kl[0, 1] == pytest.approx(1.0)
