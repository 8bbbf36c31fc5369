"""Mixing and scheduling data sources: replay of general data (07), domain share (08), DMT stages (11).

Every function is deterministic given its ``seed`` and never changes the rows it is given (a row that is
tagged with its source is a shallow copy). A mixture is described either by **counts** (exactly how many
rows of each source) or by **shares** and a **total** (counts by largest-remainder rounding, so they add up
to the total exactly). A source asked for more rows than it holds is cycled through fresh permutations, the
way a data loader runs several epochs: every row appears once before any appears twice.

- :func:`mix`: one shuffled mixture of named sources.
- :func:`replay`: keep every task row and add general rows so that they form a given share of the result.
- :class:`Stage` and :func:`schedule`: sequential training stages, each its own mixture, in order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Rows = Sequence[Any]


def shares_to_counts(shares: Mapping[str, float], total: int) -> dict[str, int]:
    """Whole row counts in proportion to ``shares`` that add up to ``total`` exactly.

    Largest-remainder rounding: a plain ``round`` per source can miss the total by one or two rows,
    which would silently change the step budget of a run. Shares need not sum to one; they are normalised.
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if not shares:
        raise ValueError("shares is empty: name at least one source")
    bad = {name: share for name, share in shares.items() if not math.isfinite(share) or share < 0}
    if bad:
        raise ValueError(f"shares must be finite and >= 0, got {bad}")
    norm = sum(shares.values())
    if norm <= 0:
        raise ValueError(f"shares must not all be zero, got {dict(shares)}")
    exact = {name: total * share / norm for name, share in shares.items()}
    counts = {name: math.floor(value) for name, value in exact.items()}
    # Hand the rows lost to flooring to the largest remainders; ties go to the earlier source (stable).
    by_remainder = sorted(exact, key=lambda name: -(exact[name] - counts[name]))
    for name in by_remainder[:total - sum(counts.values())]:
        counts[name] += 1
    return counts


def take(rows: Rows, count: int, rng: np.random.Generator) -> list[Any]:
    """``count`` rows drawn without replacement, cycling through fresh permutations when count > len(rows)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count and not len(rows):
        raise ValueError(f"asked for {count} rows of an empty source")
    picked: list[Any] = []
    while len(picked) < count:
        order = rng.permutation(len(rows))[:count - len(picked)]
        picked.extend(rows[int(i)] for i in order)
    return picked


def mix(sources: Mapping[str, Rows], *, counts: Mapping[str, int] | None = None,
        shares: Mapping[str, float] | None = None, total: int | None = None, seed: int = 0,
        tag: str | None = None) -> list[Any]:
    """One shuffled mixture of named sources, by ``counts`` or by ``shares`` of a ``total``.

    With neither, every row of every source is used once (a plain shuffled union). ``tag`` names a key
    under which each (dict) row records its source, so a metric can later be split by source.
    """
    if counts is not None and shares is not None:
        raise ValueError("give counts or shares, not both")
    if shares is not None:
        if total is None:
            raise ValueError("shares need a total: how many rows the mixture holds")
        counts = shares_to_counts(shares, total)
    elif total is not None:
        raise ValueError("total goes with shares; with counts the total is their sum")
    if counts is None:
        counts = {name: len(rows) for name, rows in sources.items()}
    unknown = set(counts) - set(sources)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; known: {sorted(sources)}")
    rng = np.random.default_rng(seed)
    mixed: list[Any] = []
    for name, count in counts.items():  # the order of the mapping fixes which random numbers each source gets
        drawn = take(sources[name], count, rng)
        mixed.extend([_tagged(row, tag, name) for row in drawn] if tag else drawn)
    return [mixed[int(i)] for i in rng.permutation(len(mixed))]


def _tagged(row: Any, tag: str, name: str) -> dict:
    """A shallow copy of a dict row with its source name under ``tag``."""
    if not isinstance(row, Mapping):
        raise TypeError(f"tagging needs dict rows, got {type(row).__name__}")
    return {**row, tag: name}


def replay_count(n_task: int, ratio: float) -> int:
    """How many general rows make ``ratio`` of a mixture that keeps all ``n_task`` task rows."""
    if not 0 <= ratio < 1:
        raise ValueError(f"replay ratio is the general share of the mixture, in [0, 1); got {ratio}")
    return round(n_task * ratio / (1 - ratio))


def replay(task: Rows, general: Rows, ratio: float, *, seed: int = 0, tag: str | None = None) -> list[Any]:
    """Every task row plus general rows forming ``ratio`` of the result, shuffled together.

    Replay (rehearsal) protects what the model could already do by showing it some of that again while
    it learns the new task. ``ratio`` 0.2 means one row in five is general.
    """
    return mix({"task": task, "general": general},
               counts={"task": len(task), "general": replay_count(len(task), ratio)}, seed=seed, tag=tag)


@dataclass(frozen=True)
class Stage:
    """One stage of a sequential schedule: a name and its mixture (``counts`` or ``shares`` of ``total``)."""

    name: str
    counts: Mapping[str, int] | None = None
    shares: Mapping[str, float] | None = None
    total: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)  # e.g. the learning rate a stage trains with


def schedule(sources: Mapping[str, Rows], stages: Sequence[Stage], *, seed: int = 0,
             tag: str | None = None) -> list[tuple[Stage, list[Any]]]:
    """The rows of each stage, in order: train on them one stage after another (one trainer per stage).

    Stages are mixed independently, stage ``i`` with seed ``seed + i``, so changing one stage leaves the
    rows of the others as they were. Sequential SFT, mixed sequential and DMT are all lists of stages.
    """
    if not stages:
        raise ValueError("a schedule needs at least one stage")
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique, got {names}")
    return [(stage, mix(sources, counts=stage.counts, shares=stage.shares, total=stage.total, seed=seed + i,
                        tag=tag)) for i, stage in enumerate(stages)]
