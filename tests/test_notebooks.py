"""Every notebook: static checks, then a real papermill execution in the smoke profile."""

import ast
import json
import re

import pytest

from helpers import curriculum
from helpers.colab import colab_badge, setup_cell_source
from helpers.report import load_results, repo_root

NOTEBOOKS = curriculum.list_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _source(cell):
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def test_the_curriculum_is_not_empty():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_cell_holds_profile_and_seed(path):
    tagged = [c for c in _cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    source = _source(tagged[0])
    assert re.search(r"^PROFILE = ", source, re.M) and re.search(r"^SEED = ", source, re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_at_least_as_much_explanation_as_code(path):
    kinds = [c["cell_type"] for c in _cells(path)]
    assert kinds.count("markdown") >= kinds.count("code")


def _parameter_names(path):
    """The UPPERCASE names the parameters cell assigns: every one is a knob the results must record."""
    cell = next(c for c in _cells(path) if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse(_source(cell))
    return {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
            if isinstance(target, ast.Name) and target.id.isupper()}


def _output_text(cell):
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text") or output.get("data", {}).get("text/plain") or ""
        parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_absent_or_from_a_real_run_of_this_code(path):
    assert curriculum.output_problem(path) is None, curriculum.output_problem(path)


ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:tmp|root|home|usr|opt|work|content|private|var)/"
                           r"|site-packages|[A-Z]:\\\\Users")
RAW_TRAINER_LOG = re.compile(r"\{'(?:loss|train_runtime|grad_norm|learning_rate)': ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_outputs_show_no_machine_paths_or_raw_trainer_logs(path):
    for index, cell in enumerate(_cells(path)):
        text = _output_text(cell)
        assert not ABSOLUTE_PATH.search(text), f"cell {index} prints a path of this machine: {text[:200]!r}"
        assert not RAW_TRAINER_LOG.search(text), f"cell {index} prints raw trainer log dicts"


def test_output_scan_catches_what_it_is_for():
    assert ABSOLUTE_PATH.search("saved /tmp/tl06-x/results.json") and ABSOLUTE_PATH.search(".venv/lib/site-packages/x")
    assert RAW_TRAINER_LOG.search("{'loss': 1.2, 'grad_norm': 3.0}")
    assert not ABSOLUTE_PATH.search("saved results/cpu/06.json; ratio 1/tmp") and not RAW_TRAINER_LOG.search("loss 1.2")


def test_evidence_table_is_current():
    committed = curriculum.evidence_path().read_text() if curriculum.evidence_path().is_file() else ""
    assert committed == curriculum.evidence_markdown(), (
        "results/README.md is out of date: run `python -m helpers.curriculum evidence` and commit it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_and_colab_badge(path):
    cells = _cells(path)
    first_code = next(c for c in cells if c["cell_type"] == "code")
    assert _source(first_code).startswith(setup_cell_source().rstrip("\n"))
    assert colab_badge(path.name) in _source(cells[0])


def test_readme_lists_every_notebook_with_its_badge():
    readme = (repo_root() / "README.md").read_text()
    for path in NOTEBOOKS:
        assert colab_badge(path.name) in readme, f"README lacks the Colab badge of {path.name}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_smoke_profile(path, tmp_path, results_tmp):
    outcome = curriculum.execute(path, tmp_path, {"PROFILE": "smoke"}, timeout_s=600)
    assert outcome.ok, outcome.error
    data = load_results(results_tmp / "smoke" / f"{path.stem}.json")
    assert data["profile"] == "smoke" and data["notebook"] == path.stem
    assert data["claims"], "a notebook must check at least one claim"
    missing = _parameter_names(path) - set(data["params"])
    assert not missing, f"knobs of the parameters cell missing from the results' params: {sorted(missing)}"


def test_the_quickstart_map_marks_every_existing_notebook_as_here():
    cells = _cells(repo_root() / "notebooks" / "00_quickstart.ipynb")
    curriculum_map = next(_source(c) for c in cells if _source(c).startswith("## 6. The curriculum"))
    for path in NOTEBOOKS:
        assert f"| [{path.stem}]({path.name}) |" in curriculum_map and re.search(
            rf"\[{path.stem}\].*\| here \|", curriculum_map), f"00's map does not list {path.name} as here"
