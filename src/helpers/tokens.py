"""New special tokens: adding them, giving their embedding rows a starting value, and probing the result.

A token the model never saw in pretraining starts as a row of numbers someone chose. That choice
matters twice: as an *input* the row is mixed into every later hidden state, and (with tied
embeddings, as in SmolLM2) the same row is the *output* vector whose dot product with the final
hidden state is the token's logit. A careless row can make the model predict the new token
everywhere, or feed noise into every position that follows it, before training has had a chance to
fix either. :func:`init_new_rows` implements the usual strategies so notebook 04 can compare them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from helpers import lm
from helpers.batching import pad_rows
from helpers.modes import EvalMode

INIT_STRATEGIES = ("random", "hf_default", "mean", "description")


def add_special_tokens(model: Any, tokenizer: Any, tokens: Sequence[str], *, lstrip: bool = False,
                       mean_resizing: bool = False) -> list[int]:
    """Register ``tokens`` as special tokens, grow the embedding matrix, and return their ids.

    Special tokens are never split by the tokenizer and are kept out of normal text merges.
    ``lstrip=True`` lets a token swallow the space before it, so ``"likes <|x|>"`` does not leave a
    lone space token behind. With ``mean_resizing=False`` the new rows get the model's plain random
    initialisation (normal with ``initializer_range``); transformers' default (``True``) samples
    them around the mean of the old rows instead. Tokens already in the vocabulary are an error:
    re-adding them would silently keep their trained rows and skew any comparison.
    """
    from tokenizers import AddedToken

    vocab = tokenizer.get_vocab()
    known = [token for token in tokens if token in vocab]
    if known:
        raise ValueError(f"already in the vocabulary: {known}")
    before = len(tokenizer)
    tokenizer.add_special_tokens(
        {"extra_special_tokens": [AddedToken(t, lstrip=lstrip, normalized=False, special=True) for t in tokens]},
        replace_extra_special_tokens=False)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=mean_resizing)
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    if ids != list(range(before, before + len(tokens))):
        raise RuntimeError(f"expected new ids {before}..{before + len(tokens) - 1}, got {ids}")
    return ids


def _matrices(model: Any) -> list[torch.Tensor]:
    """The embedding matrices whose new rows need a value: input, and output when it is not tied."""
    inputs = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    if output is None or output.weight.data_ptr() == inputs.data_ptr():
        return [inputs]
    return [inputs, output.weight]


@torch.no_grad()
def init_new_rows(model: Any, new_ids: Sequence[int], strategy: str, *,
                  descriptions: Sequence[Sequence[int]] | None = None, seed: int = 0) -> None:
    """Give the rows of ``new_ids`` a starting value by ``strategy`` (input and untied output alike).

    - ``random``: normal with the model's ``initializer_range`` (0.02 for SmolLM2), what a fresh
      layer gets. Such a row is much shorter than a trained one (SmolLM2's have norm about 3).
    - ``hf_default``: what ``resize_token_embeddings`` does by default, a sample from a normal
      distribution with the mean and covariance of the old rows.
    - ``mean``: exactly the mean of the old rows. As an output vector it gives the new token the
      average logit, so it changes the distribution over old tokens very little.
    - ``description``: the mean of the rows of the tokens of a short text describing the new token
      (``descriptions[i]`` are those token ids), so the new token starts near a meaning.
    """
    if strategy not in INIT_STRATEGIES:
        raise ValueError(f"strategy must be one of {INIT_STRATEGIES}, got {strategy!r}")
    new_ids = list(new_ids)
    if strategy == "description" and (descriptions is None or len(descriptions) != len(new_ids)
                                      or any(len(d) == 0 for d in descriptions)):
        raise ValueError("the description strategy needs one non-empty list of token ids per new token")
    old = min(new_ids)
    generator = torch.Generator().manual_seed(seed)
    for weight in _matrices(model):
        existing = weight[:old].float()
        if strategy == "random":
            std = getattr(model.config, "initializer_range", 0.02)
            rows = torch.randn(len(new_ids), weight.shape[1], generator=generator) * std
        elif strategy == "hf_default":
            mean = existing.mean(dim=0)
            centred = existing - mean
            covariance = centred.T @ centred / (len(existing) - 1)
            # A small ridge keeps the factorisation valid when the covariance is nearly singular.
            factor = torch.linalg.cholesky(covariance.cpu() + 1e-6 * torch.eye(weight.shape[1]))
            rows = mean.cpu() + torch.randn(len(new_ids), weight.shape[1], generator=generator) @ factor.T
        elif strategy == "mean":
            rows = existing.mean(dim=0, keepdim=True).cpu().expand(len(new_ids), -1)
        else:
            rows = torch.stack([existing[list(ids)].mean(dim=0).cpu() for ids in descriptions])
        weight[new_ids] = rows.to(weight.device, weight.dtype)


def _scored_batches(model: Any, tokenizer: Any, texts: Sequence[str],
                    batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Right-padded batches of ``texts`` (no special tokens added) through the model, in eval mode.

    Yields (fp32 logits, input_ids, boolean attention mask), all on the model's device.
    """
    pad_id = lm.pad_token_id(tokenizer)
    with torch.inference_mode(), EvalMode(model):
        for start in range(0, len(texts), batch_size):
            rows = tokenizer(list(texts[start:start + batch_size]), add_special_tokens=False)["input_ids"]
            input_ids, attention_mask = pad_rows(rows, pad_id, side="right")
            logits = lm.logits(model, input_ids, attention_mask).float()
            yield logits, input_ids.to(logits.device), attention_mask.bool().to(logits.device)


def new_token_mass(model: Any, tokenizer: Any, texts: Sequence[str], new_ids: Sequence[int], *,
                   batch_size: int = 16) -> float:
    """Mean probability, over every position of ``texts``, that the next token is one of ``new_ids``.

    Ordinary text never contains the new tokens, so any mass on them is mass taken from the tokens
    that belong there: a direct measure of how much adding the rows disturbed the model before any
    training.
    """
    total, count = 0.0, 0
    for logits, _, mask in _scored_batches(model, tokenizer, texts, batch_size):
        probs = F.softmax(logits[mask], dim=-1)
        total += float(probs[:, list(new_ids)].sum())
        count += probs.shape[0]
    if count == 0:
        raise ValueError("no positions to measure: the texts are empty")
    return total / count


def split_loss(model: Any, tokenizer: Any, texts: Sequence[str], marker_ids: Sequence[int], *,
               batch_size: int = 16) -> dict[str, float]:
    """Mean next-token loss on positions whose target is a marker token, and on all other positions.

    Separating the two shows where an initialisation helps or hurts: predicting the new token
    itself (its output row), or predicting ordinary text that follows it (its input row).
    """
    sums = {"marker": 0.0, "other": 0.0}
    counts = {"marker": 0, "other": 0}
    for logits, input_ids, mask in _scored_batches(model, tokenizer, texts, batch_size):
        targets, real = input_ids[:, 1:], mask[:, 1:]
        losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, reduction="none")
        is_marker = torch.isin(targets, torch.tensor(list(marker_ids), device=targets.device))
        for name, select in (("marker", is_marker & real), ("other", ~is_marker & real)):
            sums[name] += float(losses[select].sum())
            counts[name] += int(select.sum())
    if counts["marker"] == 0:
        raise ValueError("no position in the texts has a marker token as its target")
    return {name: sums[name] / counts[name] for name in sums}


def choice_probe(model: Any, tokenizer: Any, texts: Sequence[str], candidates: Sequence[Sequence[int]],
                 gold: Sequence[int], *, batch_size: int = 64) -> dict[str, float]:
    """Which candidate token the model puts next after each text, compared with the gold one.

    ``candidates[i]`` are the token ids allowed after ``texts[i]`` and ``gold[i]`` indexes the right
    one. Probabilities are renormalised over the candidates, so ``chance`` is the mean of
    ``1 / len(candidates[i])``; ``confidence`` is the mean probability of the chosen candidate (how
    sure the model is, right or wrong) and ``gold_nll`` the mean negative log-probability of the
    right one (``log(len(candidates))`` for a model that knows nothing).
    """
    if not texts or not len(texts) == len(gold) == len(candidates):
        raise ValueError(f"need as many texts, candidate lists and gold indices, at least one; got "
                         f"{len(texts)}, {len(candidates)} and {len(gold)}")
    correct, confidence, nll, chance = 0, 0.0, 0.0, 0.0
    position = 0
    for logits, _, mask in _scored_batches(model, tokenizer, texts, batch_size):
        last = mask.sum(dim=1) - 1  # the last real token of each row: what comes next is the answer
        for row, end in enumerate(last.tolist()):
            allowed, answer = list(candidates[position]), gold[position]
            logp = F.log_softmax(logits[row, end, allowed], dim=-1)
            choice = int(logp.argmax())
            correct += choice == answer
            confidence += float(logp[choice].exp())
            nll -= float(logp[answer])
            chance += 1 / len(allowed)
            position += 1
    n = len(texts)
    return {"accuracy": correct / n, "chance": chance / n, "confidence": confidence / n, "gold_nll": nll / n}
