"""The fork server's children end as ``subprocess.run([python, -c, CHILD, ...])`` would.

``tests/support/fork_server.py`` stands in for a new interpreter per CLI child in the
hostile-verb tests; each case here runs one child script both ways and compares exit
status, stdout and stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fork_server import ForkServer

# The child: ARGS are "case folder"; each case is a few lines of Python.
CHILD = """
import os, sys
case, folder = sys.argv[1], sys.argv[2]
if case == "exit-3":
    print("out", os.getcwd() == folder, os.environ.get("FORK_SERVER_TEST"))
    print("err", file=sys.stderr)
    sys.exit(3)
elif case == "exit-message":
    sys.exit("a message for stderr")
elif case == "uncaught":
    raise ValueError("not caught")
elif case == "thread":  # a non-daemon thread is joined at exit; its output is kept
    import threading, time
    threading.Thread(target=lambda: (time.sleep(0.2), print("late thread"))).start()
elif case == "grandchild":  # one that holds stdout after the child ends: read to EOF
    import subprocess
    subprocess.Popen(["sh", "-c", "sleep 0.3; echo late grandchild"])
elif case == "atexit":
    import atexit
    atexit.register(lambda: print("at exit"))
elif case == "crlf":
    sys.stdout.buffer.write(b"a\\r\\nb\\rc\\n")
elif case == "stdin":
    print(repr(sys.stdin.read()))
elif case == "sleep":
    import time
    time.sleep(30)
"""

CASES = ["exit-3", "exit-message", "uncaught", "thread", "grandchild", "atexit", "crlf", "stdin"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    started = ForkServer(
        "import json", CHILD, env=os.environ, folder=tmp_path_factory.mktemp("server")
    )
    yield started
    started.close()


@pytest.mark.parametrize("case", CASES)
def test_a_forked_child_ends_as_a_new_interpreter_would(
    server: ForkServer, tmp_path: Path, case: str
) -> None:
    args = [case, str(tmp_path)]
    env = {**os.environ, "FORK_SERVER_TEST": "set"}
    expected = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    got = server.run(args, cwd=tmp_path, env=env, timeout=30)
    assert (got.returncode, got.stdout, got.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )
    assert expected.stdout or expected.stderr  # each case says something


def test_a_child_past_its_timeout_is_killed_and_the_server_goes_on(
    server: ForkServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        server.run(["sleep", str(tmp_path)], cwd=tmp_path, env=os.environ, timeout=0.5)
    assert time.monotonic() - started < 10
    done = server.run(["exit-3", str(tmp_path)], cwd=tmp_path, env=os.environ, timeout=30)
    assert done.returncode == 3
