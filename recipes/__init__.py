"""Recipes: the course's training paths as scripts that run unchanged on one CPU, one GPU or many.

Run from the repository root, as modules:

    python -m recipes.sft --config recipes/configs/sft.yaml model_id=tiny steps=4          # one CPU or one GPU
    accelerate launch --config_file recipes/accelerate/ddp.yaml --num_processes 8 -m recipes.dpo ...   # N GPUs
    torchrun --nproc_per_node 2 -m recipes.sft profile=smoke                                # N CPU processes (gloo)

(``accelerate launch --cpu --num_processes 2`` starts one process, not two: accelerate's multi-CPU path goes
through mpirun, so several CPU processes are launched with ``torchrun``.)

``sft``, ``reward``, ``dpo`` and ``grpo`` each read a YAML config (``recipes/configs/``) and ``key=value``
overrides, train through the same helpers the notebooks use (:mod:`helpers.train`, :mod:`helpers.align`), save the
model and write a results JSON of the course's contract. ``recipes/accelerate/`` holds launcher configs for DDP,
FSDP and DeepSpeed ZeRO-3; ``python -m recipes.estimate`` estimates the memory a run needs per GPU.
"""
