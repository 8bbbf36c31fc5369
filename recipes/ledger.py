"""What each process of a run trained on and ended with: the evidence that training really was distributed.

Under data parallelism every process reads its own share of each global batch, and all of them end with the same
weights. The recipes record both, per process: the ids of the rows of every batch the process collated
(:class:`Ledger`, put around the trainer's collator by :class:`Recorder`) and a hash of its final weights
(:func:`weights_sha256`). Processes that collated the same batches, or ended with different weights, did not train
together, whatever the launcher printed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch


def fingerprint(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    """A short hash of the columns a trainer trains on (token ids, or a prompt): the same row gives the same hash
    before and after the trainer drops its other columns."""
    return hashlib.sha1(json.dumps([row[k] for k in keys], default=str).encode()).hexdigest()


class Ledger:
    """The trainer's collator, recording the ids of the rows of every batch it collates.

    Trainers drop the columns the model does not take (``id`` among them) before collation, so a row is recognised
    by the columns it trains on (``keys``) and looked up in the trainer's processed dataset, which keeps its ``id``;
    a row without one (a packed row holds several documents) is named by its position there, ``#n``.
    """

    def __init__(self, collate: Callable[[list[dict]], Any], dataset: Any, keys: Sequence[str]) -> None:
        self.collate, self.keys = collate, tuple(keys)
        columns = [k for k in (*self.keys, "id") if k in dataset.column_names]
        self.ids = {fingerprint(row, self.keys): row.get("id", f"#{i}")
                    for i, row in enumerate(dataset.select_columns(columns))}
        self.batches: list[list[str]] = []

    def __call__(self, features: list[dict]) -> Any:
        self.batches.append([self.ids.get(fingerprint(f, self.keys), "?") for f in features])
        return self.collate(features)

    def __getattr__(self, name: str) -> Any:
        """Trainers read their collator's settings (``padding_free``...) through this wrapper."""
        if name == "collate":  # not set yet (copying, unpickling): no collator to ask
            raise AttributeError(name)
        return getattr(self.collate, name)


class Recorder:
    """A trainer builder for :func:`helpers.train.train_arm` that keeps the trainer it built, with a :class:`Ledger`
    on its collator: ``train_arm`` hands back the model only, and saving it across processes needs the trainer."""

    def __init__(self, build: Callable[..., Any], keys: Sequence[str]) -> None:
        self.build, self.keys = build, keys
        self.trainer: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        trainer = self.build(*args, **kwargs)
        trainer.data_collator = Ledger(trainer.data_collator, trainer.train_dataset, self.keys)
        self.trainer = trainer
        return trainer


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of every tensor of the model's state, in name order: equal on two processes only if every bit is."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def identical_batches(batches_per_process: Sequence[Sequence[Sequence[str]]]) -> int:
    """How many batch positions held the same rows on every process (0 when each process had its own share)."""
    if len(batches_per_process) < 2:
        return 0
    return sum(len({tuple(sorted(batch)) for batch in step}) == 1 for step in zip(*batches_per_process, strict=False))


def shared_rows(batches_per_process: Sequence[Sequence[Sequence[str]]]) -> int:
    """How many row ids more than one process trained on (rows come back in later epochs, so this can exceed 0)."""
    seen = [{row for batch in batches for row in batch} for batches in batches_per_process]
    return sum(sum(row in rows for rows in seen) > 1 for row in set().union(*seen))
