import json
import math

import numpy as np
import pytest
import torch

from helpers.report import Report, load_results, validate_results
from helpers.runtime import get_profile


def _report(profile="smoke"):
    return Report("99_example", get_profile(profile), params={"SEED": 0})


def test_saved_results_follow_the_contract(results_tmp):
    report = _report()
    report.metric("accuracy", np.float32(0.5))
    report.metric("curve", torch.tensor([1.0, 2.0]))
    report.claim("goes_up", "accuracy beats chance", observed=0.5, expected="> 0.25", holds=0.5 > 0.25)
    with report.timer("step"):
        sum(range(1000))
    path = report.save()
    assert path == results_tmp / "smoke" / "99_example.json"
    data = load_results(path)
    assert data["metrics"] == {"accuracy": 0.5, "curve": [1.0, 2.0]}
    assert data["claims"][0] == {"id": "goes_up", "statement": "accuracy beats chance", "observed": 0.5,
                                 "expected": "> 0.25", "holds": True, "enforced": True, "verdict": "holds",
                                 "test": "exact", "interval": None}
    assert data["timings"]["step"] >= 0 and "notebook_total_s" in data["timings"]
    assert data["peak_memory"]["rss_gib"] > 0
    assert data["environment"]["profile"]["name"] == "smoke" and data["model_id"] == "tiny"


def test_non_finite_numbers_survive_as_text(results_tmp):
    report = _report()
    report.metric("loss", math.nan)
    data = json.loads(report.save().read_text())
    assert data["metrics"]["loss"] == "nan"


def test_recording_a_claim_twice_keeps_the_latest(results_tmp):
    report = _report()
    report.claim("c", "s", observed=1, expected="2", holds=False)
    report.claim("c", "s", observed=2, expected="2", holds=True)
    assert [c.holds for c in report.claims] == [True]


def test_enforce_raises_only_where_claims_are_asserted():
    smoke, cpu = _report("smoke"), _report("cpu")
    for report in (smoke, cpu):
        report.claim("bad", "never true", observed=0, expected="1", holds=False)
    cpu.claim("paper", "a published effect, checked at small scale", observed=0, expected="1", holds=False,
              enforced=False)
    smoke.enforce()
    with pytest.raises(AssertionError, match="\\['bad'\\]"):
        cpu.enforce()


@pytest.mark.parametrize(("broken", "message"), [
    ({"claims": []}, "lack keys"),
    ({"claims": [{"id": "x", "statement": "s", "observed": 1, "expected": "e"}]}, "lacks \\['holds'\\]"),
    ({"claims": [{"id": "x", "statement": "s", "observed": 1, "expected": "e", "holds": "yes"}]}, "must be a bool"),
])
def test_validation_names_the_problem(broken, message):
    good = {k: {} for k in ("params", "metrics", "timings", "peak_memory", "environment")}
    good.update(notebook="n", profile="smoke", model_id="tiny", claims=[])
    data = {**good, **broken}
    if message == "lack keys":
        del data["metrics"]
    with pytest.raises(ValueError, match=message):
        validate_results(data)


def test_figures_are_saved_beside_the_results(results_tmp):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = _report().save_figure(fig, "loss")
    assert path.is_file() and path.name == "99_example__loss.png"


def test_claims_table_lists_every_claim_with_its_verdict():
    report = _report("cpu")
    report.claim("a", "held", observed=1, expected="1", holds=True)
    report.claim("b", "failed", observed={"x": 0}, expected="1", holds=False)
    report.claim("c", "a paper's effect", observed=0, expected="1", holds=False, enforced=False)
    report.claim("d", "a long statement " * 10, observed=0.123456789, expected="1", holds=True)
    table = report.claims_table().data
    assert list(table.index) == ["a", "b", "c", "d"]
    assert list(table["verdict"]) == ["holds", "did not hold", "not replicated", "holds"]
    assert table.loc["b", "observed"] == {"x": 0}
    assert table.loc["d", "observed"] == 0.1235 and table.loc["d", "statement"] == "a long statement " * 10


def test_a_tested_claim_holds_fails_or_cannot_tell_by_its_interval(results_tmp, capsys):
    from helpers import stats

    report = _report("cpu")
    up = [0.6, 0.7, 0.65, 0.8, 0.75, 0.7, 0.72, 0.68]
    down = [0.1, 0.2, 0.15, 0.1, 0.12, 0.2, 0.18, 0.11]
    noisy = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4]
    report.test("better", "a beats b", stats.paired_difference(up, down))
    report.test("worse", "b beats a", stats.paired_difference(down, up))
    report.test("tie", "a beats noise", stats.paired_difference(noisy, noisy[::-1]))
    report.test("paper", "b beats a, as a paper found", stats.paired_difference(down, up), enforced=False)
    assert [c.verdict for c in report.claims] == ["holds", "did not hold", "inconclusive", "not replicated"]
    printed = capsys.readouterr().out
    assert "[INCONCLUSIVE] tie" in printed and "paired bootstrap" in printed and "n = 8" in printed
    with pytest.raises(AssertionError, match=r"\['worse'\]"):  # inconclusive never raises; only 'worse' does
        report.enforce()
    saved = load_results(report.save())
    assert [c["verdict"] for c in saved["claims"]] == ["holds", "did not hold", "inconclusive", "not replicated"]
    assert saved["claims"][0]["interval"]["n"] == 8 and not saved["claims"][2]["holds"]


def test_saving_prints_a_repository_relative_path(results_tmp, capsys):
    from helpers.report import display_path, repo_root

    assert display_path(repo_root() / "results" / "cpu" / "x.json") == "results/cpu/x.json"
    assert display_path(results_tmp / "smoke" / "99_example.json") == "99_example.json"
    _report().save()
    assert str(results_tmp) not in capsys.readouterr().out


def test_claims_stand_beside_the_committed_run_of_another_profile(monkeypatch, tmp_path):
    committed = _report("gpu")
    committed.claim("shared", "both runs make it", observed=0.51234, expected="> 0", holds=True)
    committed.claim("gpu_only", "only the gpu run makes it", observed=1.0, expected="> 0", holds=False, enforced=False)
    (tmp_path / "results" / "gpu").mkdir(parents=True)
    (tmp_path / "results" / "gpu" / "99_example.json").write_text(json.dumps(committed.to_dict()))
    monkeypatch.setattr("helpers.report.repo_root", lambda: tmp_path)
    here = _report("cpu")
    here.claim("shared", "both runs make it", observed=0.2, expected="> 0", holds=True)
    table = here.beside("gpu")
    assert table.loc["shared", "cpu verdict"] == "holds" and table.loc["shared", "gpu observed"] == 0.5123
    assert table.loc["gpu_only", "gpu verdict"] == "not replicated" and table.loc["gpu_only", "cpu verdict"] == ""
    assert here.beside("nothing-here") is None
