"""The results contract: what every notebook measured, which claims held, and on what hardware.

Each notebook ends by saving ``results/<profile>/<notebook>.json``::

    {notebook, profile, model_id, params, metrics{}, claims[{id, statement, observed, expected, holds,
     enforced, verdict, test, interval}], timings{}, peak_memory{}, environment{}}

A claim is either *exact* (``Report.claim``: a hand count equals PEFT's, a mask decodes to the answer) or
*tested* (``Report.test``: an :class:`~helpers.stats.Interval` against a bar). Its verdict is one of
**holds**, **did not hold**, **inconclusive** (the bar lies inside the interval: this n cannot tell), and,
for a replication of a published result (``enforced=False``) that did not hold, **not replicated**. Only
*did not hold* of an enforced claim makes :meth:`Report.enforce` raise.

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
from helpers.stats import Direction, Interval, decide

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
    """One checked statement: what we expected, what we saw, the test that decided it and its verdict."""

    id: str
    statement: str
    observed: Any
    expected: str
    holds: bool
    enforced: bool = True
    verdict: str = ""
    test: str = "exact"
    interval: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.verdict = self.verdict or ("holds" if self.holds else "did not hold")
        if self.verdict == "did not hold" and not self.enforced:
            self.verdict = "not replicated"
        self.holds = self.verdict == "holds"

    def line(self) -> str:
        """What a notebook prints under the measurement: verdict, statement, observation and its noise."""
        seen = f"observed {_rounded(self.observed)}"
        if self.interval:
            low, high = self.interval["interval"]
            detectable = self.interval["detectable"]
            seen += (f" (interval [{low}, {high}], {self.test}, n = {self.interval['n']}"
                     + (f"; smallest detectable effect about {detectable})" if detectable is not None else ")"))
        return f"[{self.verdict.upper()}] {self.id}: {self.statement}\n         {seen}; expected {self.expected}"


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
        self._add(Claim(claim_id, statement, _jsonable(observed), expected, bool(holds), enforced))

    def test(self, claim_id: str, statement: str, interval: Interval, *, bar: float = 0.0,
             direction: Direction = "greater", enforced: bool = True) -> None:
        """Record a claim decided by an interval (see :mod:`helpers.stats`) against ``bar`` and print it.

        ``direction="greater"`` claims the quantity is above ``bar``: it holds when the whole interval is,
        did not hold when the whole interval is below, and is inconclusive when ``bar`` lies inside.
        """
        word = decide(interval, bar, direction)
        expected = f"{'>' if direction == 'greater' else '<'} {bar:g} beyond noise"
        claim = Claim(claim_id, statement, _jsonable(round(interval.estimate, 6)), expected, word == "holds",
                      enforced, word, interval.test, interval.as_dict())
        self._add(claim)

    def _add(self, claim: Claim) -> None:
        self.claims = [c for c in self.claims if c.id != claim.id] + [claim]
        print(claim.line())

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
        counts = ", ".join(f"{n} {word}" for word, n in verdict_counts(asdict(c) for c in self.claims).items() if n)
        print(f"saved {display_path(path)} ({counts or 'no claims'})")
        return path

    def claims_table(self) -> Any:
        """Every claim as one table row, whole and rounded: the closing "What we measured" of a notebook."""
        import pandas as pd

        rows = [{"claim": c.id, "verdict": c.verdict, "observed": _rounded(c.observed),
                 "interval": "" if not c.interval else str(c.interval["interval"]),
                 "n": "" if not c.interval else c.interval["n"], "test": c.test, "expected": c.expected,
                 "statement": c.statement} for c in self.claims]
        table = pd.DataFrame(rows, columns=["claim", "verdict", "observed", "interval", "n", "test", "expected",
                                            "statement"]).set_index("claim")
        return table.style.set_properties(**{"text-align": "left", "white-space": "pre-wrap"})

    def committed(self, profile: str) -> dict[str, Any] | None:
        """This notebook's committed results of another profile (``results/<profile>/``), or None when there are
        none: a notebook reads them to say, from numbers rather than prose, where another scale's run differs."""
        path = repo_root() / "results" / profile / f"{self.notebook}.json"
        return load_results(path) if path.exists() else None

    def beside(self, profile: str) -> Any:
        """This run's claims beside the committed run of ``profile``: verdict and observed value of each side, one
        row a claim (a claim only one side made is blank on the other). None when ``profile`` has no results."""
        import pandas as pd

        other = self.committed(profile)
        if other is None:
            return None
        mine = {c.id: (c.verdict, _rounded(c.observed)) for c in self.claims}
        theirs = {c["id"]: (verdict_of(c), _rounded(c["observed"])) for c in other["claims"]}
        here, blank = self.profile.name, ("", "")
        rows = [{"claim": cid, f"{here} verdict": mine.get(cid, blank)[0], f"{here} observed": mine.get(cid, blank)[1],
                 f"{profile} verdict": theirs.get(cid, blank)[0], f"{profile} observed": theirs.get(cid, blank)[1]}
                for cid in [*mine, *(c for c in theirs if c not in mine)]]
        return pd.DataFrame(rows).set_index("claim")

    def enforce(self) -> None:
        """Raise when an enforced claim did not hold and the profile asserts claims (``smoke`` only records
        them). An inconclusive claim never raises: it says the run could not tell, not that it was wrong."""
        failed = [c.id for c in self.claims if c.verdict == "did not hold" and c.enforced]
        if failed and self.profile.assert_claims:
            raise AssertionError(f"claims that did not hold in profile {self.profile.name!r}: {failed}")


VERDICT_WORDS = ("holds", "did not hold", "inconclusive", "not replicated")


def verdict_of(claim: dict[str, Any]) -> str:
    """A saved claim's verdict; results written before verdicts were stored are read from holds/enforced."""
    if claim.get("verdict"):
        return claim["verdict"]
    if claim["holds"]:
        return "holds"
    return "did not hold" if claim.get("enforced", True) else "not replicated"


def verdict_counts(claims: Any) -> dict[str, int]:
    """How many claims ended with each verdict, in :data:`VERDICT_WORDS` order."""
    words = [verdict_of(c) for c in claims]
    return {word: words.count(word) for word in VERDICT_WORDS}


def _rounded(value: Any) -> Any:
    """Numbers rounded to 4 significant digits, inside dicts and lists too: claim lines stay readable."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


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
        if claim.get("verdict", "holds") not in VERDICT_WORDS:
            raise ValueError(f"claim {claim['id']!r}: verdict must be one of {VERDICT_WORDS}, got {claim['verdict']!r}")
    for key in ("metrics", "timings", "peak_memory", "environment", "params"):
        if not isinstance(data[key], dict):
            raise ValueError(f"{key} must be an object, got {type(data[key]).__name__}")


def load_results(path: Path) -> dict[str, Any]:
    """Read and validate one results file."""
    data = json.loads(Path(path).read_text())
    validate_results(data)
    return data
