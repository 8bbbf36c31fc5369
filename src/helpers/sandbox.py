"""Run model-written Python code against its tests in a separate, limited process.

Two kinds of tests:

* **Tests as data** (:class:`CallCases`, the kind every task of :mod:`helpers.synth.pycode` carries):
  calls of one function with plain-JSON arguments and the plain-JSON result each call must return.
  The child gets the code and the *arguments* only; it runs each call and sends back what came out,
  as JSON. This process, which alone holds the expected results, parses that JSON and compares,
  by value and by exact type (``True`` is not ``1``, ``1.0`` is not ``1`` unless the cases say
  ``numeric_tolerance``). Nothing the code does in the child can reach the verdict: inspecting
  frames, globals, the garbage collector, open descriptors or this source finds no expected answer
  to copy, and an object overriding ``__eq__`` cannot cross a JSON boundary. The most code can do is
  return values, which is what a solution does.
* **Assert-style tests** (a string such as ``"assert f(2) == 4"``), kept for checks that cannot be
  written as calls and results (state, exceptions, side effects). They run *in* the child, in the
  same namespace as the code, so the verdict is as good as the code is honest: code that wants to
  can make them pass without solving anything (an object equal to everything, a rebound
  ``AssertionError``, a report forged from the interpreter's own frames). Fine for grading a model
  that is not optimised against the grader; never use them as a training reward.

Each call starts a fresh interpreter (``_sandbox_child.py``) that:

* runs in a new, empty temporary working directory, deleted afterwards, with an environment of
  four variables (``HOME`` and ``TMPDIR`` point into that directory);
* runs in its own network namespace (``unshare --net``, util-linux) where Linux lets us create one,
  so the kernel gives it no network but a loopback of its own; where it cannot be created the
  audit hook below is the guard, and stderr says so once per process (:func:`network_isolation`);
* starts in its own session, so a timeout kills the whole process group (``os.killpg``), and the
  group is killed again after a normal exit so no stray process survives;
* sets resource limits on itself before running anything: CPU seconds (``RLIMIT_CPU``), address space
  (``RLIMIT_AS``, so a huge allocation raises ``MemoryError``), file size (``RLIMIT_FSIZE``, which also
  caps stdout and stderr), open files (``RLIMIT_NOFILE``) and processes (``RLIMIT_NPROC``; it does not
  bind root);
* on Linux x86-64, loads a seccomp filter that refuses in the kernel what the audit hook cannot see:
  signals to other processes (``kill``, ``pidfd_send_signal``...), other processes' memory
  (``ptrace``, ``process_vm_readv``), special files and links (``mknod``), sockets, ``execve``, process
  creation (``clone`` without ``CLONE_THREAD``; threads stay allowed), mounts and namespaces;
* installs a Python audit hook (:func:`sys.addaudithook`) that refuses process creation, signals,
  sockets, ``ctypes`` beyond its import, raising resource limits, links, changing directory, SQLite
  and dbm (they create files in C), opening other processes' ``/proc`` entries or directories
  outside the working directory, importing or reading the project's own package (its task
  generators could rebuild the answers), and any write, delete, rename or permission change
  outside the working directory. Reading other files is allowed.

How far this goes, honestly: the network namespace and the seccomp filter are kernel boundaries;
the audit hook is a Python-level guard that a determined attacker with native code could get past
(for example an extension module it writes and imports), which is why the verdict of data tests does
not depend on it. There is no container or file-system namespace: reading files is allowed, so
expected answers written to disk (a JSONL of :meth:`CallCases.as_dict` rows) are readable by the code;
keep them in memory while grading, as :func:`helpers.synth.pycode.make_code_tasks` does. Treat it as a
careful harness for grading small generated functions, not as a security product.

POSIX only (Linux, macOS): it relies on ``resource`` limits, sessions and process groups. Where
the platform refuses a limit (macOS and ``RLIMIT_AS``, for one) the run goes on and stderr says so.

The interpreter runs with ``-s`` (no user site-packages) and, on Python 3.11+, ``-P`` (no unsafe
``sys.path`` entry), with an environment built from scratch: that is ``-I`` (isolated mode) minus
``-E``. ``-E`` would also ignore ``PYTHONHASHSEED``, which we set to ``0`` so that code whose output
depends on set or dict-of-str order grades the same way on every run.
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHILD_SCRIPT = Path(__file__).with_name("_sandbox_child.py")
STATUSES = ("passed", "failed", "error", "timeout", "killed")
FILE_LIMIT_MB = 16  # also caps how much stdout/stderr (and the report) the child can write
DEFAULT_MAX_OUTPUT = 4000
# Ways to give the child its own network namespace, tried in order: as root, then as a user with
# unprivileged user namespaces (mapped to itself, so file ownership and limits stay as they are).
NAMESPACE_COMMANDS = (("unshare", "--net"), ("unshare", "--map-current-user", "--net"))


# ---------------------------------------------------------------- tests as data


def _check_plain(value: Any, where: str) -> None:
    """Raise ValueError unless ``value`` is JSON data of exact built-in types (tuples count as lists)."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not JSON")
        return
    if kind in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ValueError(f"{where}: dict key {key!r} is not a str")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise ValueError(f"{where}: {kind.__name__} is not plain JSON data")


def _as_json(value: Any) -> Any:
    """``value`` with tuples turned into lists: what it becomes after a trip through JSON."""
    if isinstance(value, (list, tuple)):
        return [_as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class CallCases:
    """Tests as data: ``entry_point(*args)`` must return ``expected``, for each ``(args, expected)`` case.

    Arguments and expected results are plain JSON data (None, bool, int, float, str, lists, dicts
    with str keys; tuples are stored as lists). Results are compared by value with exact types;
    ``numeric_tolerance`` (when a task's answers are numbers that may come as int or float) lets int
    and float compare equal within that relative and absolute tolerance. ``bool`` is never a number.
    """

    entry_point: str
    cases: tuple[tuple[tuple, Any], ...]
    numeric_tolerance: float | None = None

    def __post_init__(self) -> None:
        if not self.entry_point.isidentifier():
            raise ValueError(f"entry_point must be a Python name, got {self.entry_point!r}")
        if not self.cases:
            raise ValueError("CallCases needs at least one case")
        if self.numeric_tolerance is not None and not self.numeric_tolerance >= 0:
            raise ValueError(f"numeric_tolerance must be >= 0, got {self.numeric_tolerance}")
        cases = []
        for i, case in enumerate(self.cases):
            if not isinstance(case, (list, tuple)) or len(case) != 2 or not isinstance(case[0], (list, tuple)):
                raise ValueError(f"case {i} must be (args, expected) with args a list or tuple, got {case!r}")
            args, expected = case
            _check_plain(args, f"case {i} args")
            _check_plain(expected, f"case {i} expected")
            cases.append((tuple(_as_json(a) for a in args), _as_json(expected)))
        object.__setattr__(self, "cases", tuple(cases))

    def __len__(self) -> int:
        return len(self.cases)

    def __hash__(self) -> int:  # results may be lists, so hash the JSON form (tasks stay usable as keys)
        return hash(json.dumps(self.as_dict(), sort_keys=True))

    def call(self, index: int) -> str:
        """Case ``index`` as Python source, e.g. ``square(3)``: for messages and for prompts."""
        return f"{self.entry_point}({', '.join(repr(a) for a in self.cases[index][0])})"

    def as_dict(self) -> dict:
        """Plain JSON form, for task rows written to JSONL; :meth:`from_dict` reads it back."""
        return {"entry_point": self.entry_point, "numeric_tolerance": self.numeric_tolerance,
                "cases": [{"args": list(args), "expected": expected} for args, expected in self.cases]}

    @classmethod
    def from_dict(cls, data: dict) -> CallCases:
        try:
            return cls(data["entry_point"], tuple((case["args"], case["expected"]) for case in data["cases"]),
                       data.get("numeric_tolerance"))
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a CallCases dict ({err!r}): expected entry_point and cases of "
                             "{args, expected}") from None


def plain_equal(expected: Any, got: Any, numeric_tolerance: float | None = None) -> bool:
    """Whether ``got`` (parsed JSON) equals ``expected`` by value, with exact types.

    Lists compare item by item, dicts by keys and values; a bool never equals a number; an int and
    a float are equal only when ``numeric_tolerance`` is given (then within it).
    """
    numbers = (int, float)
    if numeric_tolerance is not None and type(expected) in numbers and type(got) in numbers:
        return math.isclose(expected, got, rel_tol=numeric_tolerance, abs_tol=numeric_tolerance)
    if type(expected) is not type(got):
        return False
    if type(expected) is list:
        return len(expected) == len(got) and all(
            plain_equal(e, g, numeric_tolerance) for e, g in zip(expected, got, strict=True))
    if type(expected) is dict:
        return expected.keys() == got.keys() and all(
            plain_equal(expected[k], got[k], numeric_tolerance) for k in expected)
    return expected == got


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class SandboxResult:
    """The verdict on one piece of code.

    ``status``: ``passed``; ``failed`` (a test raised, or a call returned the wrong result);
    ``error`` (the code or tests did not compile, the code raised while being defined, the function
    is missing, or the process ended without a valid report); ``timeout`` (wall clock or CPU limit);
    ``killed`` (ended by some other signal, e.g. a crash in native code). ``stdout``/``stderr`` are
    clipped to a head and a tail with a marker in between; for data tests stderr ends with a
    ``[sandbox]`` line naming the first wrong call. ``cases_passed``/``cases_total`` count the calls
    of data tests that returned the right result (both 0 for assert-style tests).
    """

    passed: bool
    status: str
    stdout: str
    stderr: str
    seconds: float
    cases_passed: int = 0
    cases_total: int = 0


def _interpreter_flags() -> list[str]:
    return ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]


@functools.cache
def _namespace_prefix() -> tuple[tuple[str, ...], str]:
    """The command that puts the child in its own network namespace here, and a line saying what holds.

    Probed once per process by starting the interpreter under each of :data:`NAMESPACE_COMMANDS`;
    when none works (not Linux, no util-linux, no privilege and no user namespaces) the prefix is
    empty, and the note, printed once to stderr, says which guards remain.
    """
    reasons = []
    for tool, *options in NAMESPACE_COMMANDS:
        named = " ".join([tool, *options])
        found = shutil.which(tool)  # an absolute path: the child's environment has no PATH
        if found is None:
            reasons.append(f"{tool} not found")
            continue
        try:
            probe = subprocess.run([found, *options, sys.executable, "-c", ""], capture_output=True, timeout=30,
                                   env={}, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            reasons.append(f"{named}: {err}")
            continue
        if probe.returncode == 0:
            return (found, *options), f"network namespace ({named})"
        reasons.append(f"{named}: {probe.stderr.decode(errors='replace').strip() or probe.returncode}")
    note = (f"no network namespace ({'; '.join(dict.fromkeys(reasons))}): the audit hook (and on x86-64 the "
            "seccomp filter) keeps the code off the network")
    print(f"[sandbox] {note}", file=sys.stderr)
    return (), note


def network_isolation() -> str:
    """How the child is kept off the network on this machine, in one line (probes once per process)."""
    return _namespace_prefix()[1]


def _clip(data: bytes, limit: int) -> str:
    """Decode ``data``, keeping the first and last ``limit // 2`` characters when it is longer."""
    text = data.decode("utf-8", errors="replace")
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters truncated ...]\n{text[-half:]}"


def _read_clipped(path: Path, limit: int) -> str:
    """Like :func:`_clip` on a file, reading only its two ends so a 16 MB log never fills memory."""
    size = path.stat().st_size
    window = 4 * limit  # UTF-8 needs at most 4 bytes per character
    with path.open("rb") as handle:
        if size <= 2 * window:
            return _clip(handle.read(), limit)
        head = handle.read(window).decode("utf-8", errors="replace")[: limit // 2]
        handle.seek(size - window)
        tail = handle.read().decode("utf-8", errors="replace")[-(limit // 2):]
    dropped = size - len(head.encode()) - len(tail.encode())
    return f"{head}\n[... about {dropped} bytes truncated ...]\n{tail}"


def _kill_group(pgid: int) -> None:
    """SIGKILL every process left in the child's group; an empty group is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_report(path: Path, nonce: str) -> dict | None:
    """The report the child wrote, or None when there is none valid (or it has the wrong nonce)."""
    try:
        report = json.loads(path.read_bytes())
    except (ValueError, RecursionError):  # empty, cut off, not JSON, or nested past the parser's depth
        return None
    if not isinstance(report, dict) or report.get("nonce") != nonce:
        return None
    return report


def _status_from_exit(returncode: int) -> str:
    """Status for a child that sent no verdict: CPU-limit signal = timeout, other signal = killed."""
    if returncode == -signal.SIGXCPU:
        return "timeout"
    if returncode < 0:
        return "killed"
    return "error"


def _explain(status: str, returncode: int, timeout_s: float, report_bytes: int = 0) -> str:
    """A line for stderr saying why there is no verdict from the child, so a learner sees the cause."""
    if status == "timeout" and returncode == -signal.SIGXCPU:
        return f"\n[sandbox] CPU time limit ({math.ceil(timeout_s) + 1} s) reached\n"
    if status == "timeout":
        return f"\n[sandbox] wall-clock limit ({timeout_s:g} s) reached; process group killed\n"
    if status == "killed":
        try:
            name = signal.Signals(-returncode).name
        except ValueError:  # a real-time signal has no name of its own
            name = str(-returncode)
        return f"\n[sandbox] process ended by signal {name}\n"
    if report_bytes >= FILE_LIMIT_MB * 2**20:
        return (f"\n[sandbox] the results did not fit the {FILE_LIMIT_MB} MB cap on what the code's process may "
                "write, so no report came back (return smaller values)\n")
    return f"\n[sandbox] process exited with code {returncode} without a valid report\n"


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _grade_calls(report: dict, tests: CallCases) -> tuple[str, int, str]:
    """(status, calls right, a stderr line on the first wrong call) from the child's report on data tests."""
    if report.get("status") != "ran":
        return "error", 0, ""
    results = report.get("results")
    if not isinstance(results, list) or len(results) != len(tests):
        return "error", 0, "\n[sandbox] the report does not hold one result per call\n"
    right, first_wrong = 0, ""
    for index, ((_, expected), result) in enumerate(zip(tests.cases, results, strict=True)):
        returned = isinstance(result, dict) and "value" in result
        if returned and plain_equal(expected, result["value"], tests.numeric_tolerance):
            right += 1
        elif not first_wrong:
            if returned:
                what = f"returned {_short(result['value'])}, expected {_short(expected)}"
            elif isinstance(result, dict) and isinstance(result.get("raised"), str):
                what = f"raised {result['raised'][:200]}"
            elif isinstance(result, dict) and isinstance(result.get("unreportable"), str):
                what = ("returned a value that is not plain JSON (NaN, infinity or too deep): "
                        f"{result['unreportable'][:200]}")
            else:
                what = "has no result"
            first_wrong = f"call {index + 1}: {tests.call(index)} {what}"
    if right == len(tests):
        return "passed", right, ""
    return "failed", right, f"\n[sandbox] {right} of {len(tests)} calls right; first wrong: {first_wrong}\n"


def _payload(code: str, tests: str | CallCases, nonce: str) -> bytes:
    if isinstance(tests, CallCases):
        return json.dumps({"nonce": nonce, "code": code, "entry_point": tests.entry_point,
                           "calls": [list(args) for args, _ in tests.cases]}).encode()
    if isinstance(tests, str):
        return json.dumps({"nonce": nonce, "code": code, "tests": tests}).encode()
    raise TypeError(f"tests must be a CallCases (tests as data) or a str of assert lines, got {type(tests).__name__}")


def run_tests(code: str, tests: str | CallCases, *, timeout_s: float = 5.0, memory_mb: int = 512,
              max_output: int = DEFAULT_MAX_OUTPUT) -> SandboxResult:
    """Run ``code`` against ``tests`` in a sandboxed process and grade it.

    ``tests`` is a :class:`CallCases` (tests as data: graded here, in this process) or a string of
    plain Python run after the code in the same namespace (``assert f(2) == 4``; graded in the child,
    see the module docstring for what that can and cannot guarantee). Never raises for anything the
    code does; every outcome is a :class:`SandboxResult`.
    """
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError(f"timeout_s and memory_mb must be positive, got {timeout_s} and {memory_mb}")
    nonce = secrets.token_hex(16)
    payload = _payload(code, tests, nonce)
    prefix, _ = _namespace_prefix()
    scratch = Path(tempfile.mkdtemp(prefix="tuning-lab-sandbox-"))
    workdir = scratch / "work"
    workdir.mkdir()
    stdout_path, stderr_path, report_path = scratch / "stdout", scratch / "stderr", scratch / "report"
    # A file, not a pipe, carries the report: a large report cannot block a child that the parent is
    # not yet reading, and the parent reads it only after the whole process group is gone.
    report_fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    cpu_seconds = math.ceil(timeout_s) + 1
    command = [*prefix, sys.executable, *_interpreter_flags(), str(CHILD_SCRIPT), str(report_fd), str(cpu_seconds),
               str(memory_mb), str(FILE_LIMIT_MB)]
    env = {"HOME": str(workdir), "TMPDIR": str(workdir), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"}
    timed_out = False
    started = time.perf_counter()
    try:
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=workdir,
                                    env=env, pass_fds=(report_fd,), start_new_session=True)
            os.close(report_fd)
            report_fd = -1
            try:
                proc.communicate(payload, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.communicate()
            _kill_group(proc.pid)  # anything the code left behind in its group
        seconds = time.perf_counter() - started
        report = None if timed_out else _read_report(report_path, nonce)
        stderr = _read_clipped(stderr_path, max_output)
        right = 0
        if report is None:
            status = "timeout" if timed_out else _status_from_exit(proc.returncode)
            size = report_path.stat().st_size if report_path.exists() else 0
            stderr += _explain(status, proc.returncode, timeout_s, size)
        elif isinstance(tests, CallCases):
            status, right, line = _grade_calls(report, tests)
            stderr += line
        else:
            status = report.get("status") if report.get("status") in ("passed", "failed", "error") else "error"
        return SandboxResult(passed=status == "passed", status=status, stdout=_read_clipped(stdout_path, max_output),
                             stderr=stderr, seconds=seconds, cases_passed=right,
                             cases_total=len(tests) if isinstance(tests, CallCases) else 0)
    finally:
        if report_fd >= 0:
            os.close(report_fd)
        shutil.rmtree(scratch, ignore_errors=True)


def run_many(codes: Sequence[str], tests_list: Sequence[str | CallCases], *, timeout_s: float = 5.0,
             memory_mb: int = 512, workers: int = 2, max_output: int = DEFAULT_MAX_OUTPUT) -> list[SandboxResult]:
    """:func:`run_tests` over pairs, ``workers`` processes at a time, results in input order.

    Two workers by default: CI has two cores, and each child is a whole interpreter.
    """
    if len(codes) != len(tests_list):
        raise ValueError(f"got {len(codes)} code strings but {len(tests_list)} tests")
    _namespace_prefix()  # probe once here, not in several worker threads at the same time
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda pair: run_tests(pair[0], pair[1], timeout_s=timeout_s,
                                                    memory_mb=memory_mb, max_output=max_output),
                             zip(codes, tests_list, strict=True)))
