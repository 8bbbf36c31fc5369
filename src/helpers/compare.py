"""Measuring fine-tuning methods side by side: host-memory peaks and drift of prompt-tuned models.

Two gaps appear as soon as full fine-tuning, LoRA and prompt tuning are compared on equal terms:

* **Peak memory on a CPU.** CUDA keeps an allocator peak that can be reset per run; a CPU process
  only has ``ru_maxrss``, which never goes down, so a second run in the same process cannot be
  told apart from the first. :class:`RssPeak` samples the resident set size in a background
  thread and reports how far it rose above the level at the start of the block. It is an
  approximation (freed memory the allocator keeps can be reused by the next run and then does not
  show up again), good for comparing orders of magnitude, not for exact bytes.
* **Drift of a prompt-tuned model.** PEFT's prompt tuning prepends its virtual tokens inside
  ``forward``, so the logits have ``n_virtual`` more positions than the input. Position-by-position
  measures such as :func:`helpers.evals.mean_token_kl` then fail; :class:`RealPositionLogits`
  drops the virtual positions so the soft prompt still conditions every real token but only real
  tokens are compared.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from types import SimpleNamespace
from typing import Any

import psutil
import torch


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
