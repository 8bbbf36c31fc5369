"""Measuring memory: what autograd keeps for the backward pass, optimizer state, CUDA peaks and CPU (RSS) peaks.

Estimating memory is only half a lesson; these functions measure the same quantities so a notebook
can put estimate and measurement side by side. ``saved_activations`` works on any device because it
counts the tensors autograd stores, not what an allocator reports.

Peak memory on a CPU needs its own tool: CUDA keeps an allocator peak that can be reset per run, but
a CPU process only has ``ru_maxrss``, which never goes down, so a second run in the same process
cannot be told apart from the first. :class:`RssPeak` samples the resident set size in a background
thread and reports how far it rose above the level at the start of the block; :func:`release_memory`
hands what deleted models left behind back to the system first, so each run starts from a clean
floor. It is an approximation (freed memory the allocator keeps can be reused by the next run and
then does not show up again), good for comparing orders of magnitude, not for exact bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import resource
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
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


def rss_peak_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes); it never goes down."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20


class RssPeak:
    """Context manager: the highest resident memory (RSS) of this process during the block, above its start.

    ``interval_s`` is the sampling period; an allocation that comes and goes between two samples is
    missed, so keep it well below the duration of one training step.
    """

    def __init__(self, interval_s: float = 0.02) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.start_bytes = 0
        self.peak_bytes = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssPeak:
        self.start_bytes = self.peak_bytes = self._process.memory_info().rss
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="rss-peak", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    @property
    def delta_gib(self) -> float:
        """How far the resident memory rose above where it was when the block began, in GiB."""
        return (self.peak_bytes - self.start_bytes) / 2**30


def release_memory() -> None:
    """Free what deleted models left behind, so the next run's memory peak starts from a clean floor.

    Collects garbage, empties the CUDA cache, and on glibc asks ``malloc_trim`` to hand freed heap
    pages back to the system; without it a later run reuses them and its RSS rise looks too small.
    """
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


# ---------------------------------------------------------------- estimates (notebook 01 derives them)


def activation_bytes_per_token(config: Any, mixed: bool) -> float:
    """Bytes autograd saves per token of a Llama-style decoder, in the dtypes its forward pass uses.

    Notebook 01 counts these tensors by hand and checks the count against autograd; this is the shared
    copy later notebooks and the gpu-fit table use.
    """
    h, i, heads = config.hidden_size, config.intermediate_size, config.num_attention_heads
    h_kv = config.num_key_value_heads * (h // heads)
    if mixed:  # norms stay fp32 (4 bytes); projections and attention run in 16-bit (2 bytes)
        per_layer = 4 * h * 4 + 7 * h * 2 + 2 * h_kv * 2 + 4 * i * 2 + heads * 4
    else:
        per_layer = (8 * h + 2 * h_kv + 4 * i + heads) * 4
    return config.num_hidden_layers * per_layer + config.vocab_size * 4  # + fp32 log-probs for the loss


def estimate_training_memory(config: Any, n_params: int, batch: int, seq: int, *, mixed: bool,
                             trainable: int | None = None) -> dict[str, float]:
    """Peak bytes of one AdamW step (notebook 01's estimate): static columns plus the larger of two moments,
    early in the backward pass (activations and the loss gradient alive) or late in it (gradients filled)."""
    trainable = n_params if trainable is None else trainable
    tokens = batch * seq
    parts = {
        "weights": 4 * n_params + (4 * trainable if trainable != n_params else 0),
        "low_precision_copies": 2 * n_params if mixed else 0,
        "adam_moments": 8 * trainable,
        "activations": tokens * activation_bytes_per_token(config, mixed),
        "loss_gradient": tokens * config.vocab_size * (10 if mixed else 8),
        "gradients": 4 * trainable,
    }
    static = parts["weights"] + parts["adam_moments"]
    parts["peak"] = static + max(parts["low_precision_copies"] + parts["activations"] + parts["loss_gradient"],
                                 parts["gradients"])
    return parts
