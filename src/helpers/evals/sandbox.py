"""Run model-written Python code against its unit tests in a separate, limited process.

Model-written code never runs in the notebook's own process. Each call starts a fresh interpreter
(``_sandbox_child.py``) that:

* runs in a new, empty temporary working directory, deleted afterwards, with an environment of
  three variables (``HOME`` and ``TMPDIR`` point into that directory);
* starts in its own session, so a timeout kills the whole process group (``os.killpg``), and the
  group is killed again after a normal exit so no stray process survives;
* sets resource limits on itself before running anything: CPU seconds (``RLIMIT_CPU``), address space
  (``RLIMIT_AS``, so a huge allocation raises ``MemoryError``), file size (``RLIMIT_FSIZE``), open
  files (``RLIMIT_NOFILE``) and processes (``RLIMIT_NPROC``; this one does not bind root);
* installs a Python audit hook (:func:`sys.addaudithook`) that refuses process creation (``os.fork``,
  ``os.system``, ``os.exec*``, ``os.posix_spawn``, ``subprocess``), signals to other processes,
  every ``socket`` operation, ``ctypes`` beyond its import, raising resource limits, links, and any
  write, delete, rename or permission change outside the working directory. Reading files is allowed.

How far this goes, honestly: the audit hook is a *Python-level* guard. It stops the accidents and
naive misbehaviour of model-written code (fork loops, deleting files, network calls) and it is
what makes the sandbox hold when CI runs as root. It is not a kernel boundary: there is no network
namespace, seccomp filter or container, and a determined attacker with native code could get past
it. Treat it as a seat belt for grading small generated functions, not as a security product.

POSIX only (Linux, macOS): it relies on ``resource`` limits, sessions and process groups. Where
the platform refuses a limit (macOS and ``RLIMIT_AS``, for one) the run goes on and stderr says so.

The interpreter runs with ``-s`` (no user site-packages) and, on Python 3.11+, ``-P`` (no unsafe
``sys.path`` entry), with an environment built from scratch: that is ``-I`` (isolated mode) minus
``-E``. ``-E`` would also ignore ``PYTHONHASHSEED``, which we set to ``0`` so that code whose output
depends on set or dict-of-str order grades the same way on every run.
"""

from __future__ import annotations

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

CHILD_SCRIPT = Path(__file__).with_name("_sandbox_child.py")
STATUSES = ("passed", "failed", "error", "timeout", "killed")
FILE_LIMIT_MB = 16  # also caps how much stdout/stderr the child can write
DEFAULT_MAX_OUTPUT = 4000


@dataclass(frozen=True)
class SandboxResult:
    """The verdict on one piece of code.

    ``status``: ``passed``; ``failed`` (a test raised); ``error`` (the code or tests did not compile,
    the code raised while being defined, or the process ended without a verdict); ``timeout`` (wall
    clock or CPU limit); ``killed`` (ended by some other signal, e.g. a crash in native code).
    ``stdout``/``stderr`` are clipped to a head and a tail with a marker in between.
    """

    passed: bool
    status: str
    stdout: str
    stderr: str
    seconds: float


def _interpreter_flags() -> list[str]:
    return ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]


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


def _read_report(fd: int, nonce: str) -> str | None:
    """The status the child reported, or None when it sent nothing valid (or the wrong nonce)."""
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:  # a writer is still alive somewhere; what arrived is all we take
        pass
    try:
        report = json.loads(b"".join(chunks))
    except ValueError:
        return None
    if not isinstance(report, dict) or report.get("nonce") != nonce:
        return None
    status = report.get("status")
    return status if status in ("passed", "failed", "error") else None


def _status_from_exit(returncode: int) -> str:
    """Status for a child that sent no verdict: CPU-limit signal = timeout, other signal = killed."""
    if returncode == -signal.SIGXCPU:
        return "timeout"
    if returncode < 0:
        return "killed"
    return "error"


def _explain(status: str, returncode: int, timeout_s: float) -> str:
    """A line for stderr saying why there is no verdict from the child, so a learner sees the cause."""
    if status == "timeout" and returncode == -signal.SIGXCPU:
        return f"\n[sandbox] CPU time limit ({math.ceil(timeout_s) + 1} s) reached\n"
    if status == "timeout":
        return f"\n[sandbox] wall-clock limit ({timeout_s:g} s) reached; process group killed\n"
    if status == "killed":
        return f"\n[sandbox] process ended by signal {signal.Signals(-returncode).name}\n"
    return f"\n[sandbox] process exited with code {returncode} before the tests finished\n"


def run_tests(code: str, tests: str, *, timeout_s: float = 5.0, memory_mb: int = 512,
              max_output: int = DEFAULT_MAX_OUTPUT) -> SandboxResult:
    """Run ``code`` and then ``tests`` (plain Python, e.g. ``assert f(2) == 4``) in a sandboxed process.

    Both share one namespace, so the tests call the functions the code defines. Never raises for
    anything the code does; every outcome is a :class:`SandboxResult`.
    """
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError(f"timeout_s and memory_mb must be positive, got {timeout_s} and {memory_mb}")
    nonce = secrets.token_hex(16)
    payload = json.dumps({"nonce": nonce, "code": code, "tests": tests}).encode()
    scratch = Path(tempfile.mkdtemp(prefix="tuning-lab-sandbox-"))
    workdir = scratch / "work"
    workdir.mkdir()
    stdout_path, stderr_path = scratch / "stdout", scratch / "stderr"
    read_fd, write_fd = os.pipe()
    cpu_seconds = math.ceil(timeout_s) + 1
    command = [sys.executable, *_interpreter_flags(), str(CHILD_SCRIPT), str(write_fd), str(cpu_seconds),
               str(memory_mb), str(FILE_LIMIT_MB)]
    env = {"HOME": str(workdir), "TMPDIR": str(workdir), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"}
    timed_out = False
    started = time.perf_counter()
    try:
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=workdir,
                                    env=env, pass_fds=(write_fd,), start_new_session=True)
            os.close(write_fd)
            write_fd = -1
            try:
                proc.communicate(payload, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.communicate()
            _kill_group(proc.pid)  # anything the code left behind in its group
        seconds = time.perf_counter() - started
        reported = None if timed_out else _read_report(read_fd, nonce)
        status = "timeout" if timed_out else reported or _status_from_exit(proc.returncode)
        stderr = _read_clipped(stderr_path, max_output)
        if reported is None:
            stderr += _explain(status, proc.returncode, timeout_s)
        return SandboxResult(passed=status == "passed", status=status,
                             stdout=_read_clipped(stdout_path, max_output), stderr=stderr, seconds=seconds)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        shutil.rmtree(scratch, ignore_errors=True)


def run_many(codes: Sequence[str], tests_list: Sequence[str], *, timeout_s: float = 5.0, memory_mb: int = 512,
             workers: int = 2, max_output: int = DEFAULT_MAX_OUTPUT) -> list[SandboxResult]:
    """:func:`run_tests` over pairs, ``workers`` processes at a time, results in input order.

    Two workers by default: CI has two cores, and each child is a whole interpreter.
    """
    if len(codes) != len(tests_list):
        raise ValueError(f"got {len(codes)} code strings but {len(tests_list)} test strings")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda pair: run_tests(pair[0], pair[1], timeout_s=timeout_s,
                                                    memory_mb=memory_mb, max_output=max_output),
                             zip(codes, tests_list, strict=True)))
