"""helpers.memory's CPU peak: RssPeak sees a temporary allocation, release_memory gives freed pages back."""

import mmap
import time

import numpy as np
import pytest

from helpers.memory import RssPeak, release_memory


def test_rss_peak_sees_a_temporary_allocation():
    size = 64 * 2**20
    with RssPeak(interval_s=0.005) as peak:
        # A fresh anonymous mapping, written to so it is resident: unlike malloc, it cannot be served
        # from memory an earlier test freed but the process still holds.
        block = mmap.mmap(-1, size)
        block.write(b"x" * size)
        time.sleep(0.2)  # give the sampling thread time to look
        block.close()
    assert peak.delta_gib >= 48 / 1024


def test_rss_peak_rejects_a_bad_interval():
    with pytest.raises(ValueError, match="interval_s"):
        RssPeak(interval_s=0)


def test_release_memory_returns_freed_pages():
    with RssPeak(interval_s=0.005) as before:
        block = np.ones(64 * 2**20 // 8)
        block.sum()
    del block
    release_memory()
    with RssPeak(interval_s=0.005) as after:
        pass
    assert after.start_bytes < before.peak_bytes - 32 * 2**20


@pytest.mark.parametrize(("batch", "seq"), [(2, 64), (4, 128)])
def test_activation_estimate_matches_what_autograd_saves(batch, seq):
    import torch

    from helpers.memory import activation_bytes_per_token, saved_activations
    from helpers.models import load_model

    model, _ = load_model("tiny")
    ids = torch.randint(10, model.config.vocab_size, (batch, seq))
    with saved_activations(model) as saved:
        model(input_ids=ids, labels=ids)
    estimate = batch * seq * activation_bytes_per_token(model.config, mixed=False)
    assert abs(estimate / saved.bytes - 1) < 0.02


def test_training_estimate_adds_the_static_columns_and_lora_shrinks_them():
    from helpers.memory import estimate_training_memory
    from helpers.models import load_model

    model, _ = load_model("tiny")
    n = sum(p.numel() for p in model.parameters())
    full = estimate_training_memory(model.config, n, 2, 64, mixed=False)
    assert full["weights"] == 4 * n and full["adam_moments"] == 8 * n and full["low_precision_copies"] == 0
    lora = estimate_training_memory(model.config, n, 2, 64, mixed=False, trainable=n // 100)
    assert lora["peak"] < full["peak"] and lora["adam_moments"] == 8 * (n // 100)
