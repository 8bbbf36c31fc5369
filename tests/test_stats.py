"""Intervals and verdicts: each test's interval checked against a closed form or a known case."""

import math

import numpy as np
import pytest

from helpers import stats


def test_wilson_matches_the_closed_form_and_stays_inside_zero_one():
    interval = stats.wilson(8, 13)
    z = 1.6448536
    p, n = 8 / 13, 13
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert interval.low == pytest.approx(centre - half, abs=1e-6) and interval.high == pytest.approx(centre + half)
    assert stats.wilson(0, 10).low == 0.0 and stats.wilson(10, 10).high == 1.0
    # the review's case: 8 of 13 pairs right is not beyond a coin at one-sided 95 %
    assert stats.decide(interval, bar=0.5) == "inconclusive"
    with pytest.raises(ValueError):
        stats.wilson(3, 2)


def test_decide_reads_the_interval_against_the_bar_in_both_directions():
    interval = stats.Interval(0.3, 0.1, 0.5, 20, "t")
    assert stats.decide(interval, 0.0) == "holds" and stats.decide(interval, 0.6) == "did not hold"
    assert stats.decide(interval, 0.3) == "inconclusive"
    assert stats.decide(interval, 0.6, "less") == "holds" and stats.decide(interval, 0.0, "less") == "did not hold"


def test_paired_beats_unpaired_when_items_share_their_difficulty():
    easy_and_hard = [0.9, 0.1, 0.8, 0.2, 0.95, 0.05, 0.85, 0.15] * 3
    better = [x + 0.05 for x in easy_and_hard]
    paired = stats.paired_difference(better, easy_and_hard)
    unpaired = stats.unpaired_difference(better, easy_and_hard)
    assert paired.estimate == pytest.approx(0.05) and unpaired.estimate == pytest.approx(0.05)
    assert stats.decide(paired) == "holds" and stats.decide(unpaired) == "inconclusive"
    assert paired.detectable < unpaired.detectable


def test_an_exact_tie_is_never_beyond_noise():
    same = [0.2, 0.5, 0.1, 0.9]
    interval = stats.paired_difference(same, same)
    assert interval.low == interval.high == 0.0 and stats.decide(interval) == "inconclusive"


def test_bootstraps_are_deterministic_and_check_their_input():
    a, b = [0.1, 0.4, 0.3, 0.8, 0.5], [0.2, 0.1, 0.3, 0.4, 0.2]
    assert stats.paired_difference(a, b) == stats.paired_difference(a, b)
    with pytest.raises(ValueError, match="same items"):
        stats.paired_difference(a, b[:3])
    assert stats.decide(stats.mean_interval([1.0]), 0.0) == "inconclusive"  # one item cannot tell
    assert stats.decide(stats.paired_difference([], []), 0.0) == "inconclusive"
    with pytest.raises(ValueError, match="non-finite"):
        stats.mean_interval([1.0, float("nan")])


def test_auroc_and_its_interval():
    separated = stats.auroc([0.9, 0.8, 0.95, 0.85], [0.1, 0.2, 0.15, 0.3])
    assert separated.estimate == 1.0 and stats.decide(separated, 0.5) == "holds"
    chance = stats.auroc([0.5, 0.4, 0.6, 0.3, 0.7], [0.45, 0.55, 0.35, 0.65, 0.5])
    assert stats.decide(chance, 0.5) == "inconclusive"
    assert stats.auroc([1.0, 1.0], [1.0, 1.0]).estimate == 0.5  # ties count half


def test_mean_interval_covers_the_mean():
    interval = stats.mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert interval.low < 3.0 < interval.high and interval.n == 5


def test_a_stratified_difference_weighs_each_part_as_the_score_does():
    # a score that is the mean of two parts: 2 constraint items and 6 questions
    a = [1.0, 1.0] + [0.0] * 6
    b = [0.0, 0.0] + [0.0] * 6
    strata = ["c", "c"] + ["q"] * 6
    interval = stats.paired_difference(a, b, strata=strata)
    assert interval.estimate == pytest.approx(0.5)  # (1 - 0) / 2 + (0 - 0) / 2, not 2/8
    assert stats.paired_difference(a, b).estimate == pytest.approx(0.25)
    with pytest.raises(ValueError, match="one stratum label per item"):
        stats.paired_difference(a, b, strata=["c"])


def test_an_interval_prints_estimate_interval_and_n():
    interval = stats.Interval(0.09375, 0.03125, 0.171875, 32, "paired bootstrap")
    assert str(interval) == "+0.0938 [+0.0312, +0.172] (n = 32)"


def test_a_trend_is_the_slope_of_the_means_and_tells_up_from_down():
    rng = np.random.default_rng(0)
    base = rng.normal(size=40)
    rising = [base + 0.5 * k + rng.normal(scale=0.1, size=40) for k in range(4)]
    trend = stats.paired_trend([0, 1, 2, 3], rising)
    assert abs(trend.estimate - np.polyfit(range(4), [s.mean() for s in rising], 1)[0]) < 1e-9
    assert stats.decide(trend) == "holds"
    assert stats.decide(stats.paired_trend([0, 1, 2, 3], rising[::-1])) == "did not hold"
    flat = [base + rng.normal(scale=1.0, size=40) for _ in range(4)]
    assert stats.decide(stats.paired_trend([0, 1, 2, 3], flat)) == "inconclusive"
    with pytest.raises(ValueError, match="same items"):
        stats.paired_trend([0, 1], [[1.0, 2.0], [1.0]])
