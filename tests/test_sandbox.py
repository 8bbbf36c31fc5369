"""The code sandbox: real child processes running misbehaving code, each contained and graded.

Every case runs real code through ``run_tests`` (no mocks) with a short timeout, and checks both the
verdict and that the damage did not happen (files intact, no process left behind). Tests as data
(``CallCases``) and their comparison are tested at the end; the adversarial suite is test_attacks.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import sandbox
from helpers.sandbox import STATUSES, CallCases, network_isolation, plain_equal, run_many, run_tests

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


# ---------------------------------------------------------------- tests as data

SQUARE_CASES = CallCases("square", (((3,), 9), ((-2,), 4), ((0,), 0)))


def test_tests_as_data_pass_fail_and_count_calls():
    assert run_tests(SQUARE, SQUARE_CASES).passed
    result = run_tests("def square(x):\n    return abs(x) * 2 if x else 0\n", SQUARE_CASES)
    assert result.status == "failed" and (result.cases_passed, result.cases_total) == (2, 3)
    assert "2 of 3 calls right; first wrong: call 1: square(3) returned 6, expected 9" in result.stderr
    raised = run_tests("def square(x):\n    return x * x if x else 1 // x\n", SQUARE_CASES)
    assert raised.status == "failed" and raised.cases_passed == 2
    assert "call 3: square(0) raised ZeroDivisionError: integer division or modulo by zero" in raised.stderr


def test_tests_as_data_report_a_missing_function_or_broken_code_as_error():
    for code, message in [("def cube(x):\n    return x ** 3\n", "no function named 'square'"),
                          ("square = 4\n", "no function named 'square'"),
                          ("def square(x) return", "SyntaxError"),
                          ("raise ValueError('at import')\n", "at import")]:
        result = run_tests(code, SQUARE_CASES)
        assert result.status == "error" and message in result.stderr, code


def test_results_compare_by_value_with_exact_types():
    cases = CallCases("f", (((), {"a": [1, None, "x"], "b": True}),))
    assert run_tests("def f():\n    return {'b': True, 'a': [1, None, 'x']}\n", cases).passed
    for wrong in ("{'a': (1, None, 'x'), 'b': True}", "{'a': [1, None, 'x'], 'b': 1}", "{1: 2}",
                  "{'a': [True, None, 'x'], 'b': True}", "{'a': [1.0, None, 'x'], 'b': True}", "float('nan')"):
        assert run_tests(f"def f():\n    return {wrong}\n", cases).status == "failed", wrong


@pytest.mark.parametrize("expected, got, tolerance, equal", [
    (1, 1, None, True), (1, True, None, False), (True, 1, None, False), (1, 1.0, None, False),
    (1, 1.0, 1e-9, True), (0.1 + 0.2, 0.3, None, False), (0.1 + 0.2, 0.3, 1e-9, True), (1, True, 1e-9, False),
    ([1, [2]], [1, [2]], None, True), ([1, 2], [2, 1], None, False), ({"a": 1}, {"a": 1, "b": 2}, None, False),
    (None, 0, None, False), ("", None, None, False), ([], {}, None, False),
])
def test_plain_equal(expected, got, tolerance, equal):
    assert plain_equal(expected, got, tolerance) is equal


def test_numeric_tolerance_is_the_task_saying_floats_are_fine():
    cases = CallCases("half", (((3,), 1.5), ((4,), 2)), numeric_tolerance=1e-9)
    assert run_tests("def half(x):\n    return x / 2\n", cases).passed
    assert not run_tests("def half(x):\n    return x // 2\n", cases).passed


@pytest.mark.parametrize("build, message", [
    (lambda: CallCases("not a name", (((), 1),)), "Python name"),
    (lambda: CallCases("f", ()), "at least one case"),
    (lambda: CallCases("f", (((object(),), 1),)), "case 0 args\\[0\\]: object is not plain JSON"),
    (lambda: CallCases("f", (((), float("inf")),)), "not JSON"),
    (lambda: CallCases("f", (((), {1: 2}),)), "dict key 1 is not a str"),
    (lambda: CallCases("f", ((1, 2),)), "must be \\(args, expected\\)"),
    (lambda: CallCases.from_dict({"cases": []}), "not a CallCases dict"),
])
def test_call_cases_reject_what_json_cannot_carry(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_call_cases_store_tuples_as_lists_and_round_trip():
    cases = CallCases("f", ((((1, 2), "s"), (3, 4)),))
    assert cases.cases == ((([1, 2], "s"), [3, 4]),) and cases.call(0) == "f([1, 2], 's')"
    assert CallCases.from_dict(json.loads(json.dumps(cases.as_dict()))) == cases
    with pytest.raises(TypeError, match="CallCases"):
        run_tests(SQUARE, [("square", 3)])  # a caller's mistake raises; nothing the code does can


def test_without_a_namespace_the_sandbox_says_so_and_still_blocks_the_network(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "NAMESPACE_COMMANDS", (("no-such-unshare-tool", "--net"),))
    sandbox._namespace_prefix.cache_clear()
    try:
        assert network_isolation().startswith("no network namespace (no-such-unshare-tool not found)")
        assert "[sandbox] no network namespace" in capsys.readouterr().err
        result = run_tests("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n", "pass")
        assert result.status == "error" and "sandbox: socket" in result.stderr
        assert run_tests(SQUARE, SQUARE_CASES).passed
    finally:
        sandbox._namespace_prefix.cache_clear()


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64", reason="the filter is x86-64 Linux only")
def test_seccomp_filter_is_loaded_and_threads_still_work():
    code = ("import threading\n"
            "threads = [threading.Thread(target=print, args=(i,)) for i in range(4)]\n"
            "[t.start() for t in threads]\n[t.join() for t in threads]\n"
            "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('Seccomp:')])\n"
            "import os\nos.mkfifo('fifo-inside-the-work-dir')\n")
    result = run_tests(code, "pass")
    assert "['2']" in result.stdout and sorted(result.stdout.split()[:4]) == ["0", "1", "2", "3"]
    assert result.status == "error" and "Operation not permitted" in result.stderr  # mknod: refused by the kernel


def test_a_value_the_sandbox_cannot_report_is_not_called_an_exception():
    tests = CallCases("f", (((), 1.0),))
    result = run_tests("def f():\n    return float('nan')\n", tests)
    assert result.status == "failed" and "not plain JSON" in result.stderr and "raised" not in result.stderr


def test_results_past_the_file_cap_are_named_as_such():
    tests = CallCases("f", (((), "x"),))
    result = run_tests("def f():\n    return 'x' * (20 * 2**20)\n", tests, timeout_s=20, memory_mb=1024)
    assert result.status == "error" and "MB cap" in result.stderr
