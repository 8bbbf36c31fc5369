"""Training recipes: profile + hardware + task -> TRL configs, fast document-isolated packing, measurements.

Three ways to batch SFT data, the choice that decides throughput more than anything else:

- ``"none"``: one example per row, padded to the longest in the batch. Simple; pads waste compute.
- ``"wrapped"``: examples concatenated and cut into full rows. No padding, plain causal attention,
  so a token can attend to the end of the *previous* document in its row.
- ``"isolated"``: examples packed best-fit into rows without padding (TRL's ``bfd``), positions
  restarting at every document, and an attention kernel that only looks inside each document.

For ``"isolated"`` we register an attention implementation, ``tl_varlen``, that reads document
boundaries from ``position_ids`` and calls PyTorch's variable-length flash attention on GPU
(``torch.nn.attention.varlen``), or loops over documents with ``scaled_dot_product_attention``
on CPU. Measured on one H100 with a raw training loop over the 135M architecture (bf16 autocast,
32k tokens a step): plain causal ``sdpa`` on wrapped rows 132k tokens/s, ``tl_varlen`` on packed
rows 115k tokens/s, and ``sdpa`` with the dense block mask transformers builds for packed positions
62k tokens/s. Packed and separately run documents gave the same logits up to bf16 rounding. That
``tl_varlen`` figure copied key/value heads for grouped-query attention; kernels that offer
``enable_gqa`` now share them instead (not yet measured).
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import TrainerCallback
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.trainer_callback import PrinterCallback

from helpers.data import to_dataset
from helpers.memory import RssPeak, release_memory, reset_cuda_peak
from helpers.models import load_reward_model
from helpers.runtime import Profile, pick_device, precision_flags
from helpers.synth.preferences import group_by_prompt

# TRL prints a notice on every import from trl.experimental (ORPO lives there); the exact pin of TRL is the
# course's contract with those APIs, so the notice is silenced once, here.
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

PACKING_MODES = ("none", "wrapped", "isolated")
LOSS_MODES = ("assistant", "completion", "full")
VARLEN_ATTENTION = "tl_varlen"


# ---------------------------------------------------------------- document-isolated attention


def document_boundaries(position_ids: torch.Tensor) -> torch.Tensor:
    """Cumulative start offsets (int32, with the total length appended) of the documents in a packed row.

    A packed row restarts its positions at 0 for each document, so every 0 starts one.
    """
    flat = position_ids.reshape(-1)
    starts = torch.nonzero(flat == 0).flatten()
    if starts.numel() == 0 or starts[0] != 0:
        starts = torch.cat([starts.new_zeros(1), starts])
    total = starts.new_tensor([flat.numel()])
    return torch.cat([starts, total]).to(torch.int32)


def _varlen_kernel() -> Any | None:
    """PyTorch's variable-length flash attention, when this build has it (2.10 and newer)."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def _kernel_kwargs(kernel: Any, grouped: bool) -> dict[str, Any]:
    """Causal attention, and native grouped-query attention where the kernel offers it.

    The causal argument changed between releases; ``enable_gqa`` (newer releases) lets the kernel
    share each key/value head across its query heads instead of us copying them.
    """
    params = inspect.signature(kernel).parameters
    kwargs: dict[str, Any] = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
    if grouped and "enable_gqa" in params:
        kwargs["enable_gqa"] = True
    return kwargs


# Resolved once, at import: inside a compiled model each layer then only reads them (no inspection to trace).
_KERNEL = _varlen_kernel()
_KERNEL_OPTIONS = {grouped: _kernel_kwargs(_KERNEL, grouped) for grouped in (False, True)} if _KERNEL else {}


def _per_document_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: list[int],
                       scale: float | None) -> torch.Tensor:
    """Reference path: causal attention over each document separately. q is (H, T, D)."""
    outs = [F.scaled_dot_product_attention(q[:, a:b], k[:, a:b], v[:, a:b], is_causal=True, scale=scale,
                                           enable_gqa=k.shape[0] != q.shape[0])
            for a, b in zip(cu[:-1], cu[1:], strict=True)]
    return torch.cat(outs, dim=1)


def varlen_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                     position_ids: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention for a padding-free packed batch: (1, heads, tokens, dim) in, (1, tokens, heads, dim) out.

    Anything that is not such a batch (several rows, no positions) goes to the ordinary sdpa path,
    so generation and evaluation with this model keep working. TRL's padding-free collator also sends the
    boundaries (``cu_seq_lens_q``, ``max_length_q``), computed once per batch on the CPU; using them spares
    every layer a device-to-host sync, which keeps the GPU queue full and lets ``torch.compile`` trace the
    whole model.
    """
    if position_ids is None or query.shape[0] != 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:  # a hand-built packed row: read the boundaries off the positions (one device sync per layer)
        cu = document_boundaries(position_ids)
    if query.is_cuda and _KERNEL is not None:
        # Flash kernels take 16-bit inputs only; rotary embeddings may have promoted q and k to fp32.
        half = value.dtype if value.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
        q, k, v = (t[0].transpose(0, 1).to(half) for t in (query, key, value))  # (tokens, heads, dim)
        options = _KERNEL_OPTIONS[k.shape[1] != q.shape[1]]
        if k.shape[1] != q.shape[1] and "enable_gqa" not in options:  # older kernel: copy key/value heads
            groups = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        longest = kwargs.get("max_length_q") or int((cu[1:] - cu[:-1]).max())
        cu = cu.to(device=q.device, dtype=torch.int32)
        out = _KERNEL(q, k, v, cu, cu, longest, longest, scale=scaling, **options)
        return out.to(query.dtype).unsqueeze(0), None
    out = _per_document_sdpa(query[0], key[0], value[0], cu.tolist(), scaling)
    return out.transpose(0, 1).unsqueeze(0), None


def register_varlen_attention() -> str:
    """Make ``attn_implementation="tl_varlen"`` available to transformers models; returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask

    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention)
    # Like flash attention, no dense mask is needed: boundaries come from the positions.
    ALL_MASK_ATTENTION_FUNCTIONS.register(VARLEN_ATTENTION, flash_attention_mask)
    return VARLEN_ATTENTION


def attention_for(packing: str) -> str:
    """The attention implementation a packing mode needs."""
    if packing not in PACKING_MODES:
        raise ValueError(f"packing must be one of {PACKING_MODES}, got {packing!r}")
    return register_varlen_attention() if packing == "isolated" else "sdpa"


# ---------------------------------------------------------------- configs


def _common_args(profile: Profile, output_dir: str | Path, steps: int) -> dict[str, Any]:
    """Trainer arguments every TRL config here shares: profile scale, hardware precision, quiet logging."""
    device = pick_device()
    return dict(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=profile.batch_size,
        learning_rate=profile.learning_rate, max_length=profile.max_length, lr_scheduler_type="cosine",
        warmup_steps=max(1, steps // 20), logging_steps=max(1, steps // 50),  # follow the real length
        save_strategy="no", report_to="none", seed=0, dataloader_num_workers=0, disable_tqdm=True,
        use_cpu=device.type == "cpu", **precision_flags(device),
        activation_checkpointing=False,  # recomputing activations saves memory a 135M model does not need
    )


def sft_config(profile: Profile, output_dir: str | Path, *, packing: str = "none", loss: str = "assistant",
               **overrides: Any) -> Any:
    """An ``SFTConfig`` for this profile and hardware; ``overrides`` win over everything.

    CPU runs switch off bf16 autocast (about 8x slower there) and gradient checkpointing; GPU runs
    use bf16 or fp16 by hardware. ``loss`` picks what is trained: ``assistant`` (conversations, via
    the template's generation markers), ``completion`` (prompt/completion rows) or ``full``.
    """
    from trl import SFTConfig

    if loss not in LOSS_MODES:
        raise ValueError(f"loss must be one of {LOSS_MODES}, got {loss!r}")
    attention_for(packing)  # validates the mode
    args = _common_args(profile, output_dir, overrides.get("max_steps", profile.train_steps))
    args.update(
        include_num_input_tokens_seen="non_padding", packing=packing != "none", assistant_only_loss=loss == "assistant",
        completion_only_loss={"assistant": None, "completion": True, "full": False}[loss],
    )
    if packing == "wrapped":
        args.update(packing_strategy="wrapped", padding_free=False)
    elif packing == "isolated":
        args.update(packing_strategy="bfd", padding_free=True)
    args.update(overrides)
    return SFTConfig(**args)


def reward_config(profile: Profile, output_dir: str | Path, **overrides: Any) -> Any:
    """A ``RewardConfig`` (TRL's Bradley-Terry reward-model trainer) for this profile and hardware.

    ``max_steps`` is left to the epochs unless given: a reward model is trained for whole passes over
    a small preference set, so ``num_train_epochs`` is the natural knob.
    """
    from trl import RewardConfig

    args = _common_args(profile, output_dir, overrides.get("max_steps", -1))
    args.update(warmup_steps=0, logging_steps=1)
    args.update(overrides)
    return RewardConfig(**args)


def dpo_config(profile: Profile, output_dir: str | Path, **overrides: Any) -> Any:
    """A ``DPOConfig`` for this profile and hardware (DPO, IPO and the other pairwise losses of TRL).

    The reference model's log-probabilities are computed once, before training
    (``precompute_ref_log_probs=True``), so no second model is kept in memory: with no ``ref_model``
    given, TRL takes them from the policy before its first step. ``overrides`` win over everything.
    """
    from trl import DPOConfig

    args = _common_args(profile, output_dir, overrides.get("max_steps", -1))
    args.update(precompute_ref_log_probs=True, logging_steps=1, warmup_steps=0)
    args.update(overrides)
    return DPOConfig(**args)


def kto_config(profile: Profile, output_dir: str | Path, **overrides: Any) -> Any:
    """A ``KTOConfig`` for this profile and hardware, the reference's log-probabilities computed once.

    KTO estimates its reference point from mismatched prompt/answer pairs inside a batch, so TRL reads the
    data in order (``train_sampling_strategy="sequential"``): shuffle the rows before, so desirable and
    undesirable answers are interleaved rather than trained in blocks.
    """
    from trl import KTOConfig

    args = _common_args(profile, output_dir, overrides.get("max_steps", -1))
    args.update(precompute_ref_log_probs=True, logging_steps=1, warmup_steps=0,
                train_sampling_strategy="sequential")
    args.update(overrides)
    return KTOConfig(**args)


def orpo_config(profile: Profile, output_dir: str | Path, **overrides: Any) -> Any:
    """An ``ORPOConfig`` (``trl.experimental.orpo``) for this profile and hardware; ``beta`` is the paper's λ.

    TRL warns on every import from ``trl.experimental`` that those APIs may change; the exact pin of TRL in
    ``pyproject.toml`` is what the course relies on instead (this module silences the notice), and a test
    imports what notebook 16 imports.
    """
    from trl.experimental.orpo import ORPOConfig

    args = _common_args(profile, output_dir, overrides.get("max_steps", -1))
    args.update(logging_steps=1, warmup_steps=0, remove_unused_columns=False)  # its collator needs every column
    args.update(overrides)
    return ORPOConfig(**args)


def grpo_config(profile: Profile, output_dir: str | Path, **overrides: Any) -> Any:
    """A ``GRPOConfig`` for this profile and hardware, TRL 1.16's defaults otherwise (``loss_type="dapo"``,
    ``beta=0.0``: no reference model and no KL term, ``scale_rewards="group"``). ``per_device_train_batch_size``
    counts answers, ``num_generations`` of them per prompt."""
    from trl import GRPOConfig

    args = _common_args(profile, output_dir, overrides.get("max_steps", -1))
    del args["max_length"]  # online methods bound the answers instead (max_completion_length)
    args.update(logging_steps=1, warmup_steps=0, log_completions=False)
    args.update(overrides)
    return GRPOConfig(**args)


def rloo_config(profile: Profile, output_dir: str | Path, **overrides: Any) -> Any:
    """An ``RLOOConfig`` for this profile and hardware (TRL's defaults: two answers per prompt, ``beta=0.05``)."""
    from trl import RLOOConfig

    args = _common_args(profile, output_dir, overrides.get("max_steps", -1))
    del args["max_length"]  # online methods bound the answers instead (max_completion_length)
    args.update(logging_steps=1, warmup_steps=0, log_completions=False)
    args.update(overrides)
    return RLOOConfig(**args)


def lora_config(r: int = 16, alpha: int | None = None, targets: str | list[str] = "all-linear",
                dropout: float = 0.0) -> Any:
    """LoRA on every linear layer by default; alpha = 2r keeps the update scale steady across ranks."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha or 2 * r, target_modules=targets, lora_dropout=dropout,
                      task_type="CAUSAL_LM")


def prompt_tuning_config(n_virtual_tokens: int, init_text: str, tokenizer_path: str | Path) -> Any:
    """Prompt tuning initialised from a text, which trains far more stably than random vectors."""
    from peft import PromptTuningConfig, PromptTuningInit

    return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n_virtual_tokens,
                              prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=init_text,
                              tokenizer_name_or_path=str(tokenizer_path))


def sft_trainer(model: Any, tokenizer: Any, train_dataset: Any, args: Any, peft_config: Any = None,
                **kwargs: Any) -> Any:
    """An ``SFTTrainer`` whose model uses the attention its packing mode needs.

    Padding-free packing is only correct with attention that respects document boundaries, so the
    model is switched to ``tl_varlen`` whenever ``args.padding_free`` is set.

    Hand each trainer its own freshly loaded model: building a trainer patches the model's
    ``forward``, and a ``copy.deepcopy`` of a patched model keeps calling the original's forward.
    """
    from trl import SFTTrainer

    if args.padding_free:
        model.set_attn_implementation(register_varlen_attention())
    return SFTTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tokenizer,
                      peft_config=peft_config, **kwargs)


# ---------------------------------------------------------------- running and measuring


class StepTimes(TrainerCallback):
    """Wall time of every optimizer step, so warm-up (compilation, allocator growth) can be excluded."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._start)


class ProgressLines(TrainerCallback):
    """A short line about every fifth of a run (step, loss, seconds) in place of the trainer's own output.

    With ``disable_tqdm`` the trainer prints every raw log dict; with tqdm a notebook saved to disk keeps
    one bar redraw per step. Five lines a run tell a reader that training moves and how fast. Lines are
    printed when a loss is logged (the trainer logs after ``on_step_end``), so each shows a real loss.
    """

    def __init__(self, name: str, lines: int = 5) -> None:
        self.name, self.lines = name, lines
        self._start, self._next = 0.0, 1

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start, self._next = time.perf_counter(), max(1, state.max_steps // self.lines)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not logs or "loss" not in logs or state.global_step < min(self._next, state.max_steps):
            return
        print(f"{self.name}: step {state.global_step}/{state.max_steps}, loss {float(logs['loss']):.4g}, "
              f"{time.perf_counter() - self._start:.0f} s", flush=True)
        every = max(1, state.max_steps // self.lines)
        self._next = (state.global_step // every + 1) * every


class EveryNSteps(TrainerCallback):
    """Call ``measure(model)`` before the first step and after every ``every`` optimizer steps.

    The trainer's logged loss is one number per batch; a learning curve of something else (a probe
    accuracy, the loss on a held-out split, the drift from the start) needs its own measurement
    during training. ``history`` holds ``(step, value)`` pairs; the last step is always measured.
    """

    def __init__(self, measure: Callable[[Any], Any], every: int) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.measure, self.every = measure, every
        self.history: list[tuple[int, Any]] = []

    def _record(self, state: Any, model: Any) -> None:
        if not self.history or self.history[-1][0] != state.global_step:
            self.history.append((state.global_step, self.measure(model)))

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._record(state, model)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if state.global_step % self.every == 0 or state.global_step >= state.max_steps:
            self._record(state, model)


@dataclass
class TrainResult:
    """What one training run cost and how its loss went."""

    name: str
    steps: int
    seconds: float
    tokens: int
    tokens_per_s: float
    steady_tokens_per_s: float
    peak_cuda_gib: float | None
    losses: list[tuple[int, float]] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.losses[-1][1] if self.losses else float("nan")

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["final_loss"] = self.final_loss
        return data


def run_training(trainer: Any, name: str = "train", report: Any = None) -> TrainResult:
    """Train, and measure wall time, non-padding tokens/s (overall and after the first steps), peak memory.

    With a :class:`helpers.report.Report` the result lands in its metrics under ``name``.
    """
    timer = StepTimes()
    trainer.add_callback(timer)
    if trainer.args.disable_tqdm:  # a caller who asked for tqdm's bar keeps it
        trainer.remove_callback(PrinterCallback)  # it prints one raw log dict per logging step
        trainer.add_callback(ProgressLines(name))
    if torch.cuda.is_available():
        reset_cuda_peak()
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    tokens = int(trainer.state.num_input_tokens_seen)
    steps = len(timer.times)
    warm = max(1, steps // 5)  # skip the first fifth: compilation and allocator warm-up
    steady_time = sum(timer.times[warm:])
    per_step_tokens = tokens / steps if steps else 0
    losses = [(int(e["step"]), float(e["loss"])) for e in trainer.state.log_history if "loss" in e]
    result = TrainResult(
        name=name, steps=steps, seconds=seconds, tokens=tokens, tokens_per_s=tokens / seconds if seconds else 0.0,
        steady_tokens_per_s=per_step_tokens * (steps - warm) / steady_time if steady_time > 0 else 0.0,
        peak_cuda_gib=torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        losses=losses)
    if report is not None:
        report.metric(name, result.summary())
        report.timings[f"{name}_s"] = round(seconds, 3)
    return result


@dataclass
class Arm:
    """One trained arm of an experiment: the tuned model, what its training cost, and its peak memory."""

    name: str
    model: Any
    result: TrainResult
    peak_gib: float

    def cost(self) -> dict[str, float]:
        """Time, tokens and memory of the training run, as table columns."""
        return {"wall_s": round(self.result.seconds, 2), "tokens": self.result.tokens,
                "tokens_per_s": round(self.result.tokens_per_s, 1), "peak_mem_gib": round(self.peak_gib, 3)}

    def row(self, evaluate: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """``evaluate(model)`` and the cost as one table row; the model is freed afterwards, so the next
        arm's memory peak starts from a clean floor."""
        row = {"arm": self.name, **evaluate(self.model), **self.cost()}
        self.model = None
        release_memory()
        return row


def train_arm(name: str, model: Any, tokenizer: Any, rows: list[dict], args: Any, *, peft: Any = None,
              trainer: Callable[..., Any] = sft_trainer, eval_rows: list[dict] | None = None,
              callbacks: Iterable[Any] = (), report: Any = None) -> Arm:
    """Train ``model`` on ``rows`` under ``args`` (from :func:`sft_config`) and measure what it cost.

    Hand over a freshly loaded model: building a trainer patches it. ``trainer`` builds the trainer
    (:func:`sft_trainer` by default; a subclass such as a penalty trainer takes the same arguments).
    Memory is the CUDA peak on a GPU and the rise of resident memory on a CPU, both over this call only.
    """
    release_memory()
    with RssPeak() as rss:
        built = trainer(model, tokenizer, to_dataset(rows), args, peft_config=peft,
                        eval_dataset=to_dataset(eval_rows) if eval_rows else None, callbacks=list(callbacks))
        result = run_training(built, name, report)
    peak = result.peak_cuda_gib if result.peak_cuda_gib is not None else rss.delta_gib
    return Arm(name, built.model, result, peak)


def train_reward_model(pairs: list[dict], profile: Profile, output_dir: str | Path, *, model_id: str,
                       device: torch.device | str | None = None, report: Any = None, seed: int = 0,
                       **config: Any) -> tuple[Any, TrainResult]:
    """A Bradley-Terry reward model on preference pairs (TRL's ``RewardTrainer``), the recipe notebook 12 teaches:
    the trunk of ``model_id`` with a fresh scalar head, each prompt's pairs in one stretch of the data read in
    order (:func:`helpers.synth.preferences.group_by_prompt`), trained under :func:`reward_config` with
    ``config``, and returned frozen."""
    from trl import RewardTrainer

    rm, tokenizer = load_reward_model(model_id, device=device)
    rows = [{k: pair[k] for k in ("prompt", "chosen", "rejected")} for pair in group_by_prompt(pairs, seed)]
    args = reward_config(profile, output_dir, seed=seed, train_sampling_strategy="sequential", **config)
    trainer = RewardTrainer(model=rm, args=args, train_dataset=to_dataset(rows), processing_class=tokenizer)
    result = run_training(trainer, "reward_model", report)
    rm.eval().requires_grad_(False)
    return rm, result


def cost_table(results: Iterable[TrainResult]) -> Any:
    """One row per run with what it cost: steps, wall time, tokens, throughput, peak GPU memory.

    These are the numbers a learner plans a bigger run with, so every notebook that trains shows them.
    ``steady tokens/s`` leaves out the first fifth of the steps (compilation, allocator warm-up).
    """
    import pandas as pd

    rows = {r.name: {"steps": r.steps, "wall (s)": round(r.seconds, 1), "tokens": r.tokens,
                     "tokens/s": round(r.tokens_per_s), "steady tokens/s": round(r.steady_tokens_per_s),
                     "peak GPU (GiB)": None if r.peak_cuda_gib is None else round(r.peak_cuda_gib, 2)}
            for r in results}
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_losses(results: list[TrainResult], ax: Any = None, title: str = "training loss") -> Any:
    """Loss curves of several runs on one axis (matplotlib imported lazily)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for result in results:
        if result.losses:
            steps, values = zip(*result.losses, strict=True)
            ax.plot(steps, values, label=result.name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return ax
