"""SFT throughput of the 135M model: TRL's defaults against the packing modes of ``helpers.train``.

    python benchmarks/sft_throughput.py --profile gpu     # the reference measurement (one H100)
    python benchmarks/sft_throughput.py --profile smoke   # a seconds-long check that the script runs

Every mode trains on the same conversations (50 to 700 tokens, built from the synthetic world's
biographies) with the same rows per step and ``max_length``; the figure of merit is non-padding
tokens per second after warm-up. Results go to ``results/<profile>/benchmark_sft.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile

import torch

from helpers.models import load_model
from helpers.report import Report
from helpers.runtime import get_profile, seed_everything
from helpers.synth import world
from helpers.train import run_training, sft_config, sft_trainer

TARGET_TOKENS_PER_S = 120_000  # document-isolated SFT of the 135M model on one H100
SCALE = {"smoke": dict(steps=3, rows=2, max_length=128, conversations=64),
         "cpu": dict(steps=4, rows=4, max_length=512, conversations=256),
         "gpu": dict(steps=40, rows=32, max_length=1024, conversations=6000)}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    scale = SCALE[profile.name]
    seed_everything(args.seed)
    from datasets import Dataset

    data = Dataset.from_list(conversations(scale["conversations"], args.seed))
    report = Report("benchmark_sft", profile, params={"seed": args.seed, **scale})
    results = {}
    for mode in ("none", "wrapped", "isolated"):
        model, tokenizer = load_model(profile.model_id)
        with tempfile.TemporaryDirectory() as out:
            config = sft_config(profile, out, packing=mode, loss="assistant", max_steps=scale["steps"],
                                per_device_train_batch_size=scale["rows"], max_length=scale["max_length"],
                                logging_steps=1, warmup_steps=0)
            trainer = sft_trainer(model, tokenizer, data, config)
            results[mode] = run_training(trainer, f"packing_{mode}", report)
        print(f"{mode:>9}: {results[mode].steady_tokens_per_s:,.0f} non-padding tokens/s "
              f"(whole run {results[mode].tokens_per_s:,.0f}), peak {results[mode].peak_cuda_gib} GiB")
        del model, trainer
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    isolated = results["isolated"].steady_tokens_per_s
    report.claim("isolated_beats_padded", "document-isolated packing trains faster than padded batches",
                 observed=round(isolated), expected=f"> {results['none'].steady_tokens_per_s:,.0f} tokens/s",
                 holds=isolated > results["none"].steady_tokens_per_s, enforced=profile.name == "gpu")
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name()
        report.claim("isolated_target", f"isolated SFT reaches {TARGET_TOKENS_PER_S:,} tokens/s on one H100",
                     observed=round(isolated), expected=f">= {TARGET_TOKENS_PER_S} ({gpu})",
                     holds=isolated >= TARGET_TOKENS_PER_S, enforced="H100" in gpu)
    report.save()
    report.enforce()
    return 0


if __name__ == "__main__":
    sys.exit(main())
