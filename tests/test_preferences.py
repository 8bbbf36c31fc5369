"""Preference data from a task's ground truth: sampled, scored, paired, labelled, and cached."""

import pytest

from helpers import preferences
from helpers.models import load_model
from helpers.synth.instructions import InstructionTask
from helpers.synth.task import Score, Task


class EchoTask(Task):
    """A task whose score is 1 for answers longer than 10 characters: easy to check by hand."""

    name = "echo"

    def rows(self, n, seed=0):
        return [{"prompt": f"Say something about {i}."} for i in range(n)]

    def score(self, row, answer):
        return Score(float(len(answer) > 10), len(answer) > 10)


def test_build_samples_scores_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNING_LAB_CACHE", str(tmp_path))
    model, tokenizer = load_model("tiny")
    kwargs = dict(n_train=3, n_held_out=2, samples_train=3, samples_held_out=4, max_new_tokens=6, seed=0)
    data = preferences.build(model, tokenizer, EchoTask(), **kwargs)
    assert len(data.train) == 3 and len(data.held_out) == 2
    assert all(len(r["samples"]) == 3 for r in data.train) and all(len(r["samples"]) == 4 for r in data.held_out)
    for row in data.train + data.held_out:
        assert row["scores"] == [float(len(s) > 10) for s in row["samples"]]
    calls = []
    sample = preferences._sample_and_score
    monkeypatch.setattr(preferences, "_sample_and_score", lambda *a, **k: calls.append(1) or sample(*a, **k))
    spec = {"types": ("a", "b")}  # tuples, as a notebook writes them: the stored spec has lists
    first = preferences.build(model, tokenizer, EchoTask(), task_spec=spec, **kwargs)
    again = preferences.build(model, tokenizer, EchoTask(), task_spec=spec, **kwargs)
    assert len(calls) == 2 and again.train == first.train == data.train  # sampled once (train + held out), read back
    with pytest.raises(ValueError, match=">= 1"):
        preferences.build(model, tokenizer, EchoTask(), **{**kwargs, "samples_train": 0})


def test_pairs_and_labels_follow_the_scores():
    rows = [{"prompt": "p", "samples": ["a", "b", "c"], "scores": [1.0, 0.5, 0.5]}]
    data = preferences.PreferenceData({}, rows, rows)
    pairs = data.pairs().kept
    assert {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs} == {("a", "b"), ("a", "c")}
    assert data.pairs().counts == {"tie": 1}
    labels = data.kto_rows(threshold=1.0).kept
    assert [r["label"] for r in labels] == [True, False, False]
    with pytest.raises(ValueError, match="split"):
        data.pairs("test")


def test_instruction_task_scores_match_the_checker():
    task = InstructionTask(n_constraints=(1, 1), types=["starts_with"])
    row = task.rows(1)[0]
    assert task.score(row, "").value == 0.0  # an empty answer meets no rule
    assert task.score(row, f"{row['constraints'][0]['text']} and more.").passed
