"""Tests of helpers.mixture: exact counts, determinism, epochs before repeats, replay shares, stage schedules."""

from collections import Counter

import pytest

from helpers.mixture import Stage, mix, replay, replay_count, schedule, shares_to_counts, take

TASK = [{"id": f"t{i}"} for i in range(10)]
GENERAL = [{"id": f"g{i}"} for i in range(7)]


def test_shares_to_counts_adds_up_exactly():
    assert shares_to_counts({"a": 1, "b": 1, "c": 1}, 10) == {"a": 4, "b": 3, "c": 3}
    assert sum(shares_to_counts({"a": 0.1, "b": 0.2, "c": 0.7}, 33).values()) == 33
    assert shares_to_counts({"a": 0.0, "b": 2.0}, 5) == {"a": 0, "b": 5}


@pytest.mark.parametrize("shares", [{}, {"a": -1.0}, {"a": 0.0}, {"a": float("nan")}])
def test_shares_to_counts_rejects_bad_shares(shares):
    with pytest.raises(ValueError):
        shares_to_counts(shares, 4)


def test_take_uses_every_row_before_repeating():
    import numpy as np

    drawn = take(TASK, 25, np.random.default_rng(0))
    first_epoch = Counter(row["id"] for row in drawn[:10])
    assert len(first_epoch) == 10
    assert max(Counter(row["id"] for row in drawn).values()) == 3
    with pytest.raises(ValueError, match="empty source"):
        take([], 1, np.random.default_rng(0))


def test_mix_by_counts_is_deterministic_and_exact():
    a = mix({"task": TASK, "general": GENERAL}, counts={"task": 5, "general": 3}, seed=1, tag="source")
    b = mix({"task": TASK, "general": GENERAL}, counts={"task": 5, "general": 3}, seed=1, tag="source")
    assert a == b
    assert Counter(row["source"] for row in a) == {"task": 5, "general": 3}
    assert a != mix({"task": TASK, "general": GENERAL}, counts={"task": 5, "general": 3}, seed=2, tag="source")
    assert "source" not in TASK[0]  # the input rows are never changed


def test_mix_by_shares_and_plain_union():
    rows = mix({"task": TASK, "general": GENERAL}, shares={"task": 0.8, "general": 0.2}, total=20, seed=0,
               tag="source")
    assert Counter(row["source"] for row in rows) == {"task": 16, "general": 4}
    union = mix({"task": TASK, "general": GENERAL}, seed=0)
    assert sorted(row["id"] for row in union) == sorted(row["id"] for row in TASK + GENERAL)


@pytest.mark.parametrize("kwargs, message", [
    ({"counts": {"task": 1}, "shares": {"task": 1.0}, "total": 1}, "not both"),
    ({"shares": {"task": 1.0}}, "need a total"),
    ({"counts": {"task": 1}, "total": 3}, "total goes with shares"),
    ({"counts": {"other": 1}}, "unknown source"),
])
def test_mix_rejects_unclear_requests(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mix({"task": TASK}, **kwargs)


def test_tagging_needs_dict_rows():
    with pytest.raises(TypeError, match="dict rows"):
        mix({"task": ["a", "b"]}, tag="source")


def test_replay_keeps_every_task_row_at_the_ratio():
    assert replay_count(10, 0.0) == 0
    assert replay_count(8, 0.2) == 2
    rows = replay(TASK, GENERAL, 0.5, seed=0, tag="source")
    counts = Counter(row["source"] for row in rows)
    assert counts == {"task": 10, "general": 10}  # more than the 7 general rows: cycled, all used first
    assert sorted(r["id"] for r in rows if r["source"] == "task") == sorted(r["id"] for r in TASK)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        replay(TASK, GENERAL, 1.0)


def test_schedule_mixes_each_stage_on_its_own():
    stages = [Stage("specialise", counts={"task": 4}),
              Stage("general", shares={"task": 0.25, "general": 0.75}, total=8, meta={"lr": 1e-5})]
    plan = schedule({"task": TASK, "general": GENERAL}, stages, seed=3, tag="source")
    assert [stage.name for stage, _ in plan] == ["specialise", "general"]
    assert Counter(r["source"] for r in plan[1][1]) == {"task": 2, "general": 6}
    changed = schedule({"task": TASK, "general": GENERAL}, [Stage("specialise", counts={"task": 5}), stages[1]],
                       seed=3, tag="source")
    assert changed[1][1] == plan[1][1]  # changing stage 0 leaves stage 1's rows alone
    with pytest.raises(ValueError, match="unique"):
        schedule({"task": TASK}, [Stage("a"), Stage("a")])
    with pytest.raises(ValueError, match="at least one"):
        schedule({"task": TASK}, [])
