"""The recipes: configuration (defaults, YAML, ``key=value`` overrides, errors naming the bad key), and SFT and DPO
trained by two processes on CPU (gloo), which must each see their own rows and end with the same weights."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from recipes import dpo, grpo, reward, sft
from recipes.common import main, parse
from recipes.config import ConfigError, load_config, parse_override
from recipes.ledger import identical_batches, shared_rows

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"sft": sft.RECIPE, "reward": reward.RECIPE, "dpo": dpo.RECIPE, "grpo": grpo.RECIPE}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_shipped_config_parses_and_overrides_win(name):
    recipe = RECIPES[name]
    config, print_only = parse(recipe, [f"--config={ROOT / 'recipes/configs' / f'{name}.yaml'}", "steps=8",
                                        "model_id=tiny", "data.files=[a.jsonl, b.jsonl]", "train.seed=3"])
    assert not print_only
    assert config["steps"] == 8 and config["model_id"] == "tiny"
    assert config["data"]["files"] == ["a.jsonl", "b.jsonl"]
    assert config["train"]["seed"] == 3
    assert set(config["data"]) == set(recipe.defaults["data"])  # a section keeps the keys the override left alone


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_bad_key_names_the_key(name, tmp_path, capsys):
    with pytest.raises(ConfigError, match="'data.fiels'.*did you mean 'files'"):
        parse(RECIPES[name], ["data.fiels=[x.jsonl]"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 2\nlearning_rat: 1e-4\n")
    with pytest.raises(ConfigError, match=f"{bad}.*'learning_rat'.*did you mean 'learning_rate'"):
        parse(RECIPES[name], [f"--config={bad}"])
    with pytest.raises(ConfigError, match="train.gradient_acumulation_steps is not a field"):
        parse(RECIPES[name], ["train.gradient_acumulation_steps=4"])
    with pytest.raises(SystemExit, match=f"recipes.{name}: .*'stepz'"):  # a message to act on, no traceback
        main(RECIPES[name], ["stepz=3"])


def test_values_are_yaml_and_print_config(capsys):
    assert parse_override("learning_rate=1e-5") == {"learning_rate": 1e-5}  # a float, though YAML 1.1 says string
    assert parse_override("lora.r=16") == {"lora": {"r": 16}}
    with pytest.raises(ConfigError, match="not key=value"):
        parse_override("steps")
    with pytest.raises(ConfigError, match="is a section"):
        load_config({"data": {"files": []}}, None, ["data=x.jsonl"])
    assert main(sft.RECIPE, ["--print-config", "packing=isolated"]) is None
    assert "packing: isolated" in capsys.readouterr().out


def test_ledger_counts():
    assert identical_batches([[["a", "b"]], [["b", "a"]]]) == 1
    assert identical_batches([[["a"], ["c"]], [["b"], ["c"]]]) == 1
    assert shared_rows([[["a", "b"]], [["b", "c"]]]) == 1


def test_estimate_shards_the_states():
    from transformers import AutoConfig

    from helpers.models import resolve_model
    from recipes.estimate import per_gpu

    config = AutoConfig.from_pretrained(resolve_model("tiny")[0])
    one, eight = per_gpu(config, 1, 2, 128), per_gpu(config, 8, 2, 128)
    assert eight["sharded_gib"] < one["sharded_gib"] and eight["sharded_gib"] < eight["ddp_gib"]
    assert eight["ddp_gib"] == one["ddp_gib"]  # DDP keeps everything on every GPU


# ---------------------------------------------------------------- two processes, CPU, gloo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(name: str, tmp_path: Path, *overrides: str) -> dict:
    """Run ``recipes.<name>`` as two processes (torchrun; gloo on CPU) in the smoke profile; its results JSON."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TUNING_LAB_OFFLINE": "1",
           "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", f"recipes.{name}", "profile=smoke", "steps=3",
               "batch_size=2", f"output_dir={tmp_path / name}", f"results_dir={tmp_path}", *overrides]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((tmp_path / "smoke" / f"recipe_{name}.json").read_text())


def _check_trained_together(results: dict) -> None:
    metrics = results["metrics"]
    assert metrics["distributed"] == {"type": "MULTI_CPU", "processes": 2, "backend": "gloo"}
    ranks = sorted(metrics["processes"], key=lambda r: r["rank"])
    assert [r["rank"] for r in ranks] == [0, 1]
    seen = [{row for batch in r["batches"] for row in batch} for r in ranks]
    assert all(seen) and "?" not in seen[0] | seen[1]
    assert not seen[0] & seen[1], "the two processes trained on some of the same rows"
    hashes = [r["weights_sha256"] for r in ranks]
    assert hashes[0] is not None and hashes[0] == hashes[1]
    assert {c["id"]: c["holds"] for c in results["claims"]} == {
        "processes_trained_on_different_rows": True, "processes_ended_with_identical_weights": True}


def test_sft_two_processes(tmp_path):
    _check_trained_together(_two_processes("sft", tmp_path, "data.n=16", "max_length=96", "packing=none"))


def test_dpo_two_processes(tmp_path):
    rows = [json.loads(line) for line in (ROOT / "data/general_instructions.jsonl").read_text().splitlines()[:17]]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": [a["messages"][0]], "chosen": [a["messages"][1]],
                                         "rejected": [b["messages"][1]]}) + "\n"
                             for a, b in zip(rows, rows[1:], strict=False)))
    _check_trained_together(_two_processes("dpo", tmp_path, f"data.files=[{pairs}]", "max_length=64"))
