import json

import nbformat as nbf
import pytest

from helpers import curriculum
from helpers.report import Report, results_dir
from helpers.runtime import get_profile


def _notebook(path, code="x = 1", outputs=False):
    params = nbf.v4.new_code_cell("PROFILE = 'auto'")
    params.metadata["tags"] = ["parameters"]
    cell = nbf.v4.new_code_cell(code)
    if outputs:
        cell.outputs = [nbf.v4.new_output("stream", name="stdout", text="1\n")]
        cell.execution_count = 1
    nb = nbf.v4.new_notebook(cells=[nbf.v4.new_markdown_cell("# t"), params, cell])
    nbf.write(nb, path)
    return path


def _executed(source, target, profile="gpu"):
    """What papermill writes: an injected parameters cell after the tagged one, outputs everywhere."""
    nb = json.loads(source.read_text())
    injected = nbf.v4.new_code_cell(f"PROFILE = '{profile}'")
    injected.metadata["tags"] = [curriculum.INJECTED_TAG]
    nb["cells"].insert(2, injected)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [nbf.v4.new_output("stream", name="stdout", text="ran\n")]
            cell["execution_count"] = 1
    nb["metadata"]["papermill"] = {"parameters": {"PROFILE": profile}, "end_time": "2026-12-01T10:00:00",
                                   "duration": 12.5}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(nb))
    return target


def test_hash_ignores_the_injected_cell_and_tracks_code(tmp_path):
    src = _notebook(tmp_path / "a.ipynb")
    run = _executed(src, tmp_path / "run.ipynb")
    assert curriculum.code_hash(json.loads(src.read_text())) == curriculum.code_hash(json.loads(run.read_text()))
    other = _notebook(tmp_path / "b.ipynb", code="x = 2")
    assert curriculum.code_hash(json.loads(other.read_text())) != curriculum.code_hash(json.loads(src.read_text()))


def _results_for(run, profile, results_tmp, **claims):
    """The results JSON the run's notebook saved, with the code hash ``run`` records."""
    report = Report(run.stem, get_profile(profile))
    for claim_id, holds in claims.items():
        report.claim(claim_id, "s", observed=1, expected="1", holds=holds, enforced=claim_id != "paper")
    report.save()
    curriculum.record_source(run, profile)


def test_outputs_must_come_from_a_real_run_of_the_same_code(tmp_path, results_tmp):
    clean = _notebook(tmp_path / "clean.ipynb")
    assert curriculum.output_problem(clean) is None
    assert "no record" in curriculum.output_problem(_notebook(tmp_path / "dirty.ipynb", outputs=True))
    run = _executed(clean, tmp_path / "runs" / "clean.ipynb", profile="cpu")
    _results_for(run, "cpu", results_tmp, ok=True, paper=False)
    curriculum.stamp(run, clean)
    assert curriculum.output_problem(clean) is None
    nb = json.loads(clean.read_text())
    meta = nb["metadata"]["tuning_lab"]
    assert meta["profile"] == "cpu" and meta["hardware"] and meta["wall_s"] >= 0
    record = nb["cells"][1]
    assert "run-record" in record["metadata"]["tags"] and "profile `cpu`" in record["source"]
    assert "1 held, 1 not replicated" in record["source"]
    assert [c for c in nb["cells"] if c["cell_type"] == "code"][1]["outputs"][0]["text"] == "ran\n"
    curriculum.stamp(run, clean)  # stamping again replaces the record, never adds a second one
    assert sum("run-record" in c["metadata"].get("tags", []) for c in json.loads(clean.read_text())["cells"]) == 1
    rerun = _executed(clean, tmp_path / "runs" / "again.ipynb", profile="cpu")  # run from the stamped page
    curriculum.stamp(rerun, clean)  # its copy of the old record is not a cell of the notebook
    assert sum("run-record" in c["metadata"].get("tags", []) for c in json.loads(clean.read_text())["cells"]) == 1
    nb["cells"][3]["source"] = "x = 3"  # edit the code after the run
    clean.write_text(json.dumps(nb))
    assert "code changed" in curriculum.output_problem(clean)


def test_stamping_refuses_other_code_smoke_runs_and_unrecorded_results(tmp_path, results_tmp):
    src = _notebook(tmp_path / "a.ipynb")
    with pytest.raises(SystemExit, match="different code"):
        curriculum.stamp(_executed(_notebook(tmp_path / "b.ipynb", code="y = 1"), tmp_path / "r.ipynb"), src)
    with pytest.raises(SystemExit, match="only real-model runs"):
        curriculum.stamp(_executed(src, tmp_path / "smoke" / "a.ipynb", profile="smoke"), src)
    run = _executed(src, tmp_path / "gpu" / "a.ipynb", profile="gpu")
    Report("a", get_profile("gpu")).save()  # results saved, but no code hash recorded for them
    with pytest.raises(SystemExit, match="missing or from other code"):
        curriculum.stamp(run, src)
    assert curriculum.output_problem(src) is None  # nothing was written


def test_a_cpu_run_never_replaces_a_gpu_stamp_of_the_same_code(tmp_path, results_tmp):
    src = _notebook(tmp_path / "a.ipynb")
    gpu_run = _executed(src, tmp_path / "gpu" / "a.ipynb", profile="gpu")
    _results_for(gpu_run, "gpu", results_tmp, ok=True)
    curriculum.stamp(gpu_run, src)
    cpu_run = _executed(src, tmp_path / "cpu" / "a.ipynb", profile="cpu")
    _results_for(cpu_run, "cpu", results_tmp, ok=True)
    with pytest.raises(SystemExit, match="gpu run of this same code"):
        curriculum.stamp(cpu_run, src)


def test_a_run_record_without_outputs_is_a_problem(tmp_path):
    path = _notebook(tmp_path / "a.ipynb")
    nb = json.loads(path.read_text())
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "r", "metadata": {"tags": ["run-record"]}, "source": "x"})
    path.write_text(json.dumps(nb))
    assert "run record but no outputs" in curriculum.output_problem(path)


def test_evidence_table_counts_verdicts_and_tells_current_from_earlier_code(tmp_path, results_tmp, monkeypatch):
    src = _notebook(tmp_path / "07_x.ipynb")
    monkeypatch.setattr(curriculum, "list_notebooks", lambda selector=None: [src])
    run = _executed(src, tmp_path / "cpu" / "07_x.ipynb", profile="cpu")
    _results_for(run, "cpu", results_tmp, a=True, b=False, paper=False)
    text = curriculum.evidence_markdown()
    assert "| 07_x | cpu | 1 | 1 | 0 | 1 |" in text and text.rstrip().endswith("expected 1)")
    assert "| current |" in text
    nb = json.loads(src.read_text())
    nb["cells"][2]["source"] = "x = 2"
    src.write_text(json.dumps(nb))
    assert "| earlier code |" in curriculum.evidence_markdown()


def test_summary_lists_claims_metrics_and_failures(results_tmp, tmp_path):
    report = Report("05_example", get_profile("smoke"))
    report.metric("throughput", 123.456)
    report.metric("answer", "line one\nline | two")
    report.claim("fast", "it is fast", observed=1, expected="> 0", holds=True)
    report.claim("small", "it is small", observed=9, expected="< 1", holds=False)
    report.save()
    outcomes = {"05_example": curriculum.RunOutcome("05_example", True, 3.2),
                "06_broken": curriculum.RunOutcome("06_broken", False, 1.0, "ValueError: boom")}
    text = curriculum.write_summary("smoke", outcomes, tmp_path).read_text()
    assert "| 05_example | ok | 1/2 | 0 | 3.2 |" in text
    assert "**did not hold**: `small`" in text and "| throughput | 123.5 |" in text
    assert "| answer | 'line one\\nline \\| two' |" in text  # one table row, whatever the text holds
    assert "| 06_broken | FAILED | no results |" in text and "ValueError: boom" in text
    again = curriculum.write_summary("smoke", {}, tmp_path).read_text()  # a later run of other notebooks
    total = json.loads((results_dir("smoke") / "05_example.json").read_text())["timings"]["notebook_total_s"]
    assert f"| 05_example | earlier | 1/2 | 0 | {total:.1f} |" in again


def test_unknown_notebook_selector_lists_what_exists():
    with pytest.raises(SystemExit, match="00_quickstart"):
        curriculum.list_notebooks("77")


def test_a_source_hash_is_recorded_only_on_results_this_run_wrote(tmp_path, results_tmp):
    """A notebook that raised at its end still saved its results; results older than the run are left alone."""
    import time

    run = _executed(_notebook(tmp_path / "nb.ipynb"), tmp_path / "runs" / "nb.ipynb", profile="gpu")
    Report(run.stem, get_profile("gpu")).save()
    curriculum.record_source(run, "gpu", since=time.time() + 60)  # written before this "run" began
    assert "source_hash" not in json.loads((results_tmp / "gpu" / "nb.json").read_text())
    curriculum.record_source(run, "gpu", since=time.time() - 60)
    assert json.loads((results_tmp / "gpu" / "nb.json").read_text())["source_hash"]
