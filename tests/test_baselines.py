from helpers.evals import baselines
from helpers.report import load_results

SUITES = ("constraints", "math_accuracy", "code", "truefalse_accuracy", "truefalse_label_share", "world_qa_accuracy",
          "general_perplexity", "greedy_vs_sampled", "generation_throughput", "general_label_share")


def test_every_suite_runs_and_is_recorded(results_tmp):
    baselines.main(["--profile", "smoke"])
    data = load_results(results_tmp / "smoke" / "baselines.json")
    assert set(SUITES) <= set(data["metrics"])
    assert 0 <= data["metrics"]["math_accuracy"] <= 1 and data["metrics"]["code"]["n"] == baselines.SUITE_SIZE["smoke"]
    throughput = data["metrics"]["generation_throughput"]
    assert throughput["new_tokens"] == baselines.THROUGHPUT_PROMPTS["smoke"] * baselines.THROUGHPUT_NEW_TOKENS
    assert {c["id"] for c in data["claims"]} >= {"invented_people_unknown", "no_format_collapse_yet"}
