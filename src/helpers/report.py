"""The results contract: what every notebook measured, which claims held, and on what hardware.

Each notebook ends by saving ``results/<profile>/<notebook>.json``::

    {notebook, profile, model_id, params, metrics{}, claims[{id, statement, observed, expected, holds}],
     timings{}, peak_memory{}, environment{}}

``make run`` gathers these files into ``runs/<profile>/SUMMARY.md`` and records in each the hash of
the code that produced it. ``results/cpu/`` and ``results/gpu/`` are committed: they are the evidence
that each effect happened (or did not) with a real model; ``results/README.md`` tabulates them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import torch

from helpers.memory import cuda_peak_so_far, rss_peak_gib
from helpers.runtime import Profile, environment_report

REQUIRED_KEYS = ("notebook", "profile", "model_id", "params", "metrics", "claims", "timings",
                 "peak_memory", "environment")
CLAIM_KEYS = ("id", "statement", "observed", "expected", "holds")


def repo_root() -> Path:
    """The checkout this package was installed from (editable install), else the working directory."""
    candidate = Path(__file__).resolve().parents[2]
    return candidate if (candidate / "pyproject.toml").is_file() else Path.cwd()


def results_dir(profile: str) -> Path:
    """``$TUNING_LAB_RESULTS/<profile>`` when set (tests use it), else ``<repo>/results/<profile>``."""
    base = os.environ.get("TUNING_LAB_RESULTS")
    return (Path(base) if base else repo_root() / "results") / profile


def display_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it: printed outputs name no machine's layout."""
    try:
        return str(Path(path).resolve().relative_to(repo_root()))
    except ValueError:
        return Path(path).name


def _jsonable(value: Any) -> Any:
    """Convert numpy/torch scalars, dataclasses, paths and non-finite floats into plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclass
class Claim:
    """One checked statement: what we expected, what we saw, and whether it held."""

    id: str
    statement: str
    observed: Any
    expected: str
    holds: bool
    enforced: bool = True


@dataclass
class Report:
    """Collects a notebook's measurements and writes the results JSON.

    ``claim`` takes ``holds`` as a boolean the notebook computes in plain sight, so the reader sees
    the exact comparison behind every check.
    """

    notebook: str
    profile: Profile
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def metric(self, name: str, value: Any) -> Any:
        """Record a metric and hand the value back, so it can be recorded where it is computed."""
        self.metrics[name] = _jsonable(value)
        return value

    def claim(self, claim_id: str, statement: str, *, observed: Any, expected: str, holds: bool,
              enforced: bool = True) -> None:
        """Record a claim and print whether it held; never raises (see :meth:`enforce`).

        Returns nothing, so a cell that ends with a claim shows the printed verdict, not a repr.

        ``enforced=False`` marks a replication check: a published number we compare against and
        report honestly, but whose failure at this scale is a finding, not a bug.
        """
        entry = Claim(claim_id, statement, _jsonable(observed), expected, bool(holds), enforced)
        self.claims = [c for c in self.claims if c.id != claim_id] + [entry]
        mark = verdict(entry.holds, enforced).upper()
        print(f"[{mark}] {claim_id}: {statement}\n         observed {entry.observed}; expected {expected}")

    @contextlib.contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Time a block (CUDA work synchronised first, so GPU time is not under-counted)."""
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.timings[name] = round(time.perf_counter() - start, 4)

    def peak_memory(self) -> dict[str, float]:
        """Peak process RSS and, on GPU, the peak memory torch allocated and reserved."""
        peak = {"rss_gib": round(rss_peak_gib(), 3)}
        if torch.cuda.is_available():
            peak["cuda_allocated_gib"] = round(cuda_peak_so_far() / 2**30, 3)
            peak["cuda_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 3)
        return peak

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure next to the results JSON as ``<notebook>__<name>.png``."""
        path = results_dir(self.profile.name) / "figures" / f"{self.notebook}__{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        self.figures.append(path.name)
        return path

    def to_dict(self) -> dict[str, Any]:
        """The results contract as a plain dict."""
        self.timings.setdefault("notebook_total_s", round(time.perf_counter() - self.started, 3))
        return _jsonable({
            "notebook": self.notebook,
            "profile": self.profile.name,
            "model_id": self.profile.model_id,
            "params": self.params,
            "metrics": self.metrics,
            "claims": [asdict(c) for c in self.claims],
            "timings": self.timings,
            "peak_memory": self.peak_memory(),
            "environment": environment_report(self.profile),
            "figures": self.figures,
        })

    def save(self) -> Path:
        """Write ``results/<profile>/<notebook>.json`` atomically and return its path."""
        self.timings["notebook_total_s"] = round(time.perf_counter() - self.started, 3)
        data = self.to_dict()
        validate_results(data)
        path = results_dir(self.profile.name) / f"{self.notebook}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
        os.replace(tmp, path)
        held = sum(c.holds for c in self.claims)
        print(f"saved {display_path(path)} ({held}/{len(self.claims)} claims held)")
        return path

    def claims_table(self) -> Any:
        """Every claim as one table row: the closing "What we measured" section of a notebook."""
        import pandas as pd

        rows = [{"claim": c.id, "verdict": verdict(c.holds, c.enforced), "observed": _short(c.observed),
                 "expected": c.expected, "statement": c.statement} for c in self.claims]
        return pd.DataFrame(rows, columns=["claim", "verdict", "observed", "expected", "statement"]).set_index("claim")

    def enforce(self) -> None:
        """Raise when a claim failed and the profile asserts claims (``smoke`` only records them)."""
        failed = [c.id for c in self.claims if not c.holds and c.enforced]
        if failed and self.profile.assert_claims:
            raise AssertionError(f"claims that did not hold in profile {self.profile.name!r}: {failed}")


def verdict(holds: bool, enforced: bool = True) -> str:
    """How a claim ended, in the words every table and printout uses."""
    if holds:
        return "holds"
    return "did not hold" if enforced else "not replicated"


def _short(value: Any, width: int = 80) -> str:
    """An observed value as one line of at most ``width`` characters (tables stay readable)."""
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def validate_results(data: dict[str, Any]) -> None:
    """Check a results dict against the contract; raise ValueError naming what is missing or wrong."""
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"results lack keys {missing}")
    for i, claim in enumerate(data["claims"]):
        lacking = [k for k in CLAIM_KEYS if k not in claim]
        if lacking:
            raise ValueError(f"claim #{i} ({claim.get('id', '?')}) lacks {lacking}")
        if not isinstance(claim["holds"], bool):
            raise ValueError(f"claim {claim['id']!r}: holds must be a bool, got {claim['holds']!r}")
    for key in ("metrics", "timings", "peak_memory", "environment", "params"):
        if not isinstance(data[key], dict):
            raise ValueError(f"{key} must be an object, got {type(data[key]).__name__}")


def load_results(path: Path) -> dict[str, Any]:
    """Read and validate one results file."""
    data = json.loads(Path(path).read_text())
    validate_results(data)
    return data
