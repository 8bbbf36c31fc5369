"""Run the curriculum headlessly, summarise the results, and keep committed outputs honest.

    python -m helpers.curriculum run --profile auto [--nb 01]   # papermill -> runs/<profile>/
    python -m helpers.curriculum summary --profile gpu         # rewrite runs/<profile>/SUMMARY.md
    python -m helpers.curriculum stamp runs/cpu/01_x.ipynb notebooks/01_x.ipynb
    python -m helpers.curriculum evidence                      # rewrite results/README.md

A committed notebook carries either no outputs or the outputs of a real-model run (``cpu`` or ``gpu``,
never ``smoke``) of exactly its current code. ``run`` records in each results JSON the hash of the
code that produced it; ``stamp`` copies outputs from an executed notebook into the source notebook
only when the code cells match, records profile, hash, date, hardware and wall time in its metadata,
and writes a "run record" cell near the top so a reader sees which run made the outputs below.
:func:`output_problem` checks all of it later, and ``results/README.md`` (written by ``evidence``)
tabulates every committed result and whether it matches the current code.
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

from helpers.report import display_path, load_results, repo_root, results_dir, verdict_counts, verdict_of
from helpers.runtime import hardware_label, resolve_profile_name

INJECTED_TAG = "injected-parameters"
META_KEY = "tuning_lab"
RUN_RECORD_TAG = "run-record"  # the markdown cell a stamp writes under the title
EVIDENCE_PROFILES = ("cpu", "gpu", "small_gpu")  # real-model runs; smoke outputs are never committed


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


def _has_outputs(nb: dict[str, Any]) -> bool:
    return any(c.get("outputs") or c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code")


def _run_record_index(nb: dict[str, Any]) -> int | None:
    return next((i for i, c in enumerate(nb["cells"]) if RUN_RECORD_TAG in c.get("metadata", {}).get("tags", [])),
                None)


def output_problem(path: Path) -> str | None:
    """Why a notebook's committed outputs are not acceptable, or None.

    Acceptable: no outputs and no run record, or outputs stamped from a ``cpu`` or ``gpu`` run whose
    recorded code hash equals the hash of the code now in the notebook, with its run record shown.
    """
    nb = json.loads(Path(path).read_text())
    stamp_meta = nb.get("metadata", {}).get(META_KEY)
    if not _has_outputs(nb):
        if _run_record_index(nb) is not None or stamp_meta:
            return "has a run record but no outputs (remove the record cell and metadata, or stamp a run)"
        return None
    if not stamp_meta:
        return "has outputs but no record of the real run that made them (clear them or stamp a cpu/gpu run)"
    if stamp_meta.get("profile") not in EVIDENCE_PROFILES:
        return (f"outputs come from a {stamp_meta.get('profile')!r} run; only real-model runs "
                f"({', '.join(EVIDENCE_PROFILES)}) are committed")
    if stamp_meta.get("source_hash") != code_hash(nb):
        return "code changed since the run that made its outputs (rerun and stamp, or clear outputs)"
    if _run_record_index(nb) is None:
        return "outputs lack the run-record cell that tells a reader which run made them (stamp again)"
    return None


def run_record_markdown(meta: dict[str, Any], results: dict[str, Any]) -> str:
    """The cell under the title: which run produced the outputs on this page, and how its claims ended."""
    counts = verdict_counts(results["claims"])
    tally = ", ".join(f"{n} {'held' if name == 'holds' else name}" for name, n in counts.items() if n)
    note = results.get("environment", {}).get("run_note")
    return (f"> **Outputs on this page** come from a real run of exactly this code: profile `{meta['profile']}` "
            f"on {meta['hardware']}, {meta['date']}, {meta['wall_s']:.0f} s "
            f"for the whole notebook{f' ({note})' if note else ''}. Claims: {tally or 'none'}. Code hash "
            f"`{meta['source_hash'][:12]}`; results in `results/{meta['profile']}/{results['notebook']}.json`, "
            "all runs in [`results/README.md`](../results/README.md).")


def _run_profile(run_nb: dict[str, Any]) -> str:
    profile = run_nb.get("metadata", {}).get("papermill", {}).get("parameters", {}).get("PROFILE", "auto")
    if profile not in EVIDENCE_PROFILES:
        raise SystemExit(f"only real-model runs (cpu, gpu, small_gpu) are stamped (this run's PROFILE is {profile!r}); "
                         "run it with `make run PROFILE=cpu NB=..`")
    return profile


def stamp(executed: Path, target: Path) -> None:
    """Copy the outputs of an executed cpu or gpu run into ``target`` after checking that the code is identical.

    The run's results JSON must carry the same code hash (``run`` writes it). A gpu stamp of the current
    code is never replaced by a cpu run: it is the stronger evidence.
    """
    run_nb = json.loads(Path(executed).read_text())
    src_nb = json.loads(Path(target).read_text())
    digest = code_hash(src_nb)
    if code_hash(run_nb) != digest:
        raise SystemExit(f"{executed} was run from different code than {target}; not stamping")
    profile = _run_profile(run_nb)
    old = src_nb.get("metadata", {}).get(META_KEY) or {}
    if profile == "cpu" and old.get("profile") == "gpu" and old.get("source_hash") == digest:
        raise SystemExit(f"{target} carries a gpu run of this same code; a cpu run does not replace it")
    results_path = results_dir(profile) / f"{Path(target).stem}.json"
    results = load_results(results_path) if results_path.is_file() else {}
    if results.get("source_hash") != digest:
        raise SystemExit(f"{display_path(results_path)} is missing or from other code; run the notebook with "
                         "`python -m helpers.curriculum run` so its results record the code they came from")
    # The executed copy may carry the injected parameters and the record of the stamp it was run from.
    run_cells = [c for c in run_nb["cells"]
                 if not {INJECTED_TAG, RUN_RECORD_TAG} & set(c.get("metadata", {}).get("tags", []))]
    record = _run_record_index(src_nb)
    if record is not None:
        del src_nb["cells"][record]
    if len(run_cells) != len(src_nb["cells"]) or any(a["cell_type"] != b["cell_type"]
                                                     for a, b in zip(run_cells, src_nb["cells"], strict=True)):
        raise SystemExit("cells differ between the run and the source notebook")
    for src_cell, run_cell in zip(src_nb["cells"], run_cells, strict=True):
        if src_cell["cell_type"] == "code":
            src_cell["outputs"] = run_cell.get("outputs", [])
            src_cell["execution_count"] = run_cell.get("execution_count")
    papermill_meta = run_nb.get("metadata", {}).get("papermill", {})
    meta = {"profile": profile, "source_hash": digest, "stamped_from": Path(executed).name,
            "date": str(papermill_meta.get("end_time") or results.get("executed_at", ""))[:10],
            "hardware": hardware_label(results["environment"]),
            "wall_s": round(float(papermill_meta.get("duration") or results["timings"]["notebook_total_s"]), 1)}
    src_nb.setdefault("metadata", {})[META_KEY] = meta
    src_nb["cells"].insert(1, {"cell_type": "markdown", "id": "run-record", "metadata": {"tags": [RUN_RECORD_TAG]},
                               "source": run_record_markdown(meta, results)})
    Path(target).write_text(json.dumps(src_nb, indent=1, ensure_ascii=False) + "\n")


def record_source(executed: Path, profile: str, since: float = 0.0) -> None:
    """Write the hash of the code that ran (read from the executed copy) into the results JSON it saved.

    Any reader of ``results/`` can then tell whether a result belongs to the code now committed. A notebook
    that raised at its end (an enforced claim that did not hold) has still saved its results; ``since`` (a
    ``time.time()``) makes sure the JSON was written by this run and not left by an earlier one.
    """
    path = results_dir(profile) / f"{executed.stem}.json"
    if not path.is_file() or path.stat().st_mtime < since:
        return
    data = json.loads(path.read_text())
    data["source_hash"] = code_hash(json.loads(executed.read_text()))
    data["executed_at"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    path.write_text(json.dumps(data, indent=1) + "\n")


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
    word = verdict_of(claim)
    return word if word == "holds" else f"**{word}**"


def _claim_line(claim: dict[str, Any]) -> str:
    """One claim for the summaries: verdict, statement, observation, and the interval when it was tested."""
    tested = ""
    if claim.get("interval"):
        tested = f", interval {claim['interval']['interval']} by {claim['test']}, n = {claim['interval']['n']}"
    return (f"- {_verdict(claim)}: `{claim['id']}`: {claim['statement']} (observed {_fmt(claim['observed'])}"
            f"{tested}; expected {claim['expected']})")


def write_summary(profile: str, outcomes: dict[str, RunOutcome], out_dir: Path) -> Path:
    """Write ``SUMMARY.md``: per notebook its claims and whether they held, key metrics, time, memory."""
    lines = [f"# Tuning Lab run summary: profile `{profile}`", ""]
    lines += ["| notebook | run | claims held | inconclusive | wall (s) | peak RSS (GiB) | peak CUDA (GiB) |",
              "|---|---|---|---|---|---|---|"]
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
            lines.append(f"| {notebook} | {run} | no results | - | {wall} | - | - |")
        else:
            counts = verdict_counts(data["claims"])
            mem = data["peak_memory"]
            lines.append(f"| {notebook} | {run} | {counts['holds']}/{len(data['claims'])} | "
                         f"{counts['inconclusive']} | {wall} | "
                         f"{mem.get('rss_gib', '-')} | {mem.get('cuda_allocated_gib', '-')} |")
            details += [f"## {notebook}", ""]
            details += [_claim_line(c) for c in data["claims"]]
            details += ["", "| metric | value |", "|---|---|"]
            details += [f"| {k} | {_fmt(v)} |" for k, v in list(data["metrics"].items())[:12]]
            details.append("")
        if outcome is not None and not outcome.ok:
            details += [f"## {notebook}: execution failed", "", f"    {outcome.error}", ""]
    path = out_dir / "SUMMARY.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + [""] + details) + "\n")
    return path


def _code_state(data: dict[str, Any], current: dict[str, str]) -> str:
    """Whether a result was produced by the code now in its notebook."""
    if data["notebook"] not in current:
        return "not a notebook"
    if "source_hash" not in data:
        return "unknown (no hash recorded)"
    return "current" if data["source_hash"] == current[data["notebook"]] else "earlier code"


def evidence_markdown() -> str:
    """``results/README.md``: every committed result per notebook and profile, and every claim's verdict.

    Generated only from the committed results JSON and the notebooks' code, so it is reproducible and
    ``make test`` can check that it is current.
    """
    current = {p.stem: code_hash(json.loads(p.read_text())) for p in list_notebooks()}
    results = [load_results(p) for profile in EVIDENCE_PROFILES for p in sorted(results_dir(profile).glob("*.json"))]
    results.sort(key=lambda d: (d["notebook"], d["profile"]))
    lines = ["# Evidence: every committed run", "",
             "Generated by `python -m helpers.curriculum evidence` from `results/cpu/` and `results/gpu/`; "
             "`make test` fails when it is out of date. *code* says whether a result came from the code now in "
             "the notebook (`current`) or from an earlier version (kept as the record of that run).", "",
             "| notebook | profile | holds | did not hold | inconclusive | not replicated | wall (s) | "
             "peak RSS (GiB) | peak CUDA (GiB) | hardware | code |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    details: list[str] = []
    for data in results:
        counts = verdict_counts(data["claims"])
        mem = data["peak_memory"]
        lines.append(f"| {data['notebook']} | {data['profile']} | {counts['holds']} | "
                     f"{counts['did not hold']} | {counts['inconclusive']} | {counts['not replicated']} | "
                     f"{_fmt(data['timings'].get('notebook_total_s', '-'))} | {mem.get('rss_gib', '-')} | "
                     f"{mem.get('cuda_allocated_gib', '-')} | {hardware_label(data['environment'])} | "
                     f"{_code_state(data, current)} |")
        note = data["environment"].get("run_note")
        if data["claims"] or note:
            details += [f"## {data['notebook']} ({data['profile']})", ""]
            details += [f"> Run note: {note}", ""] if note else []
            details += [_claim_line(c) for c in data["claims"]]
            details.append("")
    return "\n".join(lines + [""] + details)


def evidence_path() -> Path:
    return repo_root() / "results" / "README.md"


def run(profile: str, selector: str | None, out_root: Path) -> int:
    """Execute the selected notebooks in one profile, then summarise; non-zero exit if any failed."""
    name = resolve_profile_name(profile)
    out_dir = out_root / name
    outcomes: dict[str, RunOutcome] = {}
    for notebook in list_notebooks(selector):
        print(f"== {notebook.name} (profile {name})", flush=True)
        started = time.time()
        outcome = execute(notebook, out_dir, {"PROFILE": name})
        record_source(out_dir / notebook.name, name, since=started)
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
    sub.add_parser("evidence", help="rewrite results/README.md from the committed results JSON")
    stamp_p = sub.add_parser("stamp", help="copy a cpu or gpu run's outputs into the source notebook")
    stamp_p.add_argument("executed", type=Path)
    stamp_p.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.profile, args.nb, Path(args.out))
    if args.command == "summary":
        name = resolve_profile_name(args.profile)
        print(write_summary(name, {}, Path(args.out) / name))
        return 0
    if args.command == "evidence":
        evidence_path().write_text(evidence_markdown())
        print(f"wrote {display_path(evidence_path())}")
        return 0
    stamp(args.executed, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
