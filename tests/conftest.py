"""Shared test set-up: hermetic (no hub access) and results written to a temporary directory."""

import os

import pytest

os.environ.setdefault("TUNING_LAB_OFFLINE", "1")


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """Send results JSON to a temporary directory instead of the checkout's results/."""
    monkeypatch.setenv("TUNING_LAB_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"
