"""Drift: how far a fine-tuned model has moved from where it started, measured on held-out text.

Two smooth, sensitive measures of forgetting, both teacher-forced on fixed texts (no sampling, so
there is no noise from generation):

* :func:`mean_token_kl`: the mean per-token KL divergence between the next-token distributions of
  the tuned model and a reference (usually the starting checkpoint).
* :func:`perplexity`: ``exp`` of the mean negative log-likelihood of the texts' tokens.

Both pad on the right (the positions of real tokens then match an unpadded run) and mask the
padding, weigh every real token equally (a long text counts more than a short one), and work one
batch at a time: a ``batch x length x 49k`` logits tensor is ~400 MB in fp32 for 8 x 256 tokens, so
logits are reduced to a few numbers per batch and freed before the next.

A prompt-tuned PEFT model prepends its virtual tokens inside ``forward``, so its logits have more
positions than the input and no position-by-position measure lines up; :class:`RealPositionLogits`
drops the virtual positions so the soft prompt still conditions every real token but only real
tokens are compared.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F

from helpers import lm
from helpers.batching import pad_rows
from helpers.modes import EvalMode


def _batches(tokenizer: Any, texts: Sequence[str], batch_size: int,
             max_length: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Right-padded ``(input_ids, attention_mask)`` batches on the CPU, texts cut at ``max_length``."""
    if batch_size < 1 or max_length < 1:
        raise ValueError(f"batch_size and max_length must be >= 1, got {batch_size} and {max_length}")
    not_text = [i for i, text in enumerate(texts) if not isinstance(text, str)]
    if not_text:
        raise TypeError(f"texts must be strings; positions {not_text[:5]} are not "
                        "(render chat prompts first, e.g. with helpers.evals.render_prompts)")
    pad_id = lm.pad_token_id(tokenizer)
    for start in range(0, len(texts), batch_size):
        rows = tokenizer(list(texts[start:start + batch_size]), truncation=True,
                         max_length=max_length)["input_ids"]
        width = max(len(row) for row in rows)
        if width == 0:  # every text in this batch is empty: no positions to score
            continue
        yield pad_rows(rows, pad_id, side="right")


def mean_token_kl(model: Any, ref_model: Any, tokenizer: Any, prompts_or_texts: Sequence[str], *,
                  batch_size: int = 8, max_length: int = 256) -> float:
    """Mean over all real (non-padding) token positions of KL(model || ref_model), in nats.

    At each position both models see the same prefix of the text and give a next-token
    distribution; ``KL(p_new || p_ref) = sum_v p_new(v) (log p_new(v) - log p_ref(v))``. The direction
    is the one RLHF penalises (the expectation is under the tuned model, the one that generates), so
    this number is comparable to the KL term of PPO and the implicit constraint of DPO. It is zero
    exactly when the two models agree at every position, and it is large where the tuned model puts
    mass on tokens the reference finds unlikely. Every real position counts, the last one included.

    The two models must share the tokenizer's vocabulary; they may sit on different devices.
    """
    total, count = 0.0, 0
    with torch.inference_mode(), EvalMode(model, ref_model):
        for input_ids, attention_mask in _batches(tokenizer, prompts_or_texts, batch_size, max_length):
            mask = attention_mask.bool()
            new = lm.logits(model, input_ids, attention_mask)
            ref = lm.logits(ref_model, input_ids, attention_mask)
            if new.shape[-1] != ref.shape[-1]:
                raise ValueError(f"vocabularies differ: the model has {new.shape[-1]} logits, "
                                 f"the reference {ref.shape[-1]}")
            # Keep only real positions before the softmax: padding would cost a whole vocabulary row each.
            new_logp = F.log_softmax(new[mask.to(new.device)].float(), dim=-1)
            del new
            ref_logp = F.log_softmax(ref[mask.to(ref.device)].float(), dim=-1).to(new_logp.device)
            del ref
            kl = (new_logp.exp() * (new_logp - ref_logp)).sum(dim=-1)
            total += float(kl.sum())
            count += int(mask.sum())
    if count == 0:
        raise ValueError("no tokens to compare: the texts are empty")
    return total / count


def sampled_kl(model: Any, reference: Any, tokenizer: Any, prompts: Sequence[Any], *, max_new_tokens: int,
               samples: int = 1, seed: int = 0, batch_size: int = 16) -> list[float]:
    """Per prompt, a Monte Carlo estimate of KL(π ‖ π_ref) over whole answers, in nats.

    Answers are sampled from ``model`` at temperature 1 (:func:`helpers.lm.sample`) and each contributes
    ``Σ_t log π(y_t) - log π_ref(y_t)`` over its tokens, end of turn included; the mean over a prompt's
    ``samples`` answers is unbiased for the KL of that prompt's answer distribution. It is the quantity PPO's
    penalty charges and DPO's β constrains, measured the same way for every method, so notebooks 13-17 can put
    them on one axis. (Individual estimates can be negative; their mean cannot, in expectation.)
    """
    rows = [prompt for prompt in prompts for _ in range(samples)]
    per_answer: list[float] = []
    with torch.random.fork_rng(devices=[lm.device_of(model)] if lm.device_of(model).type == "cuda" else []):
        torch.manual_seed(seed)
        for first in range(0, len(rows), batch_size):
            rollout = lm.sample(model, tokenizer, rows[first:first + batch_size], max_new_tokens=max_new_tokens)
            start, mask = rollout.start, rollout.mask[:, rollout.start:]
            with torch.inference_mode(), EvalMode(model, reference):
                own = lm.token_logprobs(model, rollout.input_ids, rollout.attention_mask, start=start)
                ref = lm.token_logprobs(reference, rollout.input_ids, rollout.attention_mask, start=start)
            per_answer += ((own - ref.to(own.device)) * mask.to(own.device)).sum(-1).tolist()
    return [sum(per_answer[i * samples:(i + 1) * samples]) / samples for i in range(len(prompts))]


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 8,
               max_length: int = 256) -> float:
    """Token-weighted perplexity ``exp(sum NLL / number of predicted tokens)`` over ``texts``.

    Each token after the first of a text is predicted from the tokens before it; padding is never
    predicted nor used as context. A text of one token contributes nothing (nothing to predict).
    """
    total_nll, count = 0.0, 0
    device = lm.device_of(model)
    with torch.inference_mode(), EvalMode(model):
        for input_ids, attention_mask in _batches(tokenizer, texts, batch_size, max_length):
            logits = lm.logits(model, input_ids, attention_mask)
            targets = input_ids[:, 1:].to(device)
            predicted = attention_mask[:, 1:].bool().to(device)  # a target is real only if it is not padding
            nll = F.cross_entropy(logits[:, :-1][predicted].float(), targets[predicted], reduction="sum")
            del logits
            total_nll += float(nll)
            count += int(predicted.sum())
    if count == 0:
        raise ValueError("no tokens to predict: every text is shorter than two tokens")
    return math.exp(total_nll / count)


def virtual_token_count(model: Any) -> int:
    """How many virtual tokens a PEFT prompt-learning model prepends to every input (0 for other models)."""
    configs = getattr(model, "peft_config", None)
    if not configs:
        return 0
    config = configs[getattr(model, "active_adapter", "default")]
    if not getattr(config, "is_prompt_learning", False):
        return 0
    return int(config.num_virtual_tokens)


class RealPositionLogits(torch.nn.Module):
    """Wrap a model so its ``logits`` have one position per input token, virtual tokens dropped.

    For a prompt-tuned PEFT model the soft prompt stays in front of every input (so it still shapes
    the predictions), but the returned logits line up with ``input_ids`` again. With the adapter
    switched off, and for any other model, the logits pass through unchanged.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.n_virtual = virtual_token_count(model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **kwargs: Any) -> SimpleNamespace:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        extra = logits.shape[1] - input_ids.shape[1]
        if extra not in (0, self.n_virtual):  # 0: the adapter is switched off (``disable_adapter``)
            raise ValueError(f"the model returned {logits.shape[1]} positions for {input_ids.shape[1]} tokens; "
                             f"expected {self.n_virtual} virtual tokens in front or none")
        return SimpleNamespace(logits=logits[:, extra:])
