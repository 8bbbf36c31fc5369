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
