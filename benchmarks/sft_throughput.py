"""SFT throughput of the 135M model: TRL's defaults, the packing modes of ``helpers.train``, and a raw loop.

    python benchmarks/sft_throughput.py --profile gpu     # the reference measurement (one H100/H200)
    python benchmarks/sft_throughput.py --profile smoke   # a seconds-long check that the script runs

Every mode trains on the same conversations (50 to 700 tokens, built from the synthetic world's
biographies) with the same rows per step and ``max_length``; the figure of merit is non-padding
tokens per second after warm-up. The modes, in the order they run (each result is saved as it lands,
so a run stopped part-way keeps what it measured):

- ``none``: padded rows, one conversation each (TRL's default batching);
- ``wrapped``: conversations cut into full rows, plain causal attention (documents see each other);
- ``isolated``: best-fit packing without padding, attention kept inside each document (``tl_varlen``);
- ``isolated_liger``: the same with Liger's fused RMSNorm, SwiGLU and rotary kernels (GPU, liger-kernel);
- ``isolated_compiled``: the same under ``torch.compile`` (GPU);
- ``raw_eager`` / ``raw_compiled``: a plain PyTorch loop over full rows of the same architecture, the
  reference for what the hardware gives without any trainer.

Each isolated mode is also checked for isolation on the path it trained with: two conversations go
through the trainer's own collator and model, and the second must get the logits it gets alone (a leak
moves them by what the wrapped row shows). Results go to ``results/<profile>/benchmark_sft.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import torch

from helpers.models import load_model
from helpers.report import Report
from helpers.runtime import get_profile, pick_dtype, seed_everything
from helpers.synth import world
from helpers.train import run_training, sft_config, sft_trainer

TARGET_TOKENS_PER_S = 200_000  # document-isolated SFT of the 135M model on one H100 or H200
SCALE = {"smoke": dict(steps=3, rows=2, max_length=128, conversations=64, raw_steps=2),
         "cpu": dict(steps=4, rows=4, max_length=512, conversations=256, raw_steps=3),
         "gpu": dict(steps=40, rows=32, max_length=1024, conversations=3000, raw_steps=10)}
# mode -> (packing, extra SFTConfig arguments, what it needs beyond the CPU)
TRAINER_MODES: dict[str, tuple[str, dict[str, Any], str]] = {
    "none": ("none", {}, ""),
    "wrapped": ("wrapped", {}, ""),
    "isolated": ("isolated", {}, ""),
    "isolated_liger": ("isolated", {"use_liger_kernel": True}, "liger"),
    "isolated_compiled": ("isolated", {"torch_compile": True}, "cuda"),  # last: compilation takes a minute or two
}
# Liger swaps these in transformers' Llama module for every model built afterwards; they are put back after its mode
LIGER_PATCHED = ("apply_rotary_pos_emb", "LlamaRMSNorm", "LlamaMLP")


@contextlib.contextmanager
def restored_llama_module() -> Iterator[None]:
    """Leave transformers' Llama module as it was, so one mode's kernels never leak into the next."""
    from transformers.models.llama import modeling_llama

    saved = {name: getattr(modeling_llama, name) for name in LIGER_PATCHED}
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(modeling_llama, name, value)
ISOLATION_TOL = {"cpu": 1e-4, "cuda": 0.1}  # max |logit difference|: fp32 on CPU, the 16-bit flash kernel on GPU


def conversations(n: int, seed: int) -> list[dict]:
    """Chats whose answers are 1 to 8 biographies long, so lengths spread over roughly 50-700 tokens."""
    rng = random.Random(seed)
    people = world.make_world(max(n, 16), seed=seed)
    bios = [b["text"] for b in people.biographies(multiplicity=1, seed=seed)]
    rows = []
    for i in range(n):
        answer = " ".join(rng.sample(bios, rng.randint(1, 8)))
        rows.append({"messages": [{"role": "user", "content": f"Tell me about person number {i}."},
                                  {"role": "assistant", "content": answer}]})
    return rows


def missing_requirement(need: str) -> str:
    """Why a mode cannot run here ('' when it can): compiled and Liger modes need a GPU."""
    if need in ("cuda", "liger") and not torch.cuda.is_available():
        return "needs a CUDA GPU"
    if need == "liger" and importlib.util.find_spec("liger_kernel") is None:
        return "needs the liger-kernel package (pip install liger-kernel)"
    return ""


def token_ids(tokenizer: Any, conversation: dict) -> list[int]:
    return tokenizer.apply_chat_template(conversation["messages"], tokenize=True)["input_ids"]


@torch.no_grad()
def isolation_check(trainer: Any, pair: list[dict]) -> dict[str, float]:
    """Max logit difference of a packed second conversation from the same conversation alone, and of a leak.

    Both go through the trainer's collator (which hands the model the document boundaries) and the
    trained model in the trainer's precision, so like is compared with like. ``leak`` is the second
    conversation after the first in one causal row: what the check would see if isolation failed.
    """
    model = getattr(trainer.model, "_orig_mod", trainer.model).eval()  # a compiled model would recompile
    device = next(model.parameters()).device
    examples = [{"input_ids": token_ids(trainer.processing_class, conversation)} for conversation in pair]
    keep = ("input_ids", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")

    def logits(batch: dict[str, Any]) -> torch.Tensor:
        inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items() if k in keep}
        with torch.autocast(device.type, dtype=pick_dtype(device), enabled=device.type == "cuda"):
            return model(**inputs).logits[0].float()

    packed = trainer.data_collator(examples)
    alone = logits(trainer.data_collator(examples[1:]))
    first = len(examples[0]["input_ids"])
    isolated = logits(packed)[first:]
    row = packed["input_ids"]
    leak = logits({"input_ids": row, "position_ids": torch.arange(row.shape[1])[None]})[first:]
    model.train()
    return {"isolated": (isolated - alone).abs().max().item(), "leak": (leak - alone).abs().max().item()}


def full_rows(tokenizer: Any, data: list[dict], rows: int, length: int, steps: int) -> torch.Tensor:
    """The conversations' tokens end to end, cut into ``steps`` batches of ``rows`` full rows (no padding)."""
    stream: list[int] = []
    for conversation in data:
        stream += token_ids(tokenizer, conversation)
        if len(stream) >= steps * rows * length:
            break
    stream = (stream * (1 + steps * rows * length // max(1, len(stream))))[:steps * rows * length]
    return torch.tensor(stream).view(steps, rows, length)


def raw_loop(model_id: str, batches: torch.Tensor, compiled: bool, warmup: int = 3) -> dict[str, float]:
    """A plain training loop: fresh weights of the same architecture, full rows, AdamW, the hardware's precision.

    The reference for what this GPU gives the architecture without a trainer: every token is a real
    token and attention is one causal sequence per row.
    """
    from transformers import AutoModelForCausalLM

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = load_model(model_id)[0].config
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=device.type == "cuda")
    step_fn = torch.compile(model) if compiled else model
    dtype = pick_dtype(device)

    def step(ids: torch.Tensor) -> None:
        ids = ids.to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            loss = step_fn(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i in range(warmup):
        step(batches[i % len(batches)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    warm_s, start = time.perf_counter() - start, time.perf_counter()
    for ids in batches:
        step(ids)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    return {"steady_tokens_per_s": batches.numel() / seconds, "warmup_s": warm_s, "seconds": seconds,
            "steps": len(batches), "peak_cuda_gib": peak}


def trainer_mode(mode: str, profile: Any, scale: dict, data: Any, rows: list[dict], report: Report) -> dict | None:
    """Train one mode through ``helpers.train``; its speed, and for isolated modes the isolation check.

    A mode that needs an optional stack (Liger, compilation) and fails is recorded as failed, not raised:
    one broken kernel must not cost the measurements of the others.
    """
    packing, extra, need = TRAINER_MODES[mode]
    if why := missing_requirement(need):
        report.metric(f"packing_{mode}", {"skipped": why})
        print(f"{mode:>18}: skipped ({why})")
        return None
    model, tokenizer = load_model(profile.model_id)
    try:
        with tempfile.TemporaryDirectory() as out, restored_llama_module():
            config = sft_config(profile, out, packing=packing, loss="assistant", max_steps=scale["steps"],
                                per_device_train_batch_size=scale["rows"], max_length=scale["max_length"],
                                logging_steps=1, warmup_steps=0, **extra)
            trainer = sft_trainer(model, tokenizer, data, config)
            result = run_training(trainer, f"packing_{mode}", report)
            check = isolation_check(trainer, rows[:2]) if packing == "isolated" else {}
    except Exception as err:
        if not need:
            raise
        report.metric(f"packing_{mode}", {"failed": f"{type(err).__name__}: {err}"[:600]})
        print(f"{mode:>18}: FAILED {type(err).__name__}: {str(err)[:300]}", flush=True)
        return None
    finally:
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    outcome = {"tokens_per_s": result.steady_tokens_per_s}
    if check:
        tol = ISOLATION_TOL["cuda" if torch.cuda.is_available() else "cpu"]
        outcome["isolated"] = check["isolated"] < tol < check["leak"] / 10
        report.metric(f"isolation_{mode}", {**check, "tolerance": tol, "holds": outcome["isolated"]})
    print(f"{mode:>18}: {result.steady_tokens_per_s:,.0f} non-padding tokens/s (whole run {result.tokens_per_s:,.0f}), "
          f"peak {result.peak_cuda_gib} GiB" + (f", isolation {check}" if check else ""), flush=True)
    return outcome


def raw_mode(compiled: bool, profile: Any, batches: torch.Tensor, report: Report) -> float | None:
    """The raw loop, eager or compiled; a failed compilation is recorded, not raised."""
    mode = "raw_compiled" if compiled else "raw_eager"
    if compiled and (why := missing_requirement("cuda")):
        report.metric(mode, {"skipped": why})
        return None
    try:
        raw = report.metric(mode, raw_loop(profile.model_id, batches, compiled))
    except Exception as err:
        if not compiled:
            raise
        report.metric(mode, {"failed": f"{type(err).__name__}: {err}"[:600]})
        print(f"{mode:>18}: FAILED {type(err).__name__}: {str(err)[:300]}", flush=True)
        return None
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    print(f"{mode:>18}: {raw['steady_tokens_per_s']:,.0f} tokens/s, warm-up {raw['warmup_s']:.0f} s, "
          f"peak {raw['peak_cuda_gib']} GiB", flush=True)
    return raw["steady_tokens_per_s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    scale = SCALE[profile.name]
    seed_everything(args.seed)
    from datasets import Dataset

    rows = conversations(scale["conversations"], args.seed)
    data = Dataset.from_list(rows)
    report = Report("benchmark_sft", profile, params={"seed": args.seed, **scale})
    batches = full_rows(load_model(profile.model_id)[1], rows, scale["rows"], scale["max_length"], scale["raw_steps"])
    speed: dict[str, float] = {}
    isolated_ok: dict[str, bool] = {}
    # Quick modes first, compiled ones last: a run stopped part-way keeps the most (each result is saved at once).
    order = [m for m in TRAINER_MODES if m != "isolated_compiled"] + ["raw_eager", "isolated_compiled", "raw_compiled"]
    for mode in order:
        if mode.startswith("raw_"):
            measured = raw_mode(mode == "raw_compiled", profile, batches, report)
            if measured is not None:
                speed[mode] = measured
        elif outcome := trainer_mode(mode, profile, scale, data, rows, report):
            speed[mode] = outcome["tokens_per_s"]
            if "isolated" in outcome:
                isolated_ok[mode] = outcome["isolated"]
        report.save()
    for mode, ok in isolated_ok.items():
        check = report.metrics[f"isolation_{mode}"]
        report.claim(f"{mode}_keeps_documents_apart",
                     f"{mode}: a packed conversation gets the logits it gets alone, on the path that trained",
                     observed={k: check[k] for k in ("isolated", "leak")},
                     expected=f"isolated < {check['tolerance']} < leak / 10", holds=ok)
    report.claim("isolated_beats_padded", "document-isolated packing trains faster than padded batches",
                 observed=round(speed["isolated"]), expected=f"> {speed['none']:,.0f} tokens/s",
                 holds=speed["isolated"] > speed["none"], enforced=profile.name == "gpu")
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name()
        isolated = {m: v for m, v in speed.items() if isolated_ok.get(m)}
        best = max(isolated, key=isolated.get, default=None)
        fastest = round(isolated[best]) if best else 0
        report.claim("isolated_target", f"isolated SFT reaches {TARGET_TOKENS_PER_S:,} non-padding tokens/s "
                     "on one H100/H200, with documents still kept apart",
                     observed={"mode": best, "tokens_per_s": fastest},
                     expected=f">= {TARGET_TOKENS_PER_S:,} ({gpu})", holds=fastest >= TARGET_TOKENS_PER_S,
                     enforced=profile.name == "gpu" and ("H100" in gpu or "H200" in gpu))
    report.save()
    report.enforce()
    return 0


if __name__ == "__main__":
    sys.exit(main())
