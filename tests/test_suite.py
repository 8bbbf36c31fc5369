"""Tests of helpers.evals.suite: fixed seeded items, the general-question grader, and scores on a tiny model."""

import pytest
import torch

from helpers.data import read_jsonl
from helpers.evals import answer_in_response, general_battery, general_suite
from helpers.models import load_model
from helpers.report import repo_root


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


def test_general_questions_file_is_well_formed():
    rows = read_jsonl(repo_root() / "data" / "general_questions.jsonl")
    assert len(rows) == 48
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({row["question"] for row in rows}) == len(rows)
    assert all(row["answers"] and all(isinstance(a, str) and a for a in row["answers"]) for row in rows)


@pytest.mark.parametrize("response, answers, ok", [
    ("The capital of France is Paris.", ["paris"], True),
    ("It is 17.", ["7", "seven"], False),  # whole words: 7 is not inside 17
    ("Seven days.", ["7", "seven"], True),
    ("Carbon dioxide, also written CO2", ["carbon dioxide"], True),
    ("2021-03-05", ["paris"], False),
])
def test_answer_in_response(response, answers, ok):
    assert answer_in_response(response, answers) is ok


def test_answer_in_response_needs_an_answer():
    with pytest.raises(ValueError, match="at least one"):
        answer_in_response("anything", [])


def test_battery_is_seeded_and_sized(tiny):
    _, tokenizer = tiny
    a = general_battery(tokenizer, n_kl=3, n_constraints=2, n_questions=4, seed=1)
    assert a == general_battery(tokenizer, n_kl=3, n_constraints=2, n_questions=4, seed=1)
    assert a != general_battery(tokenizer, n_kl=3, n_constraints=2, n_questions=4, seed=2)
    assert (len(a.kl_texts), len(a.kl_ids), len(a.constraint_prompts), len(a.questions)) == (3, 3, 2, 4)
    with pytest.raises(ValueError, match="general questions"):
        general_battery(tokenizer, n_questions=10_000)


def test_suite_scores_a_model_against_its_start(tiny):
    model, tokenizer = tiny
    battery = general_battery(tokenizer, n_kl=2, n_constraints=2, n_questions=3, constraint_new_tokens=4,
                              answer_new_tokens=4, kl_max_length=32)
    same = general_suite(model, model, tokenizer, battery)
    assert set(same) == {"suite", "kl_to_start", "constraint_pass", "qa_accuracy", "general_score"}
    assert same["kl_to_start"] == pytest.approx(0.0, abs=1e-6)
    assert 0 <= same["general_score"] <= 1
    moved, _ = load_model("tiny")
    with torch.no_grad():
        moved.lm_head.weight.mul_(3.0)  # sharper predictions: a different distribution at every token
    assert general_suite(moved, model, tokenizer, battery, parts=["kl"])["kl_to_start"] > 1e-4
    with pytest.raises(ValueError, match="subset"):
        general_suite(model, model, tokenizer, battery, parts=["vibes"])


def test_per_item_scores_come_back_on_request_and_pair_by_strata(mixed):
    from helpers import stats
    from helpers.evals import general_battery, general_items, general_suite

    model, tokenizer = mixed
    battery = general_battery(tokenizer, n_kl=1, n_constraints=2, n_questions=3, constraint_new_tokens=3,
                              answer_new_tokens=3)
    plain = general_suite(model, model, tokenizer, battery, parts=("constraints", "qa"))
    assert "constraint_items" not in plain
    scores = general_suite(model, model, tokenizer, battery, parts=("constraints", "qa"), items=True)
    values, strata = general_items(scores)
    assert len(values) == 5 and strata == ["constraints"] * 2 + ["questions"] * 3
    assert scores["general_score"] == pytest.approx(stats.paired_difference(values, [0.0] * 5, strata=strata).estimate)
