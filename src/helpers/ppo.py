"""A readable PPO for language models: the RLHF recipe (InstructGPT, arXiv 2203.02155) on PPO (arXiv 1707.06347).

TRL 1.16 no longer ships a PPO trainer, and the lesson is the algorithm itself, so it is written out here in
small pieces, each a function a notebook can call and a test can check:

1. :func:`helpers.lm.sample` draws one response per prompt from the current policy (plain sampling at temperature 1,
   no top-k/top-p, so the tokens come from the distribution whose log-probabilities PPO uses).
2. The reward function (a learned reward model or a programmatic grader) gives one score per response.
3. :func:`helpers.lm.token_logprobs` evaluates the rollout without gradients: the policy's log-probabilities and values,
   and the frozen reference model's log-probabilities.
4. :func:`per_token_rewards`: a KL penalty ``-beta * (log pi - log pi_ref)`` on every response token, the
   score added on the last one.
5. :func:`gae`: generalised advantage estimation (arXiv 1506.02438) turns rewards and values into advantages
   and value targets.
6. :func:`ppo_losses`: the clipped policy loss and the clipped value loss, for a few epochs of minibatches.

:func:`ppo_step` strings the six together, and :func:`train` repeats it over batches of prompts.
Tensors are ``(batch, positions)`` where position ``t`` predicts
token ``t + 1`` of the padded sequence; ``mask`` is 1 exactly on the positions that predict a response
token (up to and including the first EOS), so prompt and padding never carry reward, loss or KL. Prompts
are left-padded, so every answer starts at one column (``Rollout.start``) and the step computes
log-probabilities, values, rewards and advantages from that column on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from helpers.lm import Prompt, device_of, sample, token_logprobs


@dataclass(frozen=True)
class PPOSettings:
    """The knobs of one PPO step; the defaults are the usual RLHF ones at small scale."""

    beta: float = 0.05  # weight of the per-token KL penalty to the reference model
    gamma: float = 1.0  # no discount inside a response: the score arrives at its end
    lam: float = 0.95  # GAE's bias/variance trade-off
    clip_ratio: float = 0.2  # how far one update may move the probability ratio
    clip_value: float = 0.2  # the same for the value prediction
    vf_coef: float = 0.1  # weight of the value loss beside the policy loss (they share the network)
    epochs: int = 2  # passes over one rollout
    minibatches: int = 2  # each pass in this many slices
    max_new_tokens: int = 32
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.beta < 0 or not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError(f"need beta >= 0, 0 < gamma <= 1, 0 <= lam <= 1; got {self}")
        if self.clip_ratio <= 0 or self.clip_value <= 0 or self.epochs < 1 or self.minibatches < 1:
            raise ValueError(f"clip ranges must be > 0 and epochs, minibatches >= 1; got {self}")


class PolicyWithValue(nn.Module):
    """A causal LM and a linear value head on its last hidden state (one network, two outputs).

    Sharing the trunk halves the memory of a separate value model; ``vf_coef`` keeps the value loss from
    dominating the shared weights.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.value_head = nn.Linear(model.config.hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)  # start by predicting 0 for every state: no made-up values
        nn.init.zeros_(self.value_head.bias)
        self.value_head.to(device_of(model))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logprobs, values)``, both ``(batch, length - 1 - start)``: see :func:`helpers.lm.token_logprobs`."""
        logprobs, hidden = token_logprobs(self.model, input_ids, attention_mask, start=start, hidden=True)
        return logprobs, self.value_head(hidden).squeeze(-1).float()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over the masked positions (zero elsewhere): one scale for every batch."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(var + 1e-8) * mask


def per_token_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                      mask: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rewards, kl)``: ``-beta * kl`` on every response token and the score on the last one.

    ``kl`` is the per-token estimate ``log pi - log pi_ref`` of the sampled token: its sum over a response
    is an unbiased estimate of KL(pi || pi_ref) for that prompt.
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -beta * kl
    last = mask.shape[1] - 1 - mask.flip(1).argmax(1)  # the last response position of each row
    rewards[torch.arange(len(scores)), last] += scores.to(rewards)
    return rewards, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(advantages, returns)`` by generalised advantage estimation, right to left over each response.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``; past the last
    response token the episode is over, so ``V`` and ``A`` beyond it count as 0. Returns are ``A + V``,
    the value head's regression targets.
    """
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros(rewards.shape[0], device=rewards.device)
    next_advantage = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[1])):
        live = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_advantage) * live
        next_value = values[:, t] * live  # a padded position hands 0 to the one before it
        next_advantage = advantages[:, t]
    return advantages, (advantages + values) * mask


def ppo_losses(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
               values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               settings: PPOSettings) -> dict[str, torch.Tensor]:
    """Clipped surrogate policy loss and clipped value loss (masked means), with two diagnostics.

    The ratio ``pi / pi_old`` is clipped to ``1 +- clip_ratio`` and the pessimistic (larger) of the clipped
    and unclipped losses is kept, so one rollout cannot push the policy far. ``clip_fraction`` is the share of
    tokens where clipping was active; ``approx_kl`` the mean ``log pi_old - log pi`` (how far this update went).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    policy = torch.max(-advantages * ratio,
                       -advantages * ratio.clamp(1 - settings.clip_ratio, 1 + settings.clip_ratio))
    clipped_values = old_values + (values - old_values).clamp(-settings.clip_value, settings.clip_value)
    value = 0.5 * torch.max((values - returns) ** 2, (clipped_values - returns) ** 2)
    return {
        "policy_loss": masked_mean(policy, mask),
        "value_loss": masked_mean(value, mask),
        "clip_fraction": masked_mean(((ratio - 1).abs() > settings.clip_ratio).float(), mask),
        "approx_kl": masked_mean(old_logprobs - logprobs, mask),
    }


RewardFn = Callable[[Sequence[Prompt], list[str]], Sequence[float]]


def ppo_step(policy: PolicyWithValue, ref: nn.Module, tokenizer: Any, optimizer: torch.optim.Optimizer,
             prompts: Sequence[Prompt], reward_fn: RewardFn, settings: PPOSettings) -> dict[str, Any]:
    """One PPO iteration on ``prompts``: sample, score, evaluate, advantages, ``epochs`` x ``minibatches``
    updates. Returns the step's numbers (mean score, KL per response, response length, losses) and texts.
    """
    rollout = sample(policy.model, tokenizer, prompts, max_new_tokens=settings.max_new_tokens)
    scores = torch.tensor([float(s) for s in reward_fn(prompts, rollout.texts)])
    ids, attn, start = rollout.input_ids, rollout.attention_mask, rollout.start
    mask = rollout.mask[:, start:]  # from here on, tensors cover the answer positions only
    with torch.no_grad():
        old_logprobs, old_values = policy(ids, attn, start)
        ref_logprobs = token_logprobs(ref, ids, attn, start=start)
    rewards, kl = per_token_rewards(scores, old_logprobs, ref_logprobs, mask, settings.beta)
    advantages, returns = gae(rewards, old_values, mask, settings.gamma, settings.lam)
    advantages = whiten(advantages, mask)
    logs: list[dict[str, float]] = []
    for _ in range(settings.epochs):
        for rows in torch.randperm(len(prompts)).chunk(settings.minibatches):
            logprobs, values = policy(ids[rows], attn[rows], start)
            losses = ppo_losses(logprobs, old_logprobs[rows], advantages[rows], values, old_values[rows],
                                returns[rows], mask[rows], settings)
            loss = losses["policy_loss"] + settings.vf_coef * losses["value_loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), settings.max_grad_norm)
            optimizer.step()
            logs.append({k: float(v.detach()) for k, v in losses.items()})
    return {
        "score": float(scores.mean()),
        "kl": float(kl.sum(1).mean()),
        "length": sum(rollout.lengths) / len(rollout.lengths),
        **{k: sum(log[k] for log in logs) / len(logs) for k in logs[0]},
        "texts": rollout.texts,
    }


Measure = Callable[[nn.Module, int], dict[str, Any]]


def train(policy: PolicyWithValue, ref: nn.Module, tokenizer: Any, prompts: Sequence[Prompt], reward_fn: RewardFn,
          settings: PPOSettings, *, steps: int, batch_size: int, learning_rate: float, seed: int = 0,
          measure: Measure | None = None, eval_every: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """PPO for ``steps`` iterations, each on ``batch_size`` prompts drawn (seeded) from ``prompts``.

    Returns ``(steps_log, curve)``: per step the numbers :func:`ppo_step` returns plus the step, its
    prompts and answers; and ``measure(model, step)`` at the start, every ``eval_every`` steps and at the
    end (an empty curve without ``measure``). The same seed gives every arm the same prompt batches.
    """
    if steps < 1 or not 1 <= batch_size <= len(prompts):
        raise ValueError(f"need steps >= 1 and 1 <= batch_size <= {len(prompts)} prompts; got {steps}, {batch_size}")
    optimizer = torch.optim.AdamW(policy.parameters(), lr=learning_rate, weight_decay=0.0)
    batches = random.Random(seed)
    log: list[dict[str, Any]] = []
    curve = [measure(policy.model, 0)] if measure else []
    for step in range(1, steps + 1):
        batch = batches.sample(list(prompts), batch_size)
        log.append({"step": step, "prompts": batch, **ppo_step(policy, ref, tokenizer, optimizer, batch, reward_fn,
                                                              settings)})
        if measure and ((eval_every and step % eval_every == 0) or step == steps):
            curve.append(measure(policy.model, step))
    return log, curve
