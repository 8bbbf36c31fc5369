"""Seeing what trains: tokens coloured by whether the loss looks at them.

A loss mask is easy to get wrong and hard to see in a tensor of ``-100`` labels. These functions
show each token of a sequence, green where its label is trained and grey where it is masked, as
HTML for a notebook and as plain text (trained runs wrapped in brackets) for logs and headless runs.
Special tokens and whitespace are made visible, because that is where mask bugs hide: a missing
end-of-turn token in the trained span is a model that never learns to stop.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import torch

TRAINED_COLOUR = "#b7efb2"  # green: the loss is computed on this token
MASKED_COLOUR = "#e4e4e4"  # grey: label -100, the model reads it but is not trained to produce it
NEWLINE_MARK = "\u21b5"  # a visible symbol for a line break inside a token


def _as_list(values: Any) -> list:
    """Plain Python list from a list, tuple or 1-D tensor (a batch row, not a batch)."""
    if isinstance(values, torch.Tensor):
        if values.dim() != 1:
            raise ValueError(f"expected one sequence (1-D), got a tensor of shape {tuple(values.shape)}")
        return values.tolist()
    return list(values)


def _checked(input_ids: Any, mask: Any) -> tuple[list[int], list[bool]]:
    """Ids and mask as equal-length lists; a length mismatch is an error, never silently cut."""
    ids = [int(i) for i in _as_list(input_ids)]
    flags = [bool(m) for m in _as_list(mask)]
    if len(ids) != len(flags):
        raise ValueError(f"input_ids has {len(ids)} tokens but the mask has {len(flags)} entries")
    return ids, flags


def token_pieces(tokenizer: Any, input_ids: Sequence[int]) -> list[str]:
    """The text of each token on its own, special tokens included (``<|im_end|>`` stays visible).

    Decoding one token at a time shows the boundaries the model sees; a byte-level BPE token that
    is only part of a multi-byte character decodes to a replacement character, which is shown as is.
    """
    return [tokenizer.decode([int(i)], skip_special_tokens=False) for i in input_ids]


def trained_labels_mask(labels: Any, ignore_index: int = -100) -> list[bool]:
    """Which positions of a label row are trained: everything not equal to ``ignore_index``."""
    return [int(label) != ignore_index for label in _as_list(labels)]


def render_tokens(tokenizer: Any, input_ids: Any, mask: Any, *, title: str | None = None,
                  states: tuple[str, str] = ("trained", "masked")) -> str:
    """HTML in which every token is a span, green when ``mask`` is true (trained), grey otherwise.

    The text is HTML-escaped, so a token such as ``<|im_start|>`` shows literally instead of being
    read as markup; a newline shows as a visible mark followed by a real line break. Each span's
    tooltip gives the token id and whether it is trained. ``states`` names the two kinds in the
    tooltips and the summary line, for masks that mean something else (e.g. special vs ordinary).
    """
    ids, flags = _checked(input_ids, mask)
    spans = []
    for token_id, piece, trained in zip(ids, token_pieces(tokenizer, ids), flags, strict=True):
        colour = TRAINED_COLOUR if trained else MASKED_COLOUR
        state = states[0] if trained else states[1]
        text = html.escape(piece).replace("\n", f"{NEWLINE_MARK}<br>")
        spans.append(f'<span class="tl-token tl-{state}" title="id {token_id}, {state}" '
                     f'style="background:{colour};border-right:1px solid #fff">{text}</span>')
    heading = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    n_trained = sum(flags)
    summary = f"<div style='font-size:85%;color:#555'>{n_trained} of {len(ids)} tokens {states[0]}</div>"
    body = "".join(spans)
    return (f"<div class='tl-mask'>{heading}<div style='font-family:monospace;white-space:pre-wrap;"
            f"line-height:1.7'>{body}</div>{summary}</div>")


def render_tokens_text(tokenizer: Any, input_ids: Any, mask: Any, *, open_mark: str = "[",
                       close_mark: str = "]") -> str:
    """Plain text with every run of trained tokens wrapped in ``open_mark`` ... ``close_mark``.

    Masked tokens print as they are. Newlines are kept (so the chat layout stays readable) and
    marked with a visible symbol when they fall inside a trained run, where they would otherwise be
    invisible.
    """
    ids, flags = _checked(input_ids, mask)
    out: list[str] = []
    inside = False
    for piece, trained in zip(token_pieces(tokenizer, ids), flags, strict=True):
        if trained and not inside:
            out.append(open_mark)
        elif not trained and inside:
            out.append(close_mark)
        inside = trained
        out.append(piece.replace("\n", NEWLINE_MARK + "\n") if trained else piece)
    if inside:
        out.append(close_mark)
    return "".join(out)


def trained_text(tokenizer: Any, input_ids: Any, mask: Any) -> str:
    """The trained tokens decoded together: the exact text the loss teaches the model to write."""
    ids, flags = _checked(input_ids, mask)
    return tokenizer.decode([i for i, keep in zip(ids, flags, strict=True) if keep], skip_special_tokens=False)
