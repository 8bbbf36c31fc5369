"""Scoring responses with a reward model, and win rates between two systems.

A reward model here is an ``AutoModelForSequenceClassification`` with ``num_labels=1``, as TRL's
``RewardTrainer`` trains it. transformers computes its score at the *last non-padding token* of each
row: the rightmost position whose id differs from ``config.pad_token_id``. We pad on the right with
exactly that id, so the pooled position is the true end of each conversation and the positions of
real tokens are the same as in an unpadded run. (The classification forward does not rebuild
position ids from the attention mask, so left padding would shift them: harmless for rotary
embeddings such as Llama's, which only see relative positions, but not for absolute ones.) The
result does not depend on the tokenizer's ``padding_side`` or on which texts share a batch; a
test checks it.

One caveat comes from that pooling rule itself, not from this code: when the pad id is also the EOS
id (SmolLM2: ``<|im_end|>``) a text that *ends* in EOS is scored at the token before it. SmolLM2's
chat template ends each turn with ``<|im_end|>\\n``, so the last token is the newline and the caveat
does not bite; the training side (TRL) pools the same way, so scores stay consistent with training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from helpers.batching import pad_rows
from helpers.modes import EvalMode


def _render(tokenizer: Any, prompt: str, response: str, system: str | None) -> str:
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return tokenizer.apply_chat_template(messages, tokenize=False)


def score_with_reward_model(rm: Any, tokenizer: Any, prompts: Sequence[str], responses: Sequence[str],
                            batch_size: int = 8, *, system: str | None = None,
                            max_length: int | None = None) -> list[float]:
    """The reward model's scalar score for each (prompt, response), chat-templated as one exchange.

    ``max_length`` cuts long conversations from the right (the score is then taken at the cut).
    """
    if len(prompts) != len(responses):
        raise ValueError(f"got {len(prompts)} prompts but {len(responses)} responses")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pad_id = rm.config.pad_token_id
    if pad_id is None:
        raise ValueError("the reward model's config has no pad_token_id, so it cannot find the last token of "
                         "a padded row; set rm.config.pad_token_id = tokenizer.pad_token_id")
    if getattr(rm.config, "num_labels", 1) != 1:
        raise ValueError(f"expected a reward model with num_labels=1, got {rm.config.num_labels}")
    texts = [_render(tokenizer, p, r, system) for p, r in zip(prompts, responses, strict=True)]
    device = next(rm.parameters()).device
    scores: list[float] = []
    with EvalMode(rm), torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = tokenizer(texts[start:start + batch_size], add_special_tokens=False,
                             truncation=max_length is not None, max_length=max_length)["input_ids"]
            input_ids, attention_mask = pad_rows(rows, pad_id, side="right")
            logits = rm(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
            scores.extend(logits[:, 0].float().cpu().tolist())
    return scores


def win_rate(scores_a: Sequence[float], scores_b: Sequence[float], *,
             tie_tolerance: float = 0.0) -> dict[str, float]:
    """Shares of items where A scores higher (win), within ``tie_tolerance`` (tie) or lower (loss) than B."""
    if len(scores_a) != len(scores_b):
        raise ValueError(f"got {len(scores_a)} scores for A but {len(scores_b)} for B")
    if not scores_a:
        raise ValueError("win_rate needs at least one pair of scores")
    if tie_tolerance < 0:
        raise ValueError(f"tie_tolerance must be >= 0, got {tie_tolerance}")
    wins = ties = 0
    for a, b in zip(scores_a, scores_b, strict=True):
        if abs(a - b) <= tie_tolerance:
            ties += 1
        elif a > b:
            wins += 1
    n = len(scores_a)
    return {"win": wins / n, "tie": ties / n, "loss": (n - wins - ties) / n}


def pairwise_win_rate(prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str],
                      judge: Callable[[str, str], float], *, tie_tolerance: float = 0.0) -> dict[str, float]:
    """Win rate of A over B when ``judge(prompt, response)`` scores each response on its own.

    The judge can be programmatic (a constraint checker returning 0/1, a unit-test pass) or a
    wrapper around a reward model.
    """
    if not len(prompts) == len(responses_a) == len(responses_b):
        raise ValueError(f"lengths differ: {len(prompts)} prompts, {len(responses_a)} A responses, "
                         f"{len(responses_b)} B responses")
    scores_a = [float(judge(p, r)) for p, r in zip(prompts, responses_a, strict=True)]
    scores_b = [float(judge(p, r)) for p, r in zip(prompts, responses_b, strict=True)]
    return win_rate(scores_a, scores_b, tie_tolerance=tie_tolerance)
