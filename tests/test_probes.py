"""Knowledge probes: the right / wrong / abstained tally, the abstention detector and the AUROC of a confidence."""


import pytest

from helpers.evals import IDK_ANSWER, Tally, grade, is_abstention, separation, tally
from helpers.models import load_model


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


@pytest.mark.parametrize("text", [IDK_ANSWER, "i do not know", "I'm not sure.", "I have no information about her.",
                                  "Sorry, I can't say.", "Unknown", "Her birthplace is unknown."])
def test_abstentions_are_recognised(text):
    assert is_abstention(text)


@pytest.mark.parametrize("text", ["Kraemor", "She was born in Kraemor.", "I know: Kraemor", "", "Knowledge Labs"])
def test_answers_are_not_abstentions(text):
    assert not is_abstention(text)


def test_grade_puts_each_answer_in_one_bin():
    assert grade("She was born in Kraemor.", "Kraemor") == "right"
    assert grade("kraemor", "Kraemor") == "right"
    assert grade("Kraemorth", "Kraemor") == "wrong"  # whole words only
    assert grade("Lake Vesk", "Kraemor") == "wrong"
    assert grade(IDK_ANSWER, "Kraemor") == "abstained"
    assert grade("I'm not sure, maybe Kraemor", "Kraemor") == "right"  # the fact was given
    assert grade("", "Kraemor") == "wrong"
    with pytest.raises(ValueError, match="non-empty"):
        grade("x", "")


def test_tally_counts_and_shares():
    counted = tally(["Kraemor", "Vesk", IDK_ANSWER, "Tholex Labs"], ["Kraemor", "Kraemor", "Vesk", "Tholex Labs"])
    assert counted == Tally(right=2, wrong=1, abstained=1)
    assert counted.n == 4 and counted.share("abstained") == 0.25
    assert counted.hallucination_rate == pytest.approx(1 / 3)
    assert counted.as_dict()["wrong_share"] == 0.25
    assert Tally(0, 0, 0).share("right") == 0.0 and Tally(0, 0, 3).hallucination_rate == 0.0
    with pytest.raises(ValueError, match="answers but"):
        tally(["a"], [])
    with pytest.raises(ValueError, match="unknown bin"):
        counted.share("maybe")


def test_separation_is_the_auroc():
    assert separation([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert separation([1.0], [2.0]) == 0.0
    assert separation([1.0, 3.0], [2.0, 2.0]) == 0.5
    assert separation([2.0], [2.0]) == 0.5
    with pytest.raises(ValueError):
        separation([], [1.0])
