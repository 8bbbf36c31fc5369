"""What every recipe does the same way: read its configuration, train through :func:`helpers.train.train_arm`, record
each process, save the model and write the results JSON of the course's contract (:class:`helpers.report.Report`).

A recipe module only decides *what* to train (a :class:`Plan`: model, rows, the TRL arguments from the course's own
config function, the trainer builder); :func:`main` runs it. Launched by ``python -m`` it trains in one process on
a CPU or a GPU; launched by ``accelerate launch`` (or ``torchrun``) the trainer finds the distributed environment
and each process trains on its own share of every batch. Only the first process saves and writes results.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers.data import DataFormatError
from helpers.models import ModelUnavailableError, UnknownModelError
from helpers.report import Report
from helpers.runtime import Profile, get_profile, seed_everything
from helpers.train import lora_config, train_arm
from recipes.config import ConfigError, check_train, load_config
from recipes.ledger import Recorder, identical_batches, shared_rows, weights_sha256

CONFIGS = Path(__file__).resolve().parent / "configs"
COMMON: dict[str, Any] = {
    "profile": "auto",  # helpers.runtime preset: smoke, cpu, gpu, small_gpu, or auto (gpu when CUDA is present)
    "model_id": "",  # empty: the profile's model; else an alias, a local directory or a hub id
    "seed": 0,
    "steps": None,  # optimizer steps; None keeps the profile's
    "batch_size": None,  # rows per process per step; None keeps the profile's
    "learning_rate": None,
    "max_length": None,
    "train": {},  # any further field of the recipe's TRL config (beta, num_generations, gradient_accumulation_steps...)
    "output_dir": "",  # empty: runs/recipes/<recipe>
    "save_model": True,
    "results_dir": "runs/recipes",  # results JSON: <results_dir>/<profile>/recipe_<recipe>.json
}
PROFILE_KNOBS = {"steps": "train_steps", "batch_size": "batch_size", "learning_rate": "learning_rate",
                 "max_length": "max_length"}
NO_LORA = {"r": 0, "alpha": None, "dropout": 0.0}  # r = 0: every weight trains
# bad input found before training: a config key or value, a data file, a model name
USER_ERRORS = (ConfigError, DataFormatError, FileNotFoundError, UnknownModelError, ModelUnavailableError)


@dataclass
class Plan:
    """What one recipe trains; :func:`main` runs every plan the same way."""

    model: Any
    tokenizer: Any
    rows: list[dict]
    args: Any  # the TRL config, from the course's own config function
    build: Callable[..., Any]  # a trainer builder with the signature train_arm expects
    keys: tuple[str, ...]  # the columns that identify a row inside a batch (see recipes.ledger)
    data: dict[str, Any]  # where the rows came from, for the results
    peft: Any = None


@dataclass(frozen=True)
class Recipe:
    """A recipe: its name, its own configuration keys, the TRL config class its ``train`` section fills, and how to
    plan a run. ``own_rows`` says each process must train on different rows (offline data); GRPO sends the same
    prompt to several processes on purpose, so its groups span them."""

    name: str
    defaults: Mapping[str, Any]
    trl_config: Callable[[], type]
    plan: Callable[[dict[str, Any], Profile, Path], Plan]
    own_rows: bool = True


def on_disk(dataset: Any, directory: Path, args: Any) -> Any:
    """``dataset`` saved once to ``directory`` by the first process and read back by every process.

    TRL caches what it computes before training (DPO's reference log-probabilities) next to the dataset's files; an
    in-memory dataset has none, so each process would look in its own temporary directory and the others would not
    find what the first one wrote. On disk, every process of the machine reads one cache.
    """
    import shutil

    from accelerate import PartialState
    from datasets import load_from_disk

    with main_process_first(args):
        if PartialState().is_main_process:
            shutil.rmtree(directory, ignore_errors=True)  # a cache of an earlier run may hold other weights' numbers
            dataset.save_to_disk(str(directory))
        return load_from_disk(str(directory))


def trl_builder(trainer_class: type, cache_dir: Path | None = None, **extra: Any) -> Callable[..., Any]:
    """A builder with :func:`helpers.train.train_arm`'s signature for a TRL trainer taking ``processing_class``;
    with ``cache_dir``, the dataset is read from there (:func:`on_disk`)."""
    def build(model: Any, tokenizer: Any, dataset: Any, args: Any, peft_config: Any = None, **_: Any) -> Any:
        if cache_dir is not None:
            dataset = on_disk(dataset, cache_dir, args)
        return trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=peft_config, **extra)
    return build


def lora(section: Mapping[str, Any]) -> Any:
    """LoRA on every linear layer (:func:`helpers.train.lora_config`) when ``lora.r`` > 0, else None."""
    return lora_config(section["r"], section["alpha"], dropout=section["dropout"]) if section["r"] else None


def trl_overrides(config: Mapping[str, Any], profile: Profile) -> dict[str, Any]:
    """The TRL arguments a recipe passes over the course's config function: its steps, its seed, its ``train``."""
    # every parameter gets a gradient in these recipes: DDP need not search the graph for unused ones each step
    return {"max_steps": profile.train_steps, "seed": config["seed"], "ddp_find_unused_parameters": False,
            **config["train"]}


@contextlib.contextmanager
def main_process_first(args: Any) -> Iterator[None]:
    """Work the first process does before the others (sampling data into the cache they then read).

    The TRL config sets the distributed state up when its device is first asked for, so it is asked here first.
    """
    from accelerate import PartialState

    _ = args.device
    with PartialState().main_process_first():
        yield


def parse(recipe: Recipe, argv: Sequence[str] | None) -> tuple[dict[str, Any], bool]:
    """The resolved configuration from the command line, and whether only to print it."""
    parser = argparse.ArgumentParser(prog=f"python -m recipes.{recipe.name}",
                                     description=sys.modules[recipe.plan.__module__].__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(CONFIGS / f"{recipe.name}.yaml"),
                        help="YAML file (default: %(default)s)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. model_id=tiny steps=8 train.beta=0.2")
    options = parser.parse_args(argv)
    config = load_config({**COMMON, **recipe.defaults}, options.config, options.overrides)
    check_train(config["train"], recipe.trl_config())
    return config, options.print_config


@contextlib.contextmanager
def results_under(directory: str) -> Iterator[None]:
    """Point :meth:`helpers.report.Report.save` at ``directory`` (it writes under ``$TUNING_LAB_RESULTS``): a recipe's
    results stay out of ``results/``, which holds the notebooks' committed evidence."""
    before = os.environ.get("TUNING_LAB_RESULTS")
    os.environ["TUNING_LAB_RESULTS"] = directory
    try:
        yield
    finally:
        if before is None:
            del os.environ["TUNING_LAB_RESULTS"]
        else:
            os.environ["TUNING_LAB_RESULTS"] = before


def process_record(recorder: Recorder) -> dict[str, Any]:
    """This process's rank, the ids of every batch it trained on, and its weights' hash (None when the weights are
    sharded across processes, as under FSDP or DeepSpeed: then no process holds them whole)."""
    trainer = recorder.trainer
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    return {"rank": trainer.accelerator.process_index, "batches": trainer.data_collator.batches,
            "weights_sha256": None if sharded else weights_sha256(trainer.model)}


def record_processes(report: Report, records: list[dict[str, Any]], own_rows: bool) -> None:
    """The processes' records as metrics and, with more than one process, the two claims that say they trained
    together: different rows in every batch (offline data only), the same weights at the end."""
    batches = [r["batches"] for r in records]
    report.metric("processes", records)
    report.metric("identical_batches", identical_batches(batches))
    report.metric("rows_on_several_processes", shared_rows(batches))
    if len(records) < 2:
        return
    if own_rows:
        report.claim("processes_trained_on_different_rows",
                     "each process trained on its own rows: no batch held the same rows on every process",
                     observed=identical_batches(batches), expected="0 identical batches",
                     holds=identical_batches(batches) == 0)
    hashes = {r["weights_sha256"] for r in records}
    if None not in hashes:
        report.claim("processes_ended_with_identical_weights", "every process ended with bit-identical weights",
                     observed=len(hashes), expected="1 distinct weights hash", holds=len(hashes) == 1)


def main(recipe: Recipe, argv: Sequence[str] | None = None) -> Path | None:
    """Run ``recipe`` from the command line; returns the results path on the first process (None elsewhere)."""
    try:
        config, print_only = parse(recipe, argv)
        if print_only:
            print(yaml.safe_dump(config, sort_keys=False), end="")
            return None
        knobs = {PROFILE_KNOBS[k]: config[k] for k in PROFILE_KNOBS if config[k] is not None}
        profile = get_profile(config["profile"], config["model_id"], **knobs)
        seed_everything(config["seed"])
        output_dir = Path(config["output_dir"] or f"runs/recipes/{recipe.name}")
        report = Report(f"recipe_{recipe.name}", profile, params=config)
        plan = recipe.plan(config, profile, output_dir)
    except USER_ERRORS as err:  # a message to act on, not a traceback
        raise SystemExit(f"recipes.{recipe.name}: {err}") from None
    recorder = Recorder(plan.build, plan.keys)
    train_arm(recipe.name, plan.model, plan.tokenizer, plan.rows, plan.args, peft=plan.peft, trainer=recorder,
              report=report)
    trainer = recorder.trainer
    if trainer.state.global_step == 0:  # every row dropped (RewardTrainer drops pairs longer than max_length)
        raise SystemExit(f"recipes.{recipe.name}: no training step ran on {len(plan.rows)} rows: the trainer kept "
                         f"none of them (are they longer than max_length={plan.args.max_length}?)")
    from accelerate.utils import gather_object

    records = gather_object([process_record(recorder)])
    if config["save_model"]:
        trainer.save_model(str(output_dir))  # every process: FSDP and DeepSpeed gather the weights to save them
    path = None
    if trainer.accelerator.is_main_process:
        state = trainer.accelerator.state
        report.metric("data", {**plan.data, "rows": len(plan.rows)})
        report.metric("distributed", {"type": str(state.distributed_type).split(".")[-1],
                                      "processes": state.num_processes, "backend": state.backend})
        if config["save_model"]:
            report.metric("model_dir", str(output_dir))
        record_processes(report, records, recipe.own_rows)
        with results_under(config["results_dir"]):
            path = report.save()
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()
    return path
