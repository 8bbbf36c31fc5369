"""What a causal language model computes, written once: prompts, log-probabilities, generation.

Every loss and every measurement of the course stands on a few operations, and each lives here, on the
ground floor of the package (it imports only :mod:`helpers.batching` and :mod:`helpers.modes`):

* **Prompts.** :func:`render_prompts` turns a string or a message list into the exact text the model
  sees (chat template and assistant header); :func:`model_eos_ids` and :func:`first_stop` say where a
  generated answer ends; :func:`pad_token_id` what fills a batch.
* **Log-probabilities.** :func:`logits` runs a padded batch (position ids counted over real tokens, so
  left padding changes nothing); :func:`gather_logprobs` picks the log-probability of given tokens out
  of logits; :func:`token_logprobs` does the shift between logits and targets once (position ``t``
  scores token ``t + 1``) and can skip the prompt; :func:`sequence_logprobs` sums or averages them over
  an answer mask (DPO sums, ORPO and SimPO average); :func:`answer_logprobs` scores whole answers after
  their prompts, teacher-forced.
* **Generation.** :func:`generate` (clean answers for grading), :func:`generate_with_stats` (and how
  fast), :func:`generate_until_stop` / :func:`stop_rate` (did each answer stop before its budget), and
  :func:`sample` (one sampled answer per prompt with the token masks RL and KL estimates need).

Generation details that matter:

* **Left padding** (:func:`helpers.batching.pad_rows`). A decoder-only model continues from the last
  position of each row, so padding goes on the left; the attention mask hides it and ``generate``
  derives position ids from the mask, so a padded prompt yields the same greedy tokens as the same
  prompt alone (checked in fp32; in bf16, kernels for different batch shapes round differently and
  can flip a near-tie). Scoring pads on the right, where real tokens keep their unpadded positions.
* **Sorting by length.** :func:`generate` batches prompts in order of token length (longest first,
  so an out-of-memory error shows in the first batch) and puts the outputs back in input order.
  :func:`generate_until_stop` keeps the order it is given.
* **One ``model.generate`` call per batch** with the KV cache on. For a small model on a GPU each
  decoding step costs about the same whatever the batch size, so the default GPU batch is large.
* Sampling seeds torch's generator from ``seed`` once per call inside a forked RNG state, so the
  caller's random stream is left as it was. The same prompts, ``batch_size`` and ``seed`` give the
  same samples; a different ``batch_size`` groups rows differently and so draws differently.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm
from transformers import GenerationConfig

from helpers.batching import pad_rows
from helpers.modes import EvalMode

Message = dict[str, str]
Prompt = str | Sequence[Message]
Reduce = Literal["sum", "mean"]

# ---------------------------------------------------------------- prompts and stops


def _as_messages(prompt: Prompt, system: str | None) -> list[Message]:
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = [dict(message) for message in prompt]
    if system is not None and (not messages or messages[0].get("role") != "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def render_prompts(tokenizer: Any, prompts: Sequence[Prompt], *, chat: bool = True,
                   system: str | None = None) -> list[str]:
    """The exact text the model will see for each prompt.

    With ``chat=True`` a string becomes one user message, a message list is used as given (a
    ``system`` message is put first unless the list already has one), and the tokenizer's chat
    template adds the assistant header. With ``chat=False`` strings pass through unchanged.
    """
    if not chat:
        bad = [i for i, prompt in enumerate(prompts) if not isinstance(prompt, str)]
        if bad:
            raise TypeError(f"chat=False needs plain strings; prompts at positions {bad[:5]} are not")
        if system is not None:
            raise ValueError("a system message needs chat=True")
        return list(prompts)  # type: ignore[arg-type]
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this tokenizer has no chat template; pass chat=False to use raw prompts")
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str) and not all(
                isinstance(m, dict) and "role" in m and "content" in m for m in prompt):
            raise TypeError(f"prompt {i} is neither a string nor a list of {{'role', 'content'}} messages: "
                            f"{prompt!r:.200}")
    return [tokenizer.apply_chat_template(_as_messages(prompt, system), tokenize=False,
                                          add_generation_prompt=True) for prompt in prompts]


def model_eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end a generated row: the model's generation config first, else the tokenizer's EOS."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    if configured is None:
        configured = tokenizer.eos_token_id
    if configured is None:
        raise ValueError("neither the model's generation config nor the tokenizer defines an EOS token")
    return [configured] if isinstance(configured, int) else list(configured)


def first_stop(row: Sequence[int], stop_ids: Collection[int]) -> int | None:
    """Index of the first token of ``row`` in ``stop_ids``, or None when the row never stopped."""
    return next((i for i, token in enumerate(row) if token in stop_ids), None)


def pad_token_id(tokenizer: Any) -> int:
    """The id that fills a batch: the tokenizer's pad token, else its EOS (padding is masked either way)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an EOS token to pad batches with")
    return pad


def device_of(model: Any) -> torch.device:
    return next(model.parameters()).device


# ---------------------------------------------------------------- log-probabilities


def _forward(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> Any:
    """The model on a padded batch, moved to its device. Position ids are passed only where some row is
    left-padded: there they must count real tokens (as ``generate`` does); elsewhere the default is the same
    and wrappers that prepend virtual tokens (prompt tuning) refuse explicit positions."""
    device = device_of(model)
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    if bool((attention_mask[:, 0] == 0).any()):
        kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


def logits(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Logits ``(batch, length, vocabulary)`` of a padded batch, on the model's device."""
    return _forward(model, input_ids, attention_mask).logits


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[target]`` at every position, computed in fp32 without a second vocabulary-sized
    tensor: the target's logit minus the log of the partition function."""
    logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def token_logprobs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, start: int = 0,
                   hidden: bool = False) -> Any:
    """Log-probability of every next token from column ``start`` on: ``(batch, length - 1 - start)``,
    entry ``j`` scoring token ``start + j + 1`` given everything before it.

    ``start`` skips a prompt whose tokens carry no loss: the vocabulary projection (a fifth of a small
    model's compute) is then made for the answer columns only. With ``hidden=True`` also the last hidden
    states at the same positions (what a value head reads). Differentiable: losses call it too.
    """
    keep = max(input_ids.shape[1] - start, 1)  # transformers reads logits_to_keep=0 as "keep every position"
    out = _forward(model, input_ids, attention_mask, logits_to_keep=keep, output_hidden_states=hidden)
    targets = input_ids[:, start + 1:].to(out.logits.device)
    logprobs = gather_logprobs(out.logits[:, -keep:-1], targets)
    if not hidden:
        return logprobs
    return logprobs, out.hidden_states[-1][:, -keep:-1]


def sequence_logprobs(logprobs: torch.Tensor, mask: torch.Tensor, reduce: Reduce = "sum") -> torch.Tensor:
    """Per-row sum (``"sum"``, DPO's sequence log-probability) or mean over the masked positions (``"mean"``,
    the length-normalised score of ORPO and SimPO) of per-token log-probabilities."""
    mask = mask.to(logprobs.dtype)
    total = (logprobs * mask).sum(-1)
    if reduce == "sum":
        return total
    if reduce == "mean":
        return total / mask.sum(-1).clamp(min=1)
    raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")


def answer_logprobs(model: Any, tokenizer: Any, prompts: Sequence[Prompt], answers: Sequence[str], *,
                    chat: bool = True, system: str | None = None, reduce: Reduce = "mean",
                    batch_size: int = 16) -> list[float]:
    """Log-probability the model gives each answer right after its prompt (teacher-forced), in nats.

    The prompt is rendered exactly as :func:`generate` renders it (chat template and assistant header
    when ``chat``), and the answer's tokens follow it, tokenised on their own (the rendered chat prompt
    ends with a newline, so nothing merges across the seam). ``reduce="mean"`` is the mean per answer
    token (comparable across answer lengths); ``"sum"`` the whole answer's.
    """
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
    texts = render_prompts(tokenizer, prompts, chat=chat, system=system)
    prompt_ids = tokenizer(texts, add_special_tokens=not chat)["input_ids"]
    answer_ids = tokenizer(list(answers), add_special_tokens=False)["input_ids"]
    empty = [i for i, ids in enumerate(answer_ids) if not ids]
    if empty:
        raise ValueError(f"answers at positions {empty[:5]} have no tokens: an empty answer has no probability")
    scores: list[float] = []
    with torch.inference_mode(), EvalMode(model):
        for first in range(0, len(texts), batch_size):
            batch = list(zip(prompt_ids[first:first + batch_size], answer_ids[first:first + batch_size],
                             strict=True))
            input_ids, attention_mask = pad_rows([p + a for p, a in batch], pad_token_id(tokenizer), side="right")
            start = min(len(p) for p, _ in batch) - 1  # the earliest position that predicts an answer token
            mask = torch.zeros(len(batch), input_ids.shape[1] - 1 - start)
            for row, (p, a) in enumerate(batch):
                mask[row, len(p) - 1 - start:len(p) - 1 - start + len(a)] = 1
            logprobs = token_logprobs(model, input_ids, attention_mask, start=start).cpu()
            scores += sequence_logprobs(logprobs, mask, reduce).tolist()
    return scores


# ---------------------------------------------------------------- generation


@dataclass(frozen=True)
class GenerationStats:
    """What a :func:`generate_with_stats` call did and how fast.

    ``new_tokens`` counts generated tokens up to and including each row's EOS, not the padding that
    finished rows receive while the rest of their batch goes on. ``batch_size`` is the one used at
    the end (smaller than asked if the GPU ran out of memory).
    """

    prompts: int
    new_tokens: int
    seconds: float
    tokens_per_s: float
    batch_size: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_batch_size(device: torch.device) -> int:
    """256 rows on a GPU, 32 on a CPU.

    On a GPU, ``generate`` for a small model is bound by Python and kernel-launch overhead: about
    30 ms per decoding step for the 30-layer 135M model on an H100 (bf16) *whatever the batch size*,
    so time scales with the number of batches. Measured for 500 prompts x 64 new tokens (random
    weights of that architecture, so every row ran the full 64 steps): 37 s at
    batch 32, 6.5 s at 128, 3.6 s at 256 (1.6 GiB peak), 2.2 s at 512 (2.9 GiB). On a CPU the step
    cost grows with the batch, and 32 keeps a batch's padding and memory modest. If a GPU runs out
    of memory, generation halves the batch and retries.
    """
    return 256 if device.type == "cuda" else 32


def _attention_backends(device: torch.device) -> contextlib.AbstractContextManager:
    """On CUDA, keep scaled-dot-product attention off the cuDNN backend during generation.

    cuDNN attention builds a plan for every new tensor shape, and decoding with a growing KV cache
    and varying prompt lengths makes a new shape at nearly every step: on an H100 the first call
    over 500 prompts took 12-14 s with it and 4.8 s without it (the flash / memory-efficient
    kernels need no such set-up).
    """
    if device.type != "cuda":
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def _generate_rows(model: Any, config: GenerationConfig, rows: list[list[int]], device: torch.device) -> torch.Tensor:
    """The new token ids (batch x steps) that ``model.generate`` appends to the left-padded ``rows``."""
    input_ids, attention_mask = pad_rows(rows, config.pad_token_id, side="left", device=device)
    with _attention_backends(device):
        generated = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
    return generated[:, input_ids.shape[1]:]


def _check_sizes(batch_size: int, max_new_tokens: int) -> None:
    if batch_size < 1 or max_new_tokens < 1:
        raise ValueError(f"batch_size and max_new_tokens must be >= 1, got {batch_size} and {max_new_tokens}")


def _generate_ids(model: Any, encoded: list[list[int]], order: Sequence[int], config: GenerationConfig, *,
                  batch_size: int, seed: int, progress: bool) -> tuple[list[list[int]], int]:
    """The one generation loop: new token ids per prompt (in input order) and the batch size used at the end.

    Prompts are batched in ``order``; each row's ids run to the end of its batch, so a row that
    stopped early carries padding after its stop token and the caller cuts it. If a GPU runs out of
    memory the batch is halved and retried.
    """
    empty = [i for i, ids in enumerate(encoded) if not ids]
    if empty:
        raise ValueError(f"prompts at positions {empty[:5]} encode to no tokens; nothing to continue from")
    device = device_of(model)
    new_ids: list[list[int]] = [[] for _ in encoded]
    size = batch_size
    rng_devices = [device] if device.type == "cuda" else []
    with EvalMode(model), torch.inference_mode(), torch.random.fork_rng(devices=rng_devices), \
            tqdm(total=len(encoded), desc="generate", unit="prompt", disable=not progress) as bar:
        torch.manual_seed(seed)
        start = 0
        while start < len(order):
            batch = order[start:start + size]
            try:
                rows = _generate_rows(model, config, [encoded[i] for i in batch], device)
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2
                torch.cuda.empty_cache()
                warnings.warn(f"out of memory; generating in batches of {size}", stacklevel=3)
                continue
            for index, row in zip(batch, rows.tolist(), strict=True):
                new_ids[index] = row
            bar.update(len(batch))
            start += len(batch)
    return new_ids, size


def generate_with_stats(model: Any, tokenizer: Any, prompts: Sequence[Prompt], *, max_new_tokens: int = 64,
                        batch_size: int | None = None, do_sample: bool = False, temperature: float = 1.0,
                        top_p: float = 1.0, seed: int = 0, chat: bool = True, system: str | None = None,
                        progress: bool = True, min_new_tokens: int = 0) -> tuple[list[str], GenerationStats]:
    """Like :func:`generate`, also returning a :class:`GenerationStats` for the whole call.

    ``min_new_tokens`` forces that many tokens before EOS may end a row: throughput measurements use
    it so every run does the same amount of work whatever the model says.
    """
    device = device_of(model)
    size = default_batch_size(device) if batch_size is None else batch_size
    _check_sizes(size, max_new_tokens)
    texts = render_prompts(tokenizer, prompts, chat=chat, system=system)
    # The chat template already wrote the special tokens; raw prompts get the tokenizer's usual ones.
    encoded = tokenizer(texts, add_special_tokens=not chat)["input_ids"]
    eos_ids = model_eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    config = GenerationConfig(max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, do_sample=do_sample,
                              use_cache=True, pad_token_id=pad_id, eos_token_id=eos_ids,
                              **({"temperature": temperature, "top_p": top_p} if do_sample else {}))
    order = sorted(range(len(texts)), key=lambda i: -len(encoded[i]))
    started = time.perf_counter()
    new_ids, size = _generate_ids(model, encoded, order, config, batch_size=size, seed=seed, progress=progress)
    kept: list[list[int]] = []
    new_tokens = 0  # up to and including each row's EOS: the padding after it is not work the row asked for
    for row in new_ids:
        stop = first_stop(row, eos_ids)
        kept.append(row if stop is None else row[:stop])
        new_tokens += len(row) if stop is None else stop + 1
    outputs = tokenizer.batch_decode(kept, skip_special_tokens=True)
    seconds = time.perf_counter() - started
    stats = GenerationStats(prompts=len(texts), new_tokens=new_tokens, seconds=seconds,
                            tokens_per_s=new_tokens / seconds if seconds > 0 else 0.0, batch_size=size)
    return outputs, stats


def generate(model: Any, tokenizer: Any, prompts: Sequence[Prompt], *, max_new_tokens: int = 64,
             batch_size: int | None = None, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
             seed: int = 0, chat: bool = True, system: str | None = None, progress: bool = True) -> list[str]:
    """Generate one completion per prompt, returned in the order of ``prompts``.

    ``prompts`` are strings (sent as a user message through the chat template when ``chat=True``)
    or message lists. Greedy by default; ``do_sample=True`` uses ``temperature`` and ``top_p`` with
    a generator seeded from ``seed``. Runs on the model's device under ``torch.inference_mode``.
    ``batch_size=None`` picks :func:`default_batch_size` for the model's device.
    """
    texts, _ = generate_with_stats(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                   batch_size=batch_size, do_sample=do_sample, temperature=temperature,
                                   top_p=top_p, seed=seed, chat=chat, system=system, progress=progress)
    return texts


@dataclass(frozen=True)
class Completion:
    """One generation: the text (special tokens kept, so a stop token is visible) and whether it stopped."""

    text: str
    stopped: bool
    new_tokens: int


def generate_until_stop(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int,
                        stop_ids: Sequence[int], batch_size: int = 32) -> list[Completion]:
    """Greedy completions of raw text prompts, each cut after its first stop token.

    Prompts are used verbatim (no special tokens added), so a chat-formatted prompt must already
    carry its markup. A row counts as stopped when a token in ``stop_ids`` appears before
    ``max_new_tokens`` ran out; ``new_tokens`` counts up to and including that token. Prompts are
    batched in the order given, ``batch_size`` at a time.
    """
    if not stop_ids:
        raise ValueError("stop_ids is empty: without a stop token no generation can stop")
    _check_sizes(batch_size, max_new_tokens)
    encoded = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                              pad_token_id=pad_id, eos_token_id=list(stop_ids))
    new_ids, _ = _generate_ids(model, encoded, range(len(encoded)), config, batch_size=batch_size, seed=0,
                               progress=False)
    completions: list[Completion] = []
    for row in new_ids:
        stop = first_stop(row, stop_ids)
        end = len(row) if stop is None else stop + 1
        completions.append(Completion(text=tokenizer.decode(row[:end]), stopped=stop is not None, new_tokens=end))
    return completions


@dataclass
class Rollout:
    """Prompts with one sampled response each, padded into one batch."""

    input_ids: torch.Tensor  # (batch, length): left-padded prompt, then the response, right-padded
    attention_mask: torch.Tensor  # (batch, length): 1 on real tokens
    mask: torch.Tensor  # (batch, length - 1): 1 on positions that predict a response token
    start: int  # the first such position: every prompt ends there, as prompts are left-padded
    texts: list[str]  # the responses, decoded without special tokens
    lengths: list[int]  # response tokens per row, EOS included when the row stopped


def sample(model: Any, tokenizer: Any, prompts: Sequence[Prompt], *, max_new_tokens: int) -> Rollout:
    """One response per prompt, sampled from the model as it is (temperature 1, no truncation)."""
    texts = render_prompts(tokenizer, prompts)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    eos_ids = model_eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    device = device_of(model)
    prompt_ids, prompt_mask = pad_rows(encoded, pad_id, side="left", device=device)
    config = GenerationConfig(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                              pad_token_id=pad_id, eos_token_id=eos_ids)
    with torch.no_grad():
        out = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, generation_config=config)
    responses = out[:, prompt_ids.shape[1]:].tolist()
    kept = []
    for row in responses:
        stop = first_stop(row, eos_ids)
        kept.append(row if stop is None else row[:stop + 1])  # the EOS is an action too: it ends the answer
    response_ids, response_mask = pad_rows(kept, pad_id, side="right", device=device)
    input_ids = torch.cat([prompt_ids, response_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    mask = torch.cat([torch.zeros_like(prompt_mask), response_mask], dim=1)[:, 1:].float()
    decoded = tokenizer.batch_decode(kept, skip_special_tokens=True)
    start = prompt_ids.shape[1] - 1
    return Rollout(input_ids, attention_mask, mask, start, decoded, [len(row) for row in kept])


def stop_rate(completions: Sequence[Completion]) -> float:
    """Share of completions that ended with a stop token before their budget ran out."""
    if not completions:
        raise ValueError("no completions to measure")
    return sum(c.stopped for c in completions) / len(completions)
