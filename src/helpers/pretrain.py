"""Pretraining a small base model from scratch, and the measurements that tell a base model from a chat model.

Pretraining data is *shaped* differently from SFT data: documents are concatenated into one token
stream and cut into rows of exactly the context length, with no chat markup at all. :func:`pack_rows`
does that cut in plain sight (and says how many tokens the last, partial row threw away).

A base model that never saw the end-of-turn token cannot emit it, so it cannot stop
(:func:`helpers.lm.generate_until_stop` and :func:`helpers.lm.stop_rate` measure that).
:func:`token_losses` gives the loss of every token of a text, to show which tokens a model finds
surprising (the special tokens, for a base model), and :func:`mask_markup` prints which tokens an
SFT example trains on. :func:`save_to_cache` stores the pretrained base for later notebooks.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from helpers.models import build_cached, cache_root


@dataclass(frozen=True)
class PackedRows:
    """Full-length training rows cut from a token stream, and what the cut threw away."""

    rows: list[list[int]]
    row_length: int
    stream_tokens: int
    dropped_tokens: int

    @property
    def tokens(self) -> int:
        return len(self.rows) * self.row_length


def pack_rows(documents: Sequence[Sequence[int]], row_length: int, separator: Sequence[int] = ()) -> PackedRows:
    """Concatenate tokenised documents (each followed by ``separator``) and cut the stream into full rows.

    Every row has exactly ``row_length`` tokens, as in pretraining; a document may start in one row
    and end in the next. The tail that does not fill a last row is dropped and counted in
    ``dropped_tokens``, so nothing disappears unreported.
    """
    if row_length < 2:
        raise ValueError(f"row_length must be at least 2 (one input and one target), got {row_length}")
    stream: list[int] = []
    for i, doc in enumerate(documents):
        if not doc:
            raise ValueError(f"document {i} has no tokens; an empty document has nothing to learn from")
        stream.extend(doc)
        stream.extend(separator)
    n_rows = len(stream) // row_length
    if n_rows == 0:
        raise ValueError(f"{len(stream)} tokens do not fill a single row of {row_length}; "
                         "add documents or shorten the rows")
    rows = [stream[i * row_length:(i + 1) * row_length] for i in range(n_rows)]
    return PackedRows(rows=rows, row_length=row_length, stream_tokens=len(stream),
                      dropped_tokens=len(stream) - n_rows * row_length)


def build_llama(tokenizer: Any, *, hidden_size: int, layers: int, heads: int, kv_heads: int,
                intermediate_size: int, max_positions: int, seed: int) -> Any:
    """A randomly initialised Llama-architecture model sized for ``tokenizer``, the same for the same seed.

    Input and output embeddings are tied, as in SmolLM2: with a 49k vocabulary and a small hidden size
    the embedding matrix is most of the model, and tying halves it. The config names no pad token on
    purpose: Llama would then zero that token's embedding and block its gradient, and SmolLM2 pads
    with ``<|im_end|>``, the very token SFT must teach. Padding is masked by the attention mask anyway.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=max_positions, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=None)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def token_losses(model: Any, input_ids: Sequence[int]) -> list[float]:
    """Cross-entropy (nats) of each token given the ones before it; the first token has no loss, so n-1 values."""
    device = next(model.parameters()).device
    ids = torch.tensor([list(input_ids)], device=device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits.float()
    return F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="none").tolist()


def mask_markup(tokenizer: Any, input_ids: Sequence[int], trained: Sequence[int], *, open_mark: str = "⟦",
                close_mark: str = "⟧") -> str:
    """The decoded text with every run of trained tokens (``trained[i] == 1``) wrapped in marks.

    Printing this for one SFT example shows at a glance which tokens carry loss.
    """
    if len(input_ids) != len(trained):
        raise ValueError(f"{len(input_ids)} tokens but {len(trained)} mask entries")
    pieces: list[str] = []
    inside = False
    for token, flag in zip(input_ids, trained, strict=True):
        if flag and not inside:
            pieces.append(open_mark)
        elif not flag and inside:
            pieces.append(close_mark)
        inside = bool(flag)
        pieces.append(tokenizer.decode([token]))
    if inside:
        pieces.append(close_mark)
    return "".join(pieces)


def save_to_cache(model: Any, tokenizer: Any, name: str, info: dict[str, Any]) -> Path:
    """Save ``model`` and ``tokenizer`` as ``cache_root()/name``, replacing an older copy, plus ``info``.

    ``info`` (written as ``world.json``) records how the base was made, e.g. the synthetic world's
    size and seed, so a later notebook can rebuild the same people. The copy is written to a
    temporary directory and renamed into place by :func:`helpers.models.build_cached`, so an
    interrupted save never looks finished.
    """
    target = cache_root() / name
    if target.exists():
        shutil.rmtree(target)

    def write(out: Path) -> str:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / "world.json").write_text(json.dumps(info, indent=1, sort_keys=True))
        return f"pretrained-here:{name}"

    return build_cached(name, write)
