"""The child side of :mod:`helpers.evals.sandbox`: set limits, install guards, run code and tests.

This file is executed as a script in a fresh interpreter (never imported by the project) as::

    python -s [-P] _sandbox_child.py REPORT_FD CPU_SECONDS MEMORY_MB FILE_MB

with a JSON payload ``{"nonce", "code", "tests"}`` on stdin. It uses the standard library only, so
nothing of the project (or torch) is loaded into the process that runs untrusted code.

Order matters: the payload is read and the limits are set *before* the audit hook goes in, and the
hook goes in *before* any untrusted line runs. The verdict travels back over an inherited pipe,
tagged with the nonce the parent sent, so code that prints "passed" or calls ``os._exit(0)``
cannot fake a pass: only a report with the right nonce counts.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import traceback

# Events refused outright. `os.fork` and friends stop fork storms and child processes; `os.kill`
# stops signalling other processes; `resource.*` stops code from raising its own limits (root may
# raise hard limits, so this matters in CI where we run as root).
_BLOCKED_EVENTS = frozenset({
    "os.fork", "os.forkpty", "os.system", "subprocess.Popen", "os.kill", "os.killpg",
    "signal.pthread_kill", "os.link", "os.symlink", "resource.setrlimit", "resource.prlimit",
    "os.startfile", "pty.spawn",
})
_BLOCKED_PREFIXES = ("socket.", "os.exec", "os.spawn", "os.posix_spawn")

# `_posixsubprocess.fork_exec` starts processes without raising any audit event of its own, so the
# module that holds it may not be imported at all (this also makes `import subprocess` fail).
_BLOCKED_IMPORTS = frozenset({"_posixsubprocess"})

# Events that modify the file system, mapped to (path argument, dir_fd argument) pairs. Each path
# must resolve to a place inside the working directory.
_PATH_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "shutil.rmtree": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "os.truncate": ((0, None),),
    "os.rename": ((0, 2), (1, 3)),
    "os.chflags": ((0, None),),
    "os.lchflags": ((0, None),),
    "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class SandboxViolation(PermissionError):
    """Raised inside the child when code attempts something the sandbox forbids."""


def _resolve(path: object, dir_fd: object) -> str | None:
    """Absolute, symlink-free form of ``path`` (relative to ``dir_fd`` when given); None for an fd."""
    if isinstance(path, int):
        return None
    text = os.fsdecode(path)  # type: ignore[arg-type]
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(text):
        text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
    return os.path.realpath(text)


def _make_hook(root: str):
    """An audit hook that refuses process creation, signals, network, ctypes and outside writes."""
    prefix = root.rstrip(os.sep) + os.sep

    def inside(path: object, dir_fd: object = None) -> bool:
        resolved = _resolve(path, dir_fd)
        return resolved is None or resolved == root or resolved.startswith(prefix)

    def hook(event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS or event.startswith(_BLOCKED_PREFIXES):
            raise SandboxViolation(f"sandbox: {event} is not allowed")
        if event == "import" and args[0] in _BLOCKED_IMPORTS:
            raise SandboxViolation(f"sandbox: importing {args[0]} is not allowed")
        if event.startswith("ctypes."):
            # Importing ctypes (numpy does) opens the main program; anything further reaches raw
            # memory or C functions, which would sidestep every other guard.
            if not (event == "ctypes.dlopen" and args[0] is None):
                raise SandboxViolation(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(flags, int) and flags & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(ch in mode for ch in "wax+"))
            if writing and not inside(path):
                raise SandboxViolation(f"sandbox: writing {path!r} outside the working directory")
        spec = _PATH_EVENTS.get(event)
        if spec is not None:
            for path_index, fd_index in spec:
                dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
                if path_index < len(args) and not inside(args[path_index], dir_fd):
                    raise SandboxViolation(f"sandbox: {event} on {args[path_index]!r} is not allowed")

    return hook


def _count_user_tasks() -> int | None:
    """Tasks (processes and their threads: RLIMIT_NPROC counts both) this user owns now.

    Read from /proc; None where there is no /proc (macOS), and RLIMIT_NPROC is then left alone.
    """
    if not os.path.isdir("/proc/self/task"):
        return None
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:  # the process ended while we looked
                continue
    return count


def _set_limits(cpu_seconds: int, memory_mb: int, file_mb: int) -> list[str]:
    """Hard caps on CPU time, address space, file size, open files and process count.

    Soft and hard limits are equal (CPU: hard one second later, so SIGXCPU comes first), so the code
    cannot raise them. RLIMIT_NPROC counts every process of the user and does not bind root; the
    audit hook is the guard that always holds, this is a second layer for non-root runs. Returns
    the names of limits this platform refused (macOS, for one, rejects some RLIMIT_AS values).
    """
    memory = memory_mb * 1024 * 1024
    size = file_mb * 1024 * 1024
    limits = {
        "RLIMIT_CPU": (cpu_seconds, cpu_seconds + 1),
        "RLIMIT_AS": (memory, memory),
        "RLIMIT_FSIZE": (size, size),
        "RLIMIT_NOFILE": (64, 64),
        "RLIMIT_CORE": (0, 0),
    }
    tasks = _count_user_tasks()
    if tasks is not None:
        limits["RLIMIT_NPROC"] = (tasks + 16, tasks + 16)
    refused = [] if tasks is not None else ["RLIMIT_NPROC"]
    for name, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), value)
        except (ValueError, OSError):
            refused.append(name)
    # Past RLIMIT_FSIZE a write should fail with an exception (graded), not kill the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return refused


def _print_exception(exc: BaseException) -> None:
    """The traceback of ``exc`` without this script's own frames, at most the last five frames."""
    report = traceback.TracebackException.from_exception(exc)
    frames = [frame for frame in report.stack if frame.filename != __file__]
    report.stack = traceback.StackSummary.from_list(frames[-5:])
    sys.stderr.write("".join(report.format()))


def _run(code: str, tests: str) -> str:
    """Execute the code, then the tests, in one namespace; return passed / failed / error.

    ``error``: the code or tests do not compile, or the code raises while being defined.
    ``failed``: the tests raise (an assertion, or any exception, MemoryError included).
    """
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        compiled_code = compile(code, "solution.py", "exec")
        compiled_tests = compile(tests, "tests.py", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: a null byte in the source
        _print_exception(exc)
        return "error"
    try:
        exec(compiled_code, namespace)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: all mean "the code broke"
        _print_exception(exc)
        return "error"
    try:
        exec(compiled_tests, namespace)
    except BaseException as exc:
        _print_exception(exc)
        return "failed"
    return "passed"


def main() -> None:
    report_fd, cpu_seconds, memory_mb, file_mb = (int(arg) for arg in sys.argv[1:5])
    payload = json.loads(sys.stdin.buffer.read())
    nonce = payload.pop("nonce")
    refused = _set_limits(cpu_seconds, memory_mb, file_mb)
    if refused:
        print(f"[sandbox] limits not enforced on this platform: {', '.join(refused)}", file=sys.stderr)
    sys.addaudithook(_make_hook(os.path.realpath(os.getcwd())))
    status = _run(payload.pop("code"), payload.pop("tests"))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # the output file hit RLIMIT_FSIZE; the report below still goes out
            pass
    os.write(report_fd, json.dumps({"nonce": nonce, "status": status}).encode())
    # Skip interpreter shutdown: atexit handlers and non-daemon threads of the code must not run on.
    os._exit(0 if status == "passed" else 1)


if __name__ == "__main__":
    main()
