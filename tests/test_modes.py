"""helpers.modes: EvalMode turns dropout off for a measurement and hands each model back in its own mode."""

import pytest
import torch

from helpers.modes import EvalMode


def test_models_are_in_eval_mode_inside_and_restored_after():
    training, evaluating = torch.nn.Dropout(0.5).train(), torch.nn.Dropout(0.5).eval()
    with EvalMode(training, evaluating):
        assert not training.training and not evaluating.training
    assert training.training and not evaluating.training


def test_modes_are_restored_when_the_block_raises():
    model = torch.nn.Linear(2, 2).train()
    with pytest.raises(RuntimeError), EvalMode(model):
        raise RuntimeError("measurement failed")
    assert model.training
