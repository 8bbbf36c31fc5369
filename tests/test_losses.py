"""The hand-written preference losses: each checked against its formula and told from its opposite by a step."""

import math

import pytest
import torch

from helpers import losses


def test_bradley_terry_is_the_log_sigmoid_and_a_step_raises_the_chosen_score():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.5])
    expected = -(math.log(1 / (1 + math.exp(-1.0))) + math.log(1 / (1 + math.exp(0.5)))) / 2
    assert losses.bradley_terry(chosen, rejected).item() == pytest.approx(expected)
    weights = torch.zeros(3, requires_grad=True)
    features_chosen, features_rejected = torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[0.0, 1.0, 2.0]])
    losses.bradley_terry(features_chosen @ weights, features_rejected @ weights).backward()
    with torch.no_grad():
        stepped = weights - 0.5 * weights.grad
    assert (features_chosen @ stepped).item() > (features_rejected @ stepped).item()  # the negated loss would invert


def _direction_step(loss_fn, **extra):
    """One gradient step on a loss of two free sequence log-probabilities; the chosen-over-rejected log-ratio
    margin before and after."""
    chosen, rejected = torch.tensor([-5.0], requires_grad=True), torch.tensor([-4.0], requires_grad=True)
    ref_chosen, ref_rejected = torch.tensor([-5.0]), torch.tensor([-4.0])
    loss_fn(chosen, rejected, ref_chosen, ref_rejected, 0.1, **extra).backward()
    with torch.no_grad():
        margin_after = (chosen - 0.5 * chosen.grad - ref_chosen) - (rejected - 0.5 * rejected.grad - ref_rejected)
    return 0.0, float(margin_after)


def test_dpo_by_formula_and_its_step_widens_the_margin():
    value = losses.dpo(torch.tensor([-3.0]), torch.tensor([-6.0]), torch.tensor([-4.0]), torch.tensor([-5.0]), 0.5)
    assert value.item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.5 * 2.0))))
    before, after = _direction_step(losses.dpo)
    assert after > before  # negating the loss would shrink it


def test_ipo_pulls_the_margin_toward_its_target_and_no_further():
    counts = dict(chosen_tokens=torch.tensor([1.0]), rejected_tokens=torch.tensor([1.0]))
    before, after = _direction_step(losses.ipo, **counts)
    assert after > before
    at_target = losses.ipo(torch.tensor([5.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]), 0.1,
                           **counts)
    assert at_target.item() == pytest.approx(0.0)  # a margin of 1/(2β) = 5 is where IPO stops


def test_kto_by_formula_and_its_steps_move_each_label_the_right_way():
    policy, ref = torch.tensor([-4.0, -6.0]), torch.tensor([-5.0, -5.0])
    desirable = torch.tensor([True, False])
    value = losses.kto(policy, ref, desirable, 0.5, beta=0.1)
    expected = ((1 - torch.sigmoid(torch.tensor(0.1 * (1.0 - 0.5)))) + (1 - torch.sigmoid(torch.tensor(0.1 * 1.5)))) / 2
    assert value.item() == pytest.approx(expected.item())
    free = torch.tensor([-5.0, -5.0], requires_grad=True)
    losses.kto(free, ref, desirable, torch.tensor(-1.0), beta=0.1).backward()  # a negative point is clamped to 0
    stepped = free - 10.0 * free.grad
    assert stepped[0] > free[0] and stepped[1] < free[1]  # desirable up, undesirable down; negated, both reverse


def test_orpo_by_formula_and_its_step_raises_the_chosen_odds():
    chosen, rejected = torch.tensor([-0.5]), torch.tensor([-1.5])
    odds = (-0.5 - math.log(1 - math.exp(-0.5))) - (-1.5 - math.log(1 - math.exp(-1.5)))
    value = losses.orpo(torch.tensor(2.0), chosen, rejected, beta=0.1)
    assert value.item() == pytest.approx(2.0 - 0.1 * math.log(1 / (1 + math.exp(-odds))))
    c, r = torch.tensor([-1.0], requires_grad=True), torch.tensor([-1.0], requires_grad=True)
    losses.orpo(torch.tensor(0.0), c, r, beta=1.0).backward()
    assert (c - 0.1 * c.grad).item() > c.item() and (r - 0.1 * r.grad).item() < r.item()
