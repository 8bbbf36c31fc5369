"""Stacking token id lists of different lengths into one padded batch and its attention mask.

Which side the padding goes on depends on what the batch is for:

* ``side="left"`` for generation: a decoder-only model continues from the last column of each row,
  so every row must end there; the attention mask hides the padding in front.
* ``side="right"`` for scoring (teacher-forced loss, KL, a reward model's last-token score): the real
  tokens then sit at the same positions as in an unpadded run, and the mask hides the tail.

The batch is built from token ids here rather than by the tokenizer, so a tokenizer's own
``padding_side`` never decides the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

Side = Literal["left", "right"]


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int, *, side: Side,
             device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows -> ``(input_ids, attention_mask)``, padded with ``pad_id`` on ``side`` to the longest row.

    Both tensors are ``long`` and land on ``device`` (the CPU when ``None``); the mask is 1 on real
    tokens and 0 on padding.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if not rows:
        raise ValueError("no rows to pad: a batch needs at least one row")
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        input_ids[i, span] = torch.tensor(list(row), dtype=torch.long)
        attention_mask[i, span] = 1
    if device is not None:
        return input_ids.to(device), attention_mask.to(device)
    return input_ids, attention_mask
