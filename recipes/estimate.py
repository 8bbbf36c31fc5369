"""Memory per GPU of a full fine-tuning run, estimated before renting the GPUs: notebook 01's estimate
(:func:`helpers.memory.estimate_training_memory`, bf16 autocast with fp32 weights and AdamW) for one GPU holding
everything (DDP) and for the weights, gradients and optimizer state sharded over ``--gpus`` (FSDP full shard or
DeepSpeed ZeRO-3).

    python -m recipes.estimate --model HuggingFaceTB/SmolLM2-1.7B-Instruct --gpus 8 --batch 4 --seq 2048
    python -m recipes.estimate --config-json path/to/config.json --gpus 8 --batch 4 --seq 2048

It is an estimate: sharding is modelled as every state divided by the number of GPUs plus two decoder layers and
the layers outside them (embeddings, final norm) gathered in 16 bits at a time; allocator slack, communication
buffers and the CUDA context (about 0.5-1 GiB) are left out. Activations are not sharded: with long rows they
dominate, and ``train.gradient_checkpointing=true`` trades compute for most of them (not estimated here).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch

from helpers.memory import GIB, estimate_training_memory
from helpers.models import count_parameters, resolve_model


def model_config(model: str | None, config_json: str | None) -> Any:
    """The transformers config of a model name (alias, directory, hub id) or of a ``config.json`` file."""
    from transformers import AutoConfig

    if config_json:
        return AutoConfig.from_pretrained(config_json)
    directory, _ = resolve_model(model or "")
    return AutoConfig.from_pretrained(directory)


def parameter_counts(config: Any) -> tuple[int, int]:
    """(all parameters, parameters of one decoder layer), counted on a model built on the meta device (no memory)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return count_parameters(model), count_parameters(model.model.layers[0])


def per_gpu(config: Any, gpus: int, batch: int, seq: int) -> dict[str, float]:
    """Estimated peak GiB per GPU: everything on each GPU (DDP), and states sharded over ``gpus``."""
    total, layer = parameter_counts(config)
    parts = estimate_training_memory(config, total, batch, seq, mixed=True)
    gathered = 2 * (2 * layer + total - config.num_hidden_layers * layer)  # 16-bit: two layers and the rest
    sharded = (parts["weights"] + parts["adam_moments"]) / gpus + max(
        parts["low_precision_copies"] / gpus + gathered + parts["activations"] + parts["loss_gradient"],
        parts["gradients"] / gpus)
    return {"parameters_b": total / 1e9, "ddp_gib": parts["peak"] / GIB, "sharded_gib": sharded / GIB,
            "activations_gib": parts["activations"] / GIB, "loss_gradient_gib": parts["loss_gradient"] / GIB,
            "states_gib": (parts["weights"] + parts["adam_moments"] + parts["gradients"]) / GIB}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m recipes.estimate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="an alias, a local directory or a hub id")
    source.add_argument("--config-json", help="a model's config.json")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--batch", type=int, required=True, help="rows per GPU per step")
    parser.add_argument("--seq", type=int, required=True, help="tokens per row")
    options = parser.parse_args(argv)
    estimate = per_gpu(model_config(options.model, options.config_json), options.gpus, options.batch, options.seq)
    print(f"estimate, {estimate['parameters_b']:.2f}B parameters, {options.batch} x {options.seq} tokens per GPU: "
          f"DDP {estimate['ddp_gib']:.1f} GiB per GPU; sharded over {options.gpus} GPUs (FSDP full shard, ZeRO-3) "
          f"{estimate['sharded_gib']:.1f} GiB per GPU (of which activations {estimate['activations_gib']:.1f}, "
          f"loss gradient {estimate['loss_gradient_gib']:.1f}; weights, gradients and AdamW state "
          f"{estimate['states_gib']:.1f} GiB in all)")
    return estimate


if __name__ == "__main__":
    main()
