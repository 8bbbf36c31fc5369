"""The code sandbox: real child processes running misbehaving code, each contained and graded.

Every case runs real code through ``run_tests`` (no mocks) with a short timeout, and checks both the
verdict and that the damage did not happen (files intact, no process left behind).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.evals.sandbox import STATUSES, run_many, run_tests

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")

SQUARE = "def square(x):\n    return x * x\n"
SQUARE_TESTS = "assert square(3) == 9\nassert square(-2) == 4\n"


def _group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def test_correct_code_passes():
    result = run_tests(SQUARE, SQUARE_TESTS)
    assert result.passed and result.status == "passed"
    assert result.seconds < 5


def test_wrong_code_fails_with_the_assertion_in_stderr():
    result = run_tests("def square(x):\n    return x + x\n", SQUARE_TESTS)
    assert not result.passed and result.status == "failed"
    assert "AssertionError" in result.stderr and "tests.py" in result.stderr


def test_syntax_error_is_an_error():
    result = run_tests("def square(x) return x * x\n", SQUARE_TESTS)
    assert result.status == "error" and not result.passed
    assert "SyntaxError" in result.stderr


def test_missing_function_fails():
    result = run_tests("def cube(x):\n    return x ** 3\n", SQUARE_TESTS)
    assert result.status == "failed" and "NameError" in result.stderr


def test_infinite_loop_times_out_quickly():
    started = time.perf_counter()
    result = run_tests("def square(x):\n    while True:\n        pass\n", SQUARE_TESTS, timeout_s=1.0)
    assert result.status == "timeout" and not result.passed
    assert time.perf_counter() - started < 4


def test_huge_allocation_is_contained():
    result = run_tests("def grab():\n    return bytearray(10**10)\n", "assert len(grab()) > 0\n",
                       memory_mb=256)
    assert not result.passed
    assert result.status in ("failed", "killed")
    if result.status == "failed":
        assert "MemoryError" in result.stderr


def test_cannot_delete_or_write_files_outside_its_directory(tmp_path):
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("keep me")
    before = sorted(p.name for p in tmp_path.iterdir())
    attacks = [
        f"import os\nos.remove({str(sentinel)!r})\n",
        f"import pathlib\npathlib.Path({str(sentinel)!r}).unlink()\n",
        f"import shutil\nshutil.rmtree({str(tmp_path)!r})\n",
        f"open({str(sentinel)!r}, 'w').write('overwritten')\n",
        f"open({str(sentinel)!r}, 'a').write('appended')\n",
        f"open({str(tmp_path / 'new.txt')!r}, 'w').write('new')\n",
        f"import os\nos.rename({str(sentinel)!r}, 'stolen.txt')\n",
        f"import os\nos.chmod({str(sentinel)!r}, 0)\n",
        f"import os\nos.symlink({str(sentinel)!r}, 'link')\nopen('link', 'w').write('via link')\n",
        f"import os\nos.chdir({str(tmp_path)!r})\nopen('relative.txt', 'w').write('x')\n",
    ]
    results = run_many(attacks, ["pass"] * len(attacks), timeout_s=3)
    for code, result in zip(attacks, results, strict=True):
        assert not result.passed, code
        assert "sandbox:" in result.stderr, code
    assert sentinel.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert os.stat(sentinel).st_mode & 0o777 != 0


def test_files_inside_its_own_directory_are_allowed_and_removed_afterwards():
    code = ("import os, tempfile\n"
            "open('notes.txt', 'w').write('hello')\n"
            "with tempfile.NamedTemporaryFile('w', delete=False) as f:\n    f.write('x')\n"
            "os.remove('notes.txt')\n"
            "print(os.getcwd())\n")
    result = run_tests(code, "pass")
    assert result.passed, result.stderr
    workdir = Path(result.stdout.strip())
    assert workdir.name == "work" and not workdir.exists()


@needs_proc
def test_fork_storm_is_contained_and_leaves_no_process():
    code = "import os\nprint(os.getpid(), flush=True)\nwhile True:\n    os.fork()\n"
    result = run_tests(code, "pass", timeout_s=2)
    assert not result.passed and result.status == "error"
    assert "os.fork is not allowed" in result.stderr
    pid = int(result.stdout.split()[0])
    assert _group_members(pid) == []


@needs_proc
def test_fork_storm_that_swallows_the_error_times_out_and_leaves_no_process():
    code = ("import os\nprint(os.getpid(), flush=True)\n"
            "while True:\n    try:\n        os.fork()\n    except Exception:\n        pass\n")
    result = run_tests(code, "pass", timeout_s=1)
    assert result.status == "timeout"
    assert _group_members(int(result.stdout.split()[0])) == []


@pytest.mark.parametrize("code, blocked", [
    ("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n", "socket."),
    ("import socket\ns = socket.socket()\n", "socket.__new__"),
    ("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9', timeout=1)\n", "socket."),
    ("import subprocess\nsubprocess.run(['echo', 'hi'])\n", "_posixsubprocess"),
    ("import os\nos.system('echo hi')\n", "os.system"),
    ("import os\nos.execv('/bin/echo', ['echo', 'hi'])\n", "os.exec"),
    ("import os, signal\nos.kill(os.getppid(), signal.SIGTERM)\n", "os.kill"),
    ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n", "resource.setrlimit"),
    ("import ctypes\nctypes.CDLL(None).fork()\n", "ctypes."),
])
def test_processes_network_and_escapes_are_blocked(code, blocked):
    result = run_tests(code, "pass", timeout_s=3)
    assert result.status == "error" and not result.passed
    assert "sandbox:" in result.stderr and blocked in result.stderr
    assert "hi" not in result.stdout


def test_exiting_early_cannot_fake_a_pass():
    for code in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n", "print('passed')\n"):
        result = run_tests(code, "assert False\n")
        assert not result.passed, code


def test_output_is_truncated_to_head_and_tail():
    result = run_tests("for i in range(50000):\n    print('line', i)\n", "pass", max_output=200)
    assert result.passed
    assert result.stdout.startswith("line 0\n") and result.stdout.endswith("line 49999\n")
    assert "truncated" in result.stdout and len(result.stdout) < 400


def test_hash_order_is_fixed_by_a_zero_hash_seed():
    code = "print(list({'apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape'}))\n"
    seeded = subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": "0"}, capture_output=True,
                            text=True, check=True).stdout
    assert run_tests(code, "pass").stdout == seeded


def test_run_many_keeps_order_and_statuses():
    codes = [SQUARE, "def square(x):\n    return 0\n", "def square(x) return"]
    results = run_many(codes, [SQUARE_TESTS] * 3)
    assert [r.status for r in results] == ["passed", "failed", "error"]
    assert all(r.status in STATUSES for r in results)
    with pytest.raises(ValueError, match="2 code strings but 1"):
        run_many(codes[:2], [SQUARE_TESTS])
