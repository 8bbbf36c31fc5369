"""How much a measurement can tell: the intervals and tests behind every comparative claim.

At cpu scale a comparison often rests on a few dozen answers, and a bare inequality between two
numbers is a verdict a coin could produce. Each function here returns an :class:`Interval` for the
quantity a claim is about, at a stated level, together with the smallest effect its ``n`` could
detect; :func:`decide` turns an interval and a bar into one of three verdicts:

* **holds**: the whole interval lies on the claimed side of the bar (the effect is beyond noise);
* **did not hold**: the whole interval lies on the other side (the opposite is beyond noise);
* **inconclusive**: the bar lies inside the interval (this ``n`` cannot tell).

Intervals are two-sided at ``level`` = 0.90 by default, so each end is a one-sided 95 % bound: the
convention the course uses for "beyond noise" (one-sided 95 %, as in most A/B reporting). The tests:

* :func:`wilson`: a rate ``k / n`` (Wilson's score interval, which behaves at 0 and n, unlike
  the normal one);
* :func:`paired_difference`: the mean of per-item differences between two arms scored on the same
  items (a paired bootstrap: items are resampled, pairs kept together, which removes the spread
  between items that both arms share; for 0/1 scores this is the bootstrap form of McNemar's test);
* :func:`unpaired_difference`: the difference of two means over different items (bootstrap);
* :func:`mean_interval`: one mean of per-item values (bootstrap);
* :func:`auroc`: the chance a positive scores above a negative, with a bootstrap interval.

Bootstraps use a fixed seed, so the same numbers always give the same interval. With fewer than two items an
interval spans everything: the verdict is then *inconclusive*, whatever the bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

LEVEL = 0.90  # two-sided, so each end is a one-sided 95 % bound
N_BOOT = 4000
POWER = 0.80  # the power at which :attr:`Interval.detectable` is quoted
Direction = Literal["greater", "less"]
VERDICTS = ("holds", "did not hold", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval, the test that made it, and what this ``n`` can detect.

    ``detectable`` is the smallest true effect (in the estimate's units) that this test would call beyond
    noise with 80 % probability: about (z_{one-sided} + z_{power}) standard errors.
    """

    estimate: float
    low: float
    high: float
    n: int
    test: str
    level: float = LEVEL
    detectable: float | None = None

    def __str__(self) -> str:
        """How a notebook prints it: estimate, interval and n, e.g. ``+0.094 [+0.031, +0.172] (n = 32)``."""
        return f"{self.estimate:+.3g} [{self.low:+.3g}, {self.high:+.3g}] (n = {self.n})"

    def as_dict(self) -> dict:
        return {"estimate": _round(self.estimate), "interval": [_round(self.low), _round(self.high)],
                "n": self.n, "test": self.test, "level": self.level,
                "detectable": None if self.detectable is None else _round(self.detectable)}


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _z(level: float) -> float:
    """The normal quantile for one end of a two-sided ``level`` interval (1.645 at 0.90)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def _detectable(se: float, level: float) -> float:
    return (_z(level) + NormalDist().inv_cdf(POWER)) * se


def decide(interval: Interval, bar: float = 0.0, direction: Direction = "greater") -> str:
    """The verdict on "the quantity is above ``bar``" (``direction="greater"``) or below it (``"less"``)."""
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    above, below = interval.low > bar, interval.high < bar
    if direction == "less":
        above, below = below, above
    return "holds" if above else "did not hold" if below else "inconclusive"


def wilson(k: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson's score interval for the rate ``k / n``."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    z, p = _z(level), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    se = np.sqrt(max(p * (1 - p), 1 / n) / n)  # never zero: a 0/n rate still has sampling spread
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n, "Wilson interval of a rate", level,
                    _detectable(se, level))


def _bootstrap(values: np.ndarray, statistic, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(values), size=(n_boot, len(values)))
    return statistic(values[index])


def _from_draws(estimate: float, draws: np.ndarray, n: int, test: str, level: float) -> Interval:
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return Interval(float(estimate), float(low), float(high), n, test, level, _detectable(float(draws.std()), level))


def _as_array(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} needs a flat list of per-item values")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds non-finite values")
    return array


def _too_few(values: np.ndarray, test: str, level: float) -> Interval | None:
    """With fewer than two items nothing can be told: an interval over everything, so any claim is inconclusive."""
    if len(values) >= 2:
        return None
    estimate = float(values.mean()) if len(values) else float("nan")
    return Interval(estimate, -math.inf, math.inf, len(values), test, level, None)


def mean_interval(values: Sequence[float], *, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """Bootstrap interval of the mean of per-item values."""
    x = _as_array(values, "mean_interval")
    if few := _too_few(x, "bootstrap of the mean", level):
        return few
    return _from_draws(x.mean(), _bootstrap(x, lambda v: v.mean(axis=1), n_boot, seed), len(x),
                       "bootstrap of the mean", level)


def paired_difference(a: Sequence[float], b: Sequence[float], *, strata: Sequence[str] | None = None,
                      level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """Interval of mean(a - b) for two arms scored on the same items (item i of ``a`` pairs with item i of ``b``).

    With ``strata`` (a label per item) the quantity is the mean over strata of each stratum's mean difference,
    and items are resampled within their stratum: a score that averages two parts of different sizes (the
    general battery's constraints and questions) is compared as it is defined.
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same items: {len(a)} vs {len(b)}")
    d = _as_array(a, "paired_difference") - _as_array(b, "paired_difference")
    if strata is None:
        if few := _too_few(d, "paired bootstrap of per-item differences", level):
            return few
        return _from_draws(d.mean(), _bootstrap(d, lambda v: v.mean(axis=1), n_boot, seed), len(d),
                           "paired bootstrap of per-item differences", level)
    if len(strata) != len(d):
        raise ValueError(f"one stratum label per item: {len(strata)} labels for {len(d)} items")
    test = "paired bootstrap of per-item differences, within strata"
    groups = [d[np.asarray(strata) == label] for label in dict.fromkeys(strata)]
    if any(len(g) < 2 for g in groups):
        return Interval(float(np.mean([g.mean() for g in groups if len(g)])), -math.inf, math.inf, len(d), test,
                        level, None)
    draws = np.mean([_bootstrap(g, lambda v: v.mean(axis=1), n_boot, seed + k) for k, g in enumerate(groups)], axis=0)
    return _from_draws(float(np.mean([g.mean() for g in groups])), draws, len(d), test, level)


def unpaired_difference(a: Sequence[float], b: Sequence[float], *, level: float = LEVEL, n_boot: int = N_BOOT,
                        seed: int = 0) -> Interval:
    """Interval of mean(a) - mean(b) for two groups of different items (each resampled on its own)."""
    x, y = _as_array(a, "unpaired_difference"), _as_array(b, "unpaired_difference")
    if min(len(x), len(y)) < 2:
        return Interval(float(x.mean() - y.mean()) if len(x) and len(y) else math.nan, -math.inf, math.inf,
                        len(x) + len(y), "bootstrap of a difference of means", level, None)
    draws = (_bootstrap(x, lambda v: v.mean(axis=1), n_boot, seed)
             - _bootstrap(y, lambda v: v.mean(axis=1), n_boot, seed + 1))
    return _from_draws(x.mean() - y.mean(), draws, len(x) + len(y), "bootstrap of a difference of means", level)


def auroc(positive: Sequence[float], negative: Sequence[float], *, level: float = LEVEL, n_boot: int = N_BOOT,
          seed: int = 0) -> Interval:
    """AUROC (a positive above a negative, ties half) with a bootstrap interval over both groups."""
    pos, neg = _as_array(positive, "auroc"), _as_array(negative, "auroc")
    if min(len(pos), len(neg)) < 2:
        return Interval(math.nan, -math.inf, math.inf, len(pos) + len(neg), "AUROC with a bootstrap interval", level)

    def area(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        greater = (p[..., :, None] > q[..., None, :]).mean(axis=(-2, -1))
        ties = (p[..., :, None] == q[..., None, :]).mean(axis=(-2, -1))
        return greater + 0.5 * ties

    rng = np.random.default_rng(seed)
    draws = np.array([area(pos[rng.integers(0, len(pos), len(pos))], neg[rng.integers(0, len(neg), len(neg))])
                      for _ in range(min(n_boot, 2000))])
    return _from_draws(float(area(pos, neg)), draws, len(pos) + len(neg), "AUROC with a bootstrap interval", level)


def paired_trend(levels: Sequence[float], scores: Sequence[Sequence[float]], *, level: float = LEVEL,
                 n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """Interval of the least-squares slope of the mean score against ``levels`` (one arm per level, every arm
    scored on the same items: ``scores[j][i]`` is item i under level j), items resampled jointly across arms.

    A trend test asks "does the score move with the knob overall", which a sweep can pass while single steps
    go the other way; demanding every step be monotone fails on noise alone.
    """
    x = _as_array(levels, "paired_trend")
    if len(scores) != len(x) or len(x) < 2:
        raise ValueError(f"one list of scores per level, and at least two levels: {len(x)} levels, {len(scores)} lists")
    rows = [_as_array(s, "paired_trend") for s in scores]
    if len({row.size for row in rows}) != 1:
        raise ValueError(f"every level needs scores on the same items: {[row.size for row in rows]} items")
    table = np.stack(rows)  # levels x items
    centred = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    test = "paired bootstrap of the slope over levels"
    per_item = centred @ table  # each item's own slope; their mean is the slope of the means
    if few := _too_few(per_item, test, level):
        return few
    return _from_draws(per_item.mean(), _bootstrap(per_item, lambda v: v.mean(axis=1), n_boot, seed),
                       len(per_item), test, level)
