"""Shared test set-up: hermetic (no hub access) and results written to a temporary directory."""

import os

import pytest
import torch

os.environ.setdefault("TUNING_LAB_OFFLINE", "1")


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """Send results JSON to a temporary directory instead of the checkout's results/."""
    monkeypatch.setenv("TUNING_LAB_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


@pytest.fixture(scope="module")
def mixed():
    """The tiny model with its layers redrawn larger from a fixed seed: the stock tiny model is nearly the
    identity map, so only this one's outputs depend on the whole prompt (padding, ordering, batching tests).
    Module-scoped: each test module gets its own copy to change."""
    from helpers.models import load_model

    model, tokenizer = load_model("tiny")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.model.layers.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model, tokenizer
