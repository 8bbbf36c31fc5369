"""Switching models into eval mode for a measurement and handing them back in the mode they came in.

Every measurement (generation, drift, reward scores, probes of new tokens) must run with dropout
off, yet a model is often handed over in the middle of training and must go back training
afterwards. :class:`EvalMode` does both in one ``with`` block, so no caller saves and restores the
mode by hand.
"""

from __future__ import annotations

from typing import Any


class EvalMode:
    """Put models in eval mode (no dropout) for the block and restore their previous modes after."""

    def __init__(self, *models: Any) -> None:
        self.models = models
        self.modes = [model.training for model in models]

    def __enter__(self) -> None:
        for model in self.models:
            model.eval()

    def __exit__(self, *exc: object) -> None:
        for model, mode in zip(self.models, self.modes, strict=True):
            model.train(mode)
