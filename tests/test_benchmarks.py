import importlib.util

import torch

from helpers.report import load_results, repo_root


def test_sft_throughput_benchmark_runs_every_mode(results_tmp):
    spec = importlib.util.spec_from_file_location("sft_throughput", repo_root() / "benchmarks" / "sft_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--profile", "smoke"]) == 0
    data = load_results(results_tmp / "smoke" / "benchmark_sft.json")
    for mode in ("none", "wrapped", "isolated"):
        run = data["metrics"][f"packing_{mode}"]
        assert run["steps"] == bench.SCALE["smoke"]["steps"] and run["tokens"] > 0
    assert data["metrics"]["raw_eager"]["steps"] == bench.SCALE["smoke"]["raw_steps"]
    claims = {c["id"]: c for c in data["claims"]}
    assert claims["isolated_keeps_documents_apart"]["holds"]  # checked through the trainer's own collator
    assert "isolated_beats_padded" in claims
    if not torch.cuda.is_available():
        assert "skipped" in data["metrics"]["packing_isolated_compiled"]
