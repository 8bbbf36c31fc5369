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
    nb["metadata"]["papermill"] = {"parameters": {"PROFILE": profile}}
    target.write_text(json.dumps(nb))
    return target


def test_hash_ignores_the_injected_cell_and_tracks_code(tmp_path):
    src = _notebook(tmp_path / "a.ipynb")
    run = _executed(src, tmp_path / "run.ipynb")
    assert curriculum.code_hash(json.loads(src.read_text())) == curriculum.code_hash(json.loads(run.read_text()))
    other = _notebook(tmp_path / "b.ipynb", code="x = 2")
    assert curriculum.code_hash(json.loads(other.read_text())) != curriculum.code_hash(json.loads(src.read_text()))


def test_outputs_must_come_from_a_gpu_run_of_the_same_code(tmp_path):
    clean = _notebook(tmp_path / "clean.ipynb")
    assert curriculum.output_problem(clean) is None
    assert "no record" in curriculum.output_problem(_notebook(tmp_path / "dirty.ipynb", outputs=True))
    curriculum.stamp(_executed(clean, tmp_path / "run.ipynb"), clean)
    assert curriculum.output_problem(clean) is None
    nb = json.loads(clean.read_text())
    assert nb["metadata"]["tuning_lab"]["profile"] == "gpu"
    assert [c for c in nb["cells"] if c["cell_type"] == "code"][1]["outputs"][0]["text"] == "ran\n"
    nb["cells"][2]["source"] = "x = 3"  # edit the code after the run
    clean.write_text(json.dumps(nb))
    assert "code changed" in curriculum.output_problem(clean)


def test_stamping_refuses_other_code_and_non_gpu_runs(tmp_path):
    src = _notebook(tmp_path / "a.ipynb")
    run = _executed(_notebook(tmp_path / "b.ipynb", code="y = 1"), tmp_path / "run.ipynb")
    with pytest.raises(SystemExit, match="different code"):
        curriculum.stamp(run, src)
    curriculum.stamp(_executed(src, tmp_path / "cpu_run.ipynb", profile="cpu"), src)
    assert "only gpu-run outputs" in curriculum.output_problem(src)


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
    assert "| 05_example | ok | 1/2 | 3.2 |" in text
    assert "**did not hold**: `small`" in text and "| throughput | 123.5 |" in text
    assert "| answer | 'line one\\nline \\| two' |" in text  # one table row, whatever the text holds
    assert "| 06_broken | FAILED | no results |" in text and "ValueError: boom" in text
    again = curriculum.write_summary("smoke", {}, tmp_path).read_text()  # a later run of other notebooks
    total = json.loads((results_dir("smoke") / "05_example.json").read_text())["timings"]["notebook_total_s"]
    assert f"| 05_example | earlier | 1/2 | {total:.1f} |" in again


def test_unknown_notebook_selector_lists_what_exists():
    with pytest.raises(SystemExit, match="00_quickstart"):
        curriculum.list_notebooks("77")
