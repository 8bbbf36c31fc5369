"""Reward models in depth: where the score is read, heads on a frozen trunk, ensembles, best-of-n, calibration.

A reward model is a language model whose vocabulary head is replaced by one scalar output (transformers'
``AutoModelForSequenceClassification`` with ``num_labels=1``), trained on pairs with the Bradley-Terry loss
(:func:`helpers.losses.bradley_terry`). Four things about it decide whether it can be trusted, and each has
a function here:

* **Which token is scored.** transformers reads the score at the rightmost token that is not the pad id
  (:func:`pooled_index`). SmolLM2 pads with its end-of-turn token ``<|im_end|>``, so a chat row ending
  ``<|im_end|>\\n`` is scored on the final newline: a position that has seen the whole answer. A row that
  ended in the pad token itself would be scored one token early; :func:`scores_by_hand` recomputes the
  score from the hidden state at that position, so a test can hold the rule.
* **How sure it is.** :func:`reliability` bins predicted preference probabilities ``σ(r_a - r_b)`` and
  compares them with how often the ground truth agreed (a reliability diagram and its expected
  calibration error).
* **What it rewards when pushed.** Best-of-n sampling against a reward model needs no training: of ``n``
  answers keep the one it scores highest. :func:`best_of_n` gives the expected score of that pick under any
  scorer (the proxy itself, or the ground truth), exactly, from ``N >= n`` samples per prompt;
  :func:`best_of_n_kl` its KL from the sampling policy, ``log n - (n-1)/n``; :func:`gao_fit` fits Gao et
  al.'s ``R(d) = d (alpha - beta d)`` with ``d = sqrt(KL)`` (arXiv 2210.10760).
* **Whether several agree.** Training many full reward models is the expensive way to an ensemble. On a CPU
  the course shares the trunk: :func:`trunk_states` runs the frozen lower layers once per text, and each
  :class:`TopLayerHead` (the top decoder layers, copied, the final norm and a fresh scalar head) is trained
  on those cached states (:func:`train_head`), so a member costs a small fraction of a reward model.
  :func:`conservative` combines members as Coste et al. do (worst case, or mean minus spread; arXiv
  2310.02743).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from helpers.batching import pad_rows
from helpers.lm import device_of
from helpers.losses import bradley_terry
from helpers.modes import EvalMode

# ---------------------------------------------------------------- the pooled token


def pooled_index(input_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Per row, the position transformers reads a sequence-classification score from: the rightmost token
    whose id is not ``pad_id`` (0 for a row of padding only)."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    return ((input_ids != pad_id) * positions).argmax(-1)


def scores_by_hand(rm: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """A reward model's scores recomputed from its trunk: the final hidden state at :func:`pooled_index`,
    through the scalar head. Equal to ``rm(...).logits`` when the pooling rule is the one described."""
    device = device_of(rm)
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    hidden = rm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    index = pooled_index(input_ids, rm.config.pad_token_id)
    return rm.score(hidden[torch.arange(len(index), device=device), index]).squeeze(-1)


def chat_rows(tokenizer: Any, prompts: Sequence[str], answers: Sequence[str]) -> list[list[int]]:
    """Token ids of each (prompt, answer) as one chat exchange, exactly as TRL's RewardTrainer tokenises them."""
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": a}],
                                          tokenize=True)["input_ids"] for p, a in zip(prompts, answers, strict=True)]


# ---------------------------------------------------------------- calibration and best-of-n


def pair_accuracy(rows: Sequence[dict], proxy: Sequence[Sequence[float]]) -> list[float]:
    """Per prompt with at least one pair, the share of its pairs a proxy orders like the truth (ties half).

    ``rows`` carry ``samples`` and their true ``scores``; ``proxy[j][i]`` scores sample ``i`` of prompt ``j``.
    A pair is two different answers whose true scores differ. Pairs of one prompt share answers, so the
    per-prompt accuracies, not the pairs, are the independent items a confidence interval may count.
    """
    out = []
    for row, scores in zip(rows, proxy, strict=True):
        samples, truth = row["samples"], row["scores"]
        right = [float(scores[a] > scores[b]) + 0.5 * float(scores[a] == scores[b])
                 for a in range(len(samples)) for b in range(len(samples))
                 if truth[a] > truth[b] and samples[a] != samples[b]]
        if right:
            out.append(sum(right) / len(right))
    return out


def reliability(probabilities: Sequence[float], outcomes: Sequence[bool], bins: int = 5) -> dict[str, Any]:
    """Predicted probabilities against observed frequencies in ``bins`` equal-width bins of [0, 1].

    Returns per bin its mean prediction, observed rate and count, and the expected calibration error
    (the count-weighted mean of ``|observed - predicted|``).
    """
    p, y = np.asarray(probabilities, dtype=float), np.asarray(outcomes, dtype=float)
    if len(p) != len(y) or not len(p):
        raise ValueError(f"need as many outcomes as probabilities, at least one; got {len(p)} and {len(y)}")
    which = np.minimum((p * bins).astype(int), bins - 1)
    table = [{"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "predicted": float(p[which == b].mean()),
              "observed": float(y[which == b].mean()), "n": int((which == b).sum())}
             for b in range(bins) if (which == b).any()]
    ece = sum(row["n"] * abs(row["observed"] - row["predicted"]) for row in table) / len(p)
    return {"bins": table, "ece": float(ece)}


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || sampling policy) = log n - (n - 1) / n, in nats (exact for distinct samples)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return math.log(n) - (n - 1) / n


def best_of_n(proxy: Sequence[Sequence[float]], value: Sequence[Sequence[float]], n: int) -> list[float]:
    """Per prompt, the expected ``value`` of the answer the ``proxy`` ranks first among ``n`` drawn without
    replacement from that prompt's ``N >= n`` samples: the average over every ``n``-subset, computed exactly.

    Sorting a prompt's samples by proxy score, the sample of rank ``i`` (1 = lowest) is the best of a random
    ``n``-subset with probability ``C(i-1, n-1) / C(N, n)``. Ties in the proxy are broken by sample order.
    """
    out = []
    for scores, values in zip(proxy, value, strict=True):
        big_n = len(scores)
        if not 1 <= n <= big_n:
            raise ValueError(f"n must be between 1 and the {big_n} samples of a prompt, got {n}")
        order = sorted(range(big_n), key=lambda i: (scores[i], -i))
        weights = [math.comb(rank, n - 1) / math.comb(big_n, n) for rank in range(big_n)]
        out.append(sum(w * values[i] for w, i in zip(weights, order, strict=True)))
    return out


def gao_fit(d: Sequence[float], gain: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(alpha, beta)`` of ``gain = d * (alpha - beta * d)``, Gao et al.'s best-of-n form."""
    x, y = np.asarray(d, dtype=float), np.asarray(gain, dtype=float)
    design = np.stack([x, -x * x], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(alpha), float(beta)


def conservative(member_scores: np.ndarray, how: Literal["worst", "mean_minus_std"] = "worst",
                 k: float = 1.0) -> np.ndarray:
    """Combine an ensemble's scores (members x answers): the worst member, or the mean minus ``k`` spreads."""
    scores = np.asarray(member_scores, dtype=float)
    if how == "worst":
        return scores.min(axis=0)
    if how == "mean_minus_std":
        return scores.mean(axis=0) - k * scores.std(axis=0)
    raise ValueError(f"how must be 'worst' or 'mean_minus_std', got {how!r}")


# ---------------------------------------------------------------- heads on a frozen trunk


@torch.no_grad()
def trunk_states(model: Any, rows: Sequence[Sequence[int]], top_layers: int,
                 batch_size: int = 16) -> list[torch.Tensor]:
    """Hidden states of each token row below the top ``top_layers`` decoder layers of a causal LM, on the CPU.

    Computed once per row; every :class:`TopLayerHead` trained or scored afterwards reads them, so the lower
    layers are never run again.
    """
    layers = model.config.num_hidden_layers
    if not 1 <= top_layers < layers:
        raise ValueError(f"top_layers must be between 1 and {layers - 1}, got {top_layers}")
    out: list[torch.Tensor] = []
    with EvalMode(model):
        for first in range(0, len(rows), batch_size):
            batch = rows[first:first + batch_size]
            input_ids, attention_mask = pad_rows(batch, 0, side="right", device=device_of(model))
            hidden = model.model(input_ids=input_ids, attention_mask=attention_mask,
                                 output_hidden_states=True).hidden_states[layers - top_layers]
            out += [hidden[i, :len(row)].float().cpu() for i, row in enumerate(batch)]
    return out


class TopLayerHead(nn.Module):
    """A reward model's top: the last ``top_layers`` decoder layers of ``model`` (copied), its final norm, and a
    fresh scalar head, scoring each row at its last token from cached :func:`trunk_states`."""

    def __init__(self, model: Any, top_layers: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in model.model.layers[-top_layers:])
        self.norm = copy.deepcopy(model.model.norm)
        self.rotary = copy.deepcopy(model.model.rotary_emb)
        self.head = nn.Linear(model.config.hidden_size, 1, bias=False)
        nn.init.normal_(self.head.weight, std=1 / math.sqrt(model.config.hidden_size))
        self.float().requires_grad_(True)

    def forward(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        """Scores of a batch of rows given as per-row trunk states ``(length, hidden)``."""
        lengths = torch.tensor([len(s) for s in states])
        hidden = nn.utils.rnn.pad_sequence(list(states), batch_first=True)  # right-padded; causal attention
        positions = torch.arange(hidden.shape[1])[None].expand(len(states), -1)  # never lets a token see padding
        embeddings = self.rotary(hidden, positions)
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=None, position_ids=positions, position_embeddings=embeddings)
        hidden = self.norm(hidden)
        return self.head(hidden[torch.arange(len(states)), lengths - 1]).squeeze(-1)

    @torch.no_grad()
    def score(self, states: Sequence[torch.Tensor], batch_size: int = 32) -> list[float]:
        with EvalMode(self):
            return [float(x) for first in range(0, len(states), batch_size)
                    for x in self(states[first:first + batch_size])]


def train_head(head: TopLayerHead, chosen: Sequence[torch.Tensor], rejected: Sequence[torch.Tensor], *,
               epochs: int = 2, batch_size: int = 8, learning_rate: float = 5e-5, seed: int = 0) -> list[float]:
    """Fit ``head`` on pairs of trunk states with the Bradley-Terry loss; returns the loss of every step."""
    if len(chosen) != len(rejected) or not chosen:
        raise ValueError(f"need as many chosen as rejected rows, at least one; got {len(chosen)}, {len(rejected)}")
    optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=0.0)
    order, rng, losses = list(range(len(chosen))), random.Random(seed), []
    head.train()
    for _ in range(epochs):
        rng.shuffle(order)
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            loss = bradley_terry(head([chosen[i] for i in batch]), head([rejected[i] for i in batch]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    head.eval()
    return losses
