"""The code grader, attacked as an adversarial policy would attack it.

From notebook 11 on, the sandbox's verdict is a training signal, so code is written *against* it.
Every attack below is real code run through the real sandbox (no mocks). Each must end as a
non-pass within its time limit, leave no file outside its working directory, leave the grading
process untouched (no signal arrives, no exception escapes), and in the introspection attacks find
no expected answer to copy. All attacks run in one batch, two at a time, with short limits: the
whole file takes seconds.

The hidden answer of the data tests, 15241630849 = 123457², appears nowhere else, so an attack that
finds it anywhere in the child (memory, frames, descriptors, files) prints LEAK and fails the test.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.sandbox import CallCases, network_isolation, run_many, run_tests

TESTS = CallCases("square", (((123457,), 15241630849), ((-3,), 9), ((0,), 0)))
MARK = f"tuning-lab-attack-{uuid.uuid4().hex[:12]}"  # every file an attack tries to create has this in its name
OUTSIDE = Path(tempfile.gettempdir())
QUICK_S = 3.0  # attacks that end by themselves
HANG_S = 1.0  # attacks that only a limit can end
SLACK_S = 2.5  # start-up and two shared cores: the most a contained attack may run past its limit


@dataclass(frozen=True)
class Attack:
    kind: str  # the attack class, as listed in the issue
    name: str
    code: str
    timeout_s: float = QUICK_S
    tests: CallCases | str = TESTS


def _attacks(victim: Path) -> list[Attack]:
    """Every attack, aimed at ``victim`` (a directory holding ``sentinel.txt``) and the system temp dir."""
    sentinel = victim / "sentinel.txt"
    out = OUTSIDE / MARK
    # The attacks build the answer at run time (pow of a parsed string, so the compiler cannot fold it
    # into a constant) and look for it everywhere except their own code.
    find_secret = (
        "import gc, os, sys\n"
        "def is_secret(value):\n"
        "    return type(value) is int and value == pow(int('123457'), 2)\n"
    )
    return [
        # ---- verdict forgery by introspection
        Attack("introspection", "forge the report from main()'s frame", (
            "import json, os, sys\n"
            "frame = sys._getframe()\n"
            "while frame is not None and 'nonce' not in frame.f_locals:\n"
            "    frame = frame.f_back\n"
            "nonce = frame.f_locals['nonce']\n"
            "fake = {'nonce': nonce, 'status': 'passed'}\n"
            "os.write(int(sys.argv[1]), json.dumps(fake).encode())\n"
            "os._exit(0)\n")),
        Attack("introspection", "forge a report of results found in memory", (
            "import json, os, sys\n"
            "frame = sys._getframe()\n"
            "while frame is not None and 'nonce' not in frame.f_locals:\n"
            "    frame = frame.f_back\n"
            "results = [{'value': a[0] * a[0] + 1} for a in frame.f_locals['payload'].get('calls', [[0]] * 3)]\n"
            "fake = {'nonce': frame.f_locals['nonce'], 'status': 'ran', 'results': results}\n"
            "os.write(int(sys.argv[1]), json.dumps(fake).encode())\n"
            "os._exit(0)\n")),
        Attack("introspection", "search every object, frame and global for the answer", find_secret + (
            "found = [o for o in gc.get_objects() if isinstance(o, (list, tuple, dict, set)) and\n"
            "         any(is_secret(x) for x in list(o.values() if isinstance(o, dict) else o))]\n"
            "frame = sys._getframe()\n"
            "while frame is not None:\n"
            "    found += [v for v in list(frame.f_locals.values()) + list(frame.f_globals.values()) if is_secret(v)]\n"
            "    frame = frame.f_back\n"
            "found += [m for m in list(sys.modules.values()) if any(is_secret(v) for v in vars(m).values())]\n"
            "print('LEAK' if found else 'nothing found')\n"
            "def square(x):\n    return 0\n")),
        Attack("introspection", "read every open descriptor, the sandbox's source and the parent", find_secret + (
            "secret = str(pow(int('123457'), 2)).encode()\n"
            "texts = []\n"
            "for fd in os.listdir('/proc/self/fd'):\n"
            "    try:\n"
            "        texts.append(os.pread(int(fd), 1 << 20, 0))\n"
            "    except OSError:\n"
            "        pass\n"
            "here = os.path.dirname(sys.argv[0])\n"
            "for name in os.listdir(here):\n"
            "    try:\n"
            "        texts.append(open(os.path.join(here, name), 'rb').read())\n"
            "    except OSError:\n"
            "        pass\n"
            "for part in ('mem', 'environ', 'cmdline'):\n"
            "    try:\n"
            "        texts.append(open(f'/proc/{os.getppid()}/{part}', 'rb').read(1 << 16))\n"
            "    except OSError as err:\n"
            "        print('refused', part, type(err).__name__)\n"
            "print('LEAK' if any(secret in t for t in texts) else 'nothing found')\n"
            "def square(x):\n    return 0\n")),
        Attack("introspection", "rebuild the answers with the project's own task generator", (
            "import os, sys\n"
            "try:\n"
            "    from helpers.synth import pycode\n"
            "    print('IMPORTED')\n"
            "except Exception as err:\n"
            "    print('REFUSED', type(err).__name__)\n"
            "for entry in sys.path:\n"
            "    source = os.path.join(entry, 'helpers', 'synth', 'pycode.py')\n"
            "    if os.path.exists(source):\n"
            "        try:\n"
            "            exec(open(source).read(), {})\n"
            "            print('IMPORTED')\n"
            "        except Exception as err:\n"
            "            print('REFUSED', type(err).__name__)\n"
            "def square(x):\n    return 0\n")),
        # ---- equality-overriding results
        Attack("equality", "an object equal to everything", (
            "class Anything:\n"
            "    def __eq__(self, other): return True\n"
            "    def __ne__(self, other): return False\n"
            "    def __hash__(self): return hash(9)\n"
            "    def __len__(self): return 1\n"
            "    def __str__(self): return '9'\n"
            "    __repr__ = __str__\n"
            "def square(x):\n    return Anything()\n")),
        Attack("equality", "an int subclass equal to everything", (
            "class Liar(int):\n"
            "    def __eq__(self, other): return True\n"
            "    __hash__ = int.__hash__\n"
            "def square(x):\n    return Liar(0)\n")),
        Attack("equality", "a metaclass that says its class is int", (
            "class Meta(type):\n"
            "    def __eq__(cls, other): return True\n"
            "    __hash__ = type.__hash__\n"
            "class Fake(int, metaclass=Meta):\n"
            "    def __eq__(self, other): return True\n"
            "    __hash__ = int.__hash__\n"
            "def square(x):\n    return Fake(0)\n")),
        Attack("equality", "a bool where an int is expected", "def square(x):\n    return True\n"),
        Attack("equality", "a float where an int is expected", "def square(x):\n    return float(x * x)\n"),
        Attack("equality", "a string of the right digits", "def square(x):\n    return str(x * x)\n"),
        Attack("introspection", "patch json so the report lies", (
            "import json\n"
            "def square(x):\n"
            "    json.dumps = lambda *a, **k: 'null'\n"
            "    return x\n")),
        # ---- early exits with a success code
        Attack("early exit", "os._exit(0) while defining", "import os\nos._exit(0)\n"),
        Attack("early exit", "os._exit(0) inside the call", "import os\ndef square(x):\n    os._exit(0)\n"),
        Attack("early exit", "sys.exit(0) inside the call", "import sys\ndef square(x):\n    sys.exit(0)\n"),
        Attack("early exit", "raise SystemExit while defining", "raise SystemExit(0)\n"),
        Attack("early exit", "abort", "import os\ndef square(x):\n    os.abort()\n"),
        # ---- printing a fake success marker
        Attack("fake marker", "print a report-shaped success", (
            "import sys\n"
            "for stream in (sys.stdout, sys.stderr):\n"
            "    print('{\"status\": \"passed\", \"results\": [9, 9, 0]}\\npassed\\nOK', file=stream)\n"
            "def square(x):\n    print('passed')\n    return None\n")),
        # ---- fork and thread storms
        Attack("fork storm", "fork loop", "import os\nwhile True:\n    os.fork()\n"),
        Attack("fork storm", "fork loop that swallows errors", (
            "import os\nwhile True:\n    try:\n        os.fork()\n    except Exception:\n        pass\n"), HANG_S),
        Attack("fork storm", "multiprocessing", (
            "import multiprocessing\nmultiprocessing.Process(target=print).start()\n")),
        Attack("thread storm", "small-stack threads until it breaks, then spin", (
            "import threading, time\n"
            "threading.stack_size(64 * 1024)\n"
            "while True:\n"
            "    try:\n"
            "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "    except Exception:\n"
            "        pass\n"), HANG_S),
        Attack("thread storm", "threads inside every call", (
            "import threading, time\n"
            "def square(x):\n"
            "    for _ in range(10000):\n"
            "        threading.Thread(target=time.sleep, args=(60,)).start()\n"
            "    return x * x\n"), HANG_S),
        # ---- huge allocations
        Attack("allocation", "ten gigabytes at once", "def square(x):\n    return len(bytearray(10**10))\n"),
        Attack("allocation", "a list that grows forever", "junk = []\nwhile True:\n    junk.append(' ' * 10**6)\n"),
        Attack("allocation", "a huge result", "def square(x):\n    return [x] * 10**9\n"),
        # ---- infinite output
        Attack("output", "infinite stdout", "while True:\n    print('x' * 10000)\n", HANG_S),
        Attack("output", "infinite stderr that swallows errors", (
            "import os\nwhile True:\n    try:\n        os.write(2, b'y' * 65536)\n    except OSError:\n        pass\n"),
            HANG_S),
        # ---- writes, deletes, renames, links outside the work dir
        Attack("files", "delete, overwrite, rename, chmod the sentinel", (
            "import os, shutil\n"
            f"target = {str(sentinel)!r}\n"
            "attempts = [lambda: os.remove(target), lambda: open(target, 'w').write('x'),\n"
            "            lambda: os.rename(target, 'stolen'), lambda: os.replace(target, 'stolen'),\n"
            "            lambda: os.chmod(target, 0), lambda: os.truncate(target, 0),\n"
            "            lambda: os.utime(target, (0, 0)), lambda: shutil.rmtree(os.path.dirname(target)),\n"
            "            lambda: shutil.move(target, 'stolen')]\n"
            "for attempt in attempts:\n"
            "    try:\n"
            "        attempt()\n"
            "    except Exception as err:\n"
            "        print(type(err).__name__)\n"
            "def square(x):\n    return 0\n")),
        Attack("files", "create files outside by every route", (
            "import os, shutil, tempfile\n"
            f"out = {str(out)!r}\n"
            "open('inside.txt', 'w').write('x')\n"
            "attempts = [lambda: open(out + '-open', 'w'), lambda: os.open(out + '-os', os.O_CREAT | os.O_WRONLY),\n"
            "            lambda: os.mkdir(out + '-dir'), lambda: os.mkfifo(out + '-fifo'),\n"
            "            lambda: os.mknod(out + '-node'), lambda: os.link('inside.txt', out + '-hard'),\n"
            "            lambda: os.symlink('inside.txt', out + '-sym'),\n"
            "            lambda: shutil.copy('inside.txt', out + '-copy'),\n"
            f"            lambda: tempfile.mkstemp(prefix={MARK!r}, dir={str(OUTSIDE)!r}),\n"
            "            lambda: os.rename('inside.txt', out + '-moved')]\n"
            "for attempt in attempts:\n"
            "    try:\n"
            "        attempt()\n"
            "    except Exception as err:\n"
            "        print(type(err).__name__)\n"
            "def square(x):\n    return 0\n")),
        Attack("files", "a relative path through a directory descriptor from outside", (
            "import os\n"
            f"fd = os.open({str(OUTSIDE)!r}, os.O_RDONLY)\n"
            f"os.open({MARK + '-dirfd'!r}, os.O_CREAT | os.O_WRONLY, dir_fd=fd)\n")),
        Attack("files", "a relative path after changing directory", (
            f"import os\nos.chdir({str(OUTSIDE)!r})\nopen({MARK + '-chdir'!r}, 'w').write('x')\n")),
        Attack("files", "a symlink inside pointing outside", (
            f"import os\nos.symlink({str(sentinel)!r}, 'link')\nopen('link', 'w').write('x')\n")),
        Attack("files", "SQLite attaching a database outside", (
            f"import sqlite3\nsqlite3.connect(':memory:').execute(\"ATTACH '{out}-db' AS x\")\n")),
        # ---- network
        Attack("network", "connect to a local port", (
            "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n")),
        Attack("network", "fetch a URL", (
            "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)\n")),
        Attack("network", "a raw socket through ctypes", "import ctypes\nctypes.CDLL(None).socket(2, 1, 0)\n"),
        # ---- child processes
        Attack("processes", "subprocess", "import subprocess\nsubprocess.run(['true'])\n"),
        Attack("processes", "os.system", "import os\nos.system('true')\n"),
        Attack("processes", "exec", "import os\nos.execv('/bin/true', ['true'])\n"),
        Attack("processes", "posix_spawn", "import os\nos.posix_spawn('/bin/true', ['true'], {})\n"),
        Attack("processes", "pty.spawn", "import pty\npty.spawn('true')\n"),
        Attack("processes", "fork through ctypes", "import ctypes\nctypes.CDLL(None).fork()\n"),
        # ---- signals to the parent
        Attack("signals", "signal the parent by every route", (
            "import os, signal\n"
            "parent = os.getppid()\n"
            "attempts = [lambda: os.kill(parent, signal.SIGUSR1),\n"
            "            lambda: os.killpg(os.getpgid(parent), signal.SIGUSR1),\n"
            "            lambda: signal.pidfd_send_signal(os.pidfd_open(parent), signal.SIGUSR1),\n"
            "            lambda: os.kill(0, signal.SIGUSR1), lambda: os.kill(-1, signal.SIGUSR1)]\n"
            "for attempt in attempts:\n"
            "    try:\n"
            "        attempt()\n"
            "    except Exception as err:\n"
            "        print('REFUSED', type(err).__name__)\n"
            "def square(x):\n    return 0\n")),
        # ---- ignoring SIGTERM and SIGXCPU
        Attack("ignore signals", "ignore SIGTERM and SIGXCPU, then spin", (
            "import signal\n"
            "for sig in (signal.SIGTERM, signal.SIGXCPU, signal.SIGINT, signal.SIGHUP):\n"
            "    signal.signal(sig, signal.SIG_IGN)\n"
            "def square(x):\n    while True:\n        pass\n"), HANG_S),
        Attack("ignore signals", "catch SIGXCPU and keep spinning", (
            "import signal\n"
            "signal.signal(signal.SIGXCPU, lambda *a: None)\n"
            "while True:\n    pass\n"), HANG_S),
        # ---- deep recursion
        Attack("recursion", "unbounded recursion", "def square(x):\n    return square(x + 1)\n"),
        Attack("recursion", "recursion through C past the C stack", (
            "import sys\nsys.setrecursionlimit(10**8)\ndef square(x):\n    return list(map(square, [x]))\n")),
        Attack("recursion", "a result nested 100 000 deep", (
            "def square(x):\n    r = []\n    for _ in range(10**5):\n        r = [r]\n    return r\n")),
        Attack("recursion", "a result that contains itself", (
            "def square(x):\n    r = []\n    r.append(r)\n    return r\n")),
        # ---- null bytes
        Attack("null bytes", "a null byte in the source", "def square(x):\n    return x * x\n\x00\n"),
        Attack("null bytes", "null bytes in the result and the output", (
            "print('\\x00passed\\x00')\ndef square(x):\n    return '\\x00' * 3\n")),
        # ---- assert-style tests get the kernel and hook guards too
        Attack("introspection", "forge an assert-style report with a wrong nonce", (
            "import json, os, sys\n"
            "os.write(int(sys.argv[1]), json.dumps({'nonce': 'guess', 'status': 'passed'}).encode())\n"
            "os._exit(0)\n"), tests="assert square(3) == 9\n"),
    ]


def _files_named(mark: str) -> list[str]:
    return sorted(str(p) for p in OUTSIDE.iterdir() if mark in p.name)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Run every attack once; record the results, the signals the test process received, the files left."""
    victim = tmp_path_factory.mktemp("victim")
    (victim / "sentinel.txt").write_text("keep me")
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        attacks = _attacks(victim)
        results = []
        for timeout_s in (QUICK_S, HANG_S):  # run_many takes one limit per batch
            batch = [a for a in attacks if a.timeout_s == timeout_s]
            results += list(zip(batch, run_many([a.code for a in batch], [a.tests for a in batch],
                                                timeout_s=timeout_s, memory_mb=256, workers=2), strict=True))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    return {"results": results, "received": received, "victim": victim, "left": _files_named(MARK)}


def test_every_attack_ends_as_a_non_pass_within_its_limit(outcome):
    for attack, result in outcome["results"]:
        assert not result.passed and result.status != "passed", (attack.name, result)
        assert result.seconds <= attack.timeout_s + SLACK_S, (attack.name, result.seconds)
        assert result.cases_passed < max(result.cases_total, 1), attack.name


def test_no_attack_finds_the_hidden_answer(outcome):
    for attack, result in outcome["results"]:
        assert "LEAK" not in result.stdout, attack.name
    searches = {a.name: r for a, r in outcome["results"] if a.name.startswith(("search", "read every"))}
    assert len(searches) == 2 and all("nothing found" in r.stdout for r in searches.values()), searches
    assert "refused mem" in searches["read every open descriptor, the sandbox's source and the parent"].stdout
    generator = next(r for a, r in outcome["results"] if "task generator" in a.name)
    assert "IMPORTED" not in generator.stdout and generator.stdout.count("REFUSED") >= 2, generator.stdout


def test_no_file_is_left_or_changed_outside_the_work_dir(outcome):
    victim = outcome["victim"]
    assert sorted(p.name for p in victim.iterdir()) == ["sentinel.txt"]
    assert (victim / "sentinel.txt").read_text() == "keep me"
    assert (victim / "sentinel.txt").stat().st_mode & 0o777 != 0
    assert (victim / "sentinel.txt").stat().st_mtime > 1
    assert outcome["left"] == []


def test_the_grading_process_receives_no_signal(outcome):
    assert outcome["received"] == []
    signals = next(r for a, r in outcome["results"] if a.kind == "signals")
    assert signals.stdout.count("REFUSED") == 5, signals.stdout  # every route refused, none silently ignored


def test_how_each_class_of_attack_ended(outcome):
    """The ending expected per class: what the closing note of the issue reports."""
    endings: dict[str, set[str]] = {}
    for attack, result in outcome["results"]:
        endings.setdefault(attack.kind, set()).add(result.status)
    assert endings["equality"] == {"failed"}
    assert endings["fake marker"] == {"failed"}
    assert endings["ignore signals"] == {"timeout"}
    assert endings["output"] <= {"error", "timeout"}
    assert endings["network"] == endings["processes"] == {"error"}
    assert endings["files"] <= {"error", "failed"}
    assert endings["recursion"] <= {"failed", "killed"}
    assert "passed" not in set().union(*endings.values())


def test_attacks_cost_seconds_not_minutes(outcome):
    assert sum(r.seconds for _, r in outcome["results"]) < 45


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are a Linux feature")
def test_the_child_sees_no_network_interface_but_loopback_where_a_namespace_exists():
    code = "print(open('/proc/self/net/dev').read())\ndef square(x):\n    return x * x\n"
    result = run_tests(code, TESTS)
    assert result.passed, result.stderr
    interfaces = {line.split(":")[0].strip() for line in result.stdout.splitlines()[2:] if ":" in line}
    if network_isolation().startswith("network namespace"):
        assert interfaces == {"lo"}
    else:
        pytest.skip(network_isolation())


def test_assert_style_tests_can_be_gamed_which_is_why_rewards_use_data():
    """The documented limit of assert-style tests: code in the same process decides their verdict."""
    cheat = ("class Anything:\n    def __eq__(self, other):\n        return True\n"
             "def square(x):\n    return Anything()\n")
    assert run_tests(cheat, "assert square(3) == 9\n").passed  # fooled, as the docstring warns
    assert run_tests(cheat, TESTS).status == "failed"  # tests as data are not
