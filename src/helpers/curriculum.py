"""Run the curriculum headlessly, summarise the results, and keep committed outputs honest.

    python -m helpers.curriculum run --profile auto [--nb 01]   # papermill -> runs/<profile>/
    python -m helpers.curriculum summary --profile gpu         # rewrite runs/<profile>/SUMMARY.md
    python -m helpers.curriculum stamp runs/gpu/01_x.ipynb notebooks/01_x.ipynb

A committed notebook carries either no outputs or the outputs of a ``gpu`` run of exactly its
current code. ``stamp`` copies outputs from an executed notebook into the source notebook only when
the code cells match, and records the hash of that code; :func:`output_problem` checks it later.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.report import load_results, repo_root, results_dir
from helpers.runtime import resolve_profile_name

INJECTED_TAG = "injected-parameters"
META_KEY = "tuning_lab"


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def list_notebooks(selector: str | None = None) -> list[Path]:
    """The numbered notebooks in reading order; ``selector`` keeps those whose name starts with it."""
    found = sorted(p for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if selector:
        found = [p for p in found if p.name.startswith(selector)]
        if not found:
            raise SystemExit(f"no notebook matches {selector!r}; available: "
                             f"{', '.join(p.stem for p in list_notebooks())}")
    return found


def _code_sources(nb: dict[str, Any]) -> list[str]:
    """Code cell sources, without the cell papermill injects (it is not part of the committed code)."""
    sources = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        src = cell["source"]
        sources.append(src if isinstance(src, str) else "".join(src))
    return sources


def code_hash(nb: dict[str, Any]) -> str:
    """sha256 over the code cells: any edit to the code changes it."""
    digest = hashlib.sha256()
    for src in _code_sources(nb):
        digest.update(src.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def output_problem(path: Path) -> str | None:
    """Why a notebook's committed outputs are not acceptable, or None.

    Acceptable: no outputs at all, or outputs stamped from a ``gpu`` run whose recorded code hash
    equals the hash of the code now in the notebook.
    """
    nb = json.loads(Path(path).read_text())
    has_outputs = any(c.get("outputs") or c.get("execution_count") for c in nb["cells"]
                      if c["cell_type"] == "code")
    if not has_outputs:
        return None
    stamp_meta = nb.get("metadata", {}).get(META_KEY)
    if not stamp_meta:
        return "has outputs but no record of the gpu run that made them (clear them or stamp a gpu run)"
    if stamp_meta.get("profile") != "gpu":
        return f"outputs come from a {stamp_meta.get('profile')!r} run; only gpu-run outputs are committed"
    if stamp_meta.get("source_hash") != code_hash(nb):
        return "code changed since the gpu run that made its outputs (rerun on GPU or clear outputs)"
    return None


def stamp(executed: Path, target: Path) -> None:
    """Copy outputs of an executed gpu run into ``target`` after checking that the code is identical."""
    run_nb = json.loads(Path(executed).read_text())
    src_nb = json.loads(Path(target).read_text())
    if code_hash(run_nb) != code_hash(src_nb):
        raise SystemExit(f"{executed} was run from different code than {target}; not stamping")
    profile = run_nb.get("metadata", {}).get("papermill", {}).get("parameters", {}).get("PROFILE", "auto")
    run_cells = [c for c in run_nb["cells"] if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    if len(run_cells) != len(src_nb["cells"]):
        raise SystemExit("cell count differs between the run and the source notebook")
    for src_cell, run_cell in zip(src_nb["cells"], run_cells, strict=True):
        if src_cell["cell_type"] == "code":
            src_cell["outputs"] = run_cell.get("outputs", [])
            src_cell["execution_count"] = run_cell.get("execution_count")
    src_nb.setdefault("metadata", {})[META_KEY] = {
        "profile": profile if profile != "auto" else "gpu",
        "source_hash": code_hash(src_nb),
        "stamped_from": Path(executed).name,
    }
    Path(target).write_text(json.dumps(src_nb, indent=1, ensure_ascii=False) + "\n")


@dataclass
class RunOutcome:
    notebook: str
    ok: bool
    wall_s: float
    error: str = ""


def execute(notebook: Path, out_dir: Path, parameters: dict[str, Any], timeout_s: int = 3600) -> RunOutcome:
    """Execute one notebook with papermill (cwd = notebooks/) and time it, kernel start included."""
    import papermill

    # papermill parses the parameters cell to name its variables and warns on each line with two or more "=",
    # which is every per-profile dict(...) knob. That parse only feeds its unknown-parameter check (whose own
    # warning, in another logger, stays on), so these lines are noise.
    logging.getLogger("papermill.translators").setLevel(logging.ERROR)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(notebook), str(out_dir / notebook.name), parameters=parameters,
                                   cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
                                   execution_timeout=timeout_s)
        return RunOutcome(notebook.stem, True, time.perf_counter() - start)
    except papermill.PapermillExecutionError as err:
        return RunOutcome(notebook.stem, False, time.perf_counter() - start,
                          f"{err.ename}: {err.evalue} (cell {err.exec_count})")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value)
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    text = text.replace("|", "\\|")  # keep markdown tables intact; repr() already escaped newlines
    return text if len(text) <= 60 else text[:57] + "..."


def _verdict(claim: dict[str, Any]) -> str:
    if claim["holds"]:
        return "held"
    return "**did not hold**" if claim.get("enforced", True) else "**not replicated at this scale**"


def write_summary(profile: str, outcomes: dict[str, RunOutcome], out_dir: Path) -> Path:
    """Write ``SUMMARY.md``: per notebook its claims and whether they held, key metrics, time, memory."""
    lines = [f"# Tuning Lab run summary: profile `{profile}`", ""]
    lines += ["| notebook | run | claims held | wall (s) | peak RSS (GiB) | peak CUDA (GiB) |",
              "|---|---|---|---|---|---|"]
    details: list[str] = []
    for notebook in sorted(set(outcomes) | {p.stem for p in results_dir(profile).glob("*.json")}):
        outcome = outcomes.get(notebook)
        path = results_dir(profile) / f"{notebook}.json"
        data = load_results(path) if path.is_file() else None
        # A notebook not run by this call keeps its row: its results came from an earlier run, whose own
        # timer gives the wall time (kernel start not included).
        run = "earlier" if outcome is None else ("ok" if outcome.ok else "FAILED")
        earlier = (data or {}).get("timings", {}).get("notebook_total_s")
        wall = f"{outcome.wall_s:.1f}" if outcome else (f"{earlier:.1f}" if earlier is not None else "-")
        if data is None:
            lines.append(f"| {notebook} | {run} | no results | {wall} | - | - |")
        else:
            held = sum(c["holds"] for c in data["claims"])
            mem = data["peak_memory"]
            lines.append(f"| {notebook} | {run} | {held}/{len(data['claims'])} | {wall} | "
                         f"{mem.get('rss_gib', '-')} | {mem.get('cuda_allocated_gib', '-')} |")
            details += [f"## {notebook}", ""]
            details += [f"- {_verdict(c)}: `{c['id']}`: {c['statement']} "
                        f"(observed {_fmt(c['observed'])}; expected {c['expected']})" for c in data["claims"]]
            details += ["", "| metric | value |", "|---|---|"]
            details += [f"| {k} | {_fmt(v)} |" for k, v in list(data["metrics"].items())[:12]]
            details.append("")
        if outcome is not None and not outcome.ok:
            details += [f"## {notebook}: execution failed", "", f"    {outcome.error}", ""]
    path = out_dir / "SUMMARY.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + [""] + details) + "\n")
    return path


def run(profile: str, selector: str | None, out_root: Path) -> int:
    """Execute the selected notebooks in one profile, then summarise; non-zero exit if any failed."""
    name = resolve_profile_name(profile)
    out_dir = out_root / name
    outcomes: dict[str, RunOutcome] = {}
    for notebook in list_notebooks(selector):
        print(f"== {notebook.name} (profile {name})", flush=True)
        outcome = execute(notebook, out_dir, {"PROFILE": name})
        outcomes[notebook.stem] = outcome
        print(f"   {'ok' if outcome.ok else 'FAILED: ' + outcome.error} in {outcome.wall_s:.1f} s", flush=True)
    summary = write_summary(name, outcomes, out_dir)
    print(f"summary: {summary}")
    return 0 if all(o.ok for o in outcomes.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.curriculum", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="execute notebooks with papermill")
    run_p.add_argument("--profile", default="auto")
    run_p.add_argument("--nb", default=None, help="run only notebooks whose name starts with this, e.g. 01")
    run_p.add_argument("--out", default=str(repo_root() / "runs"))
    sum_p = sub.add_parser("summary", help="rewrite SUMMARY.md from results/<profile>/")
    sum_p.add_argument("--profile", default="gpu")
    sum_p.add_argument("--out", default=str(repo_root() / "runs"))
    stamp_p = sub.add_parser("stamp", help="copy a gpu run's outputs into the source notebook")
    stamp_p.add_argument("executed", type=Path)
    stamp_p.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.profile, args.nb, Path(args.out))
    if args.command == "summary":
        name = resolve_profile_name(args.profile)
        print(write_summary(name, {}, Path(args.out) / name))
        return 0
    stamp(args.executed, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
