"""Measuring memory: what autograd keeps for the backward pass, optimizer state, and CUDA peaks.

Estimating memory is only half a lesson; these functions measure the same quantities so a notebook
can put estimate and measurement side by side. ``saved_activations`` works on any device because it
counts the tensors autograd stores, not what an allocator reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

GIB = 2**30


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes held by distinct storages among ``tensors`` (views of one storage counted once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        if t.device.type == "meta":
            seen[id(t)] = t.numel() * t.element_size()
            continue
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor an optimizer keeps per parameter (Adam: two moments and a step)."""
    return tensor_bytes(v for state in optimizer.state.values() for v in state.values()
                        if isinstance(v, torch.Tensor))


@dataclass
class SavedTensors:
    """Running tally of the activations autograd saved, parameters excluded."""

    exclude: set[int] = field(default_factory=set)
    storages: dict[int, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(self.storages.values())


@contextlib.contextmanager
def saved_activations(model: torch.nn.Module) -> Iterator[SavedTensors]:
    """Count the bytes autograd saves for backward during a forward pass inside this block.

    Each storage is counted once, and the model's own parameters are excluded: they are weights,
    not activations, even though autograd also keeps references to them.
    """
    tally = SavedTensors(exclude={p.untyped_storage().data_ptr() for p in model.parameters()})

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in tally.exclude:
            tally.storages[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield tally


_peak_before_resets = 0  # the highest CUDA peak seen before cuda_peak() reset the counter


def cuda_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn`` and return its result with the peak CUDA memory allocated meanwhile (bytes).

    Measuring one block means resetting torch's peak counter; the peak before the reset is kept, so
    :func:`cuda_peak_so_far` still reports the process-wide maximum afterwards.
    """
    reset_cuda_peak()
    result = fn()
    torch.cuda.synchronize()
    return result, torch.cuda.max_memory_allocated()


def reset_cuda_peak() -> None:
    """Start a new peak measurement, remembering the old peak for :func:`cuda_peak_so_far`."""
    global _peak_before_resets
    torch.cuda.synchronize()
    _peak_before_resets = max(_peak_before_resets, torch.cuda.max_memory_allocated())
    torch.cuda.reset_peak_memory_stats()


def cuda_peak_so_far() -> int:
    """The highest CUDA memory allocated by this process, across :func:`cuda_peak` resets (bytes)."""
    return max(_peak_before_resets, torch.cuda.max_memory_allocated())
