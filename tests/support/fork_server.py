"""Run ``python -c CHILD ARGS`` as a fork of a warm parent: the imports are paid once.

A test that runs the CLI in a child process 50 times pays the interpreter's start and the
package's imports (0.4-1 s of CPU) each time. A ``ForkServer`` is one Python process that
has imported the package once; each ``run`` forks it, and the child then does what a
child of ``subprocess.run`` would: stdin from /dev/null, stdout and stderr into pipes (FIFOs
here, read until every writer, grandchildren included, has closed them), the working
folder, environment and ``sys.argv`` given, then ``CHILD`` as the rest of the script, so it
leaves as any Python program does (atexit handlers, non-daemon threads joined, an
uncaught exception printed with its traceback and exit 1). What the child measures after
its imports (an RLIMIT_AS set, a clock started) is the same; only the imports are shared.
"""

from __future__ import annotations

import json
import locale
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["ForkServer"]

# The server: {preload}, then one JSON request a line on fd 0; for each, fork, answer the
# child's pid and then its exit status (as subprocess's returncode) on fd 1. EOF on fd 0
# ends it. Only the child leaves the loop, to run {child} in a fresh __main__ namespace.
SERVER = """
import json, os, sys
{preload}

_child_ = compile({child!r}, "<string>", "exec")

def _request():
    line = bytearray()
    while not line.endswith(b"\\n"):
        byte = os.read(0, 1)  # unbuffered: nothing of the next request is read ahead
        if not byte:
            os._exit(0)
        line += byte
    return json.loads(line)

def _reply(value):
    os.write(1, (json.dumps(value) + "\\n").encode())

while True:
    _request_ = _request()
    sys.stdout.flush()
    sys.stderr.flush()
    _pid_ = os.fork()
    if _pid_ == 0:
        break
    _reply(_pid_)
    _reply(os.waitstatus_to_exitcode(os.waitpid(_pid_, 0)[1]))

os.chdir(_request_["cwd"])
os.environ.clear()
os.environ.update(_request_["env"])
for _fd_, _path_, _flags_ in (
    (0, os.devnull, os.O_RDONLY),
    (1, _request_["stdout"], os.O_WRONLY),
    (2, _request_["stderr"], os.O_WRONLY),
):
    _opened_ = os.open(_path_, _flags_)
    os.dup2(_opened_, _fd_)
    os.close(_opened_)
sys.argv = ["-c", *_request_["argv"]]
_globals_ = {{"__name__": "__main__", "__doc__": None, "__package__": None}}
_globals_ |= {{"__spec__": None, "__annotations__": {{}}, "__builtins__": __builtins__}}
try:
    exec(_child_, _globals_)
except (SystemExit, KeyboardInterrupt):
    raise
except BaseException as _error_:  # as python -c prints it: without this script's frame
    _error_ = _error_.with_traceback(_error_.__traceback__.tb_next)
    sys.excepthook(type(_error_), _error_, _error_.__traceback__)
    sys.exit(1)
"""


class ForkServer:
    """A warm Python (``preload`` run once) that runs ``child`` in a fresh fork per call."""

    def __init__(self, preload: str, child: str, *, env: Mapping[str, str], folder: Path):
        self._folder = Path(tempfile.mkdtemp(prefix="fork-server-", dir=folder))
        self._log = self._folder / "server.log"
        script = SERVER.format(preload=textwrap.dedent(preload), child=child)
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self._folder,
                env=dict(env),
            )
        self._buffer = b""
        self._runs = 0

    def close(self) -> None:
        """End the server (EOF on its requests) and wait for it."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def run(
        self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """``python -c CHILD ARGS`` in ``cwd`` with ``env``: as ``subprocess.run`` with
        ``capture_output=True, text=True, timeout=timeout, stdin=DEVNULL`` would return
        (or raise ``subprocess.TimeoutExpired``, the child killed)."""
        deadline = time.monotonic() + timeout
        shown = ["python", "-c", "CHILD", *args]
        self._runs += 1
        fifos = [self._folder / f"run{self._runs}.{name}" for name in ("out", "err")]
        for fifo in fifos:
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo)
        # Our read ends, and a write end each held until the child has ended: a FIFO
        # without writers reads as EOF, as it would before the child opened its own.
        readers = [os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) for fifo in fifos]
        holders = [os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) for fifo in fifos]
        try:
            stdin, answers = self._pipes()
            request = {"argv": list(args), "cwd": str(cwd), "env": dict(env)}
            request |= {"stdout": str(fifos[0]), "stderr": str(fifos[1])}
            stdin.write((json.dumps(request) + "\n").encode())
            stdin.flush()
            output = {fd: bytearray() for fd in readers}
            code = self._communicate(answers, output, holders, deadline)
            out, err = (self._text(output[fd]) for fd in readers)
            if code is None:
                raise subprocess.TimeoutExpired(shown, timeout, output=out, stderr=err)
            return subprocess.CompletedProcess(shown, code, out, err)
        finally:
            for fd in (*readers, *holders):
                os.close(fd)
            holders.clear()
            for fifo in fifos:
                fifo.unlink(missing_ok=True)

    def _communicate(
        self,
        answers: IO[bytes],
        output: dict[int, bytearray],
        holders: list[int],
        deadline: float,
    ) -> int | None:
        """Read the child's output until it has ended and every writer has closed its
        FIFOs; its exit status, or None when ``deadline`` came first (the child killed)."""
        replies: list[int] = []  # the child's pid, then its exit status
        with selectors.DefaultSelector() as selector:
            for fd in (*output, answers.fileno()):
                selector.register(fd, selectors.EVENT_READ)
            while len(replies) < 2 or len(selector.get_map()) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill(answers, replies)
                    return None
                for key, _ in selector.select(left):
                    if key.fd in output:
                        chunk = os.read(key.fd, 65536)
                        output[key.fd] += chunk
                        if not chunk:  # EOF: every writer has closed it
                            selector.unregister(key.fd)
                        continue
                    replies += self._replies(answers)
                    if len(replies) == 2:  # the child has ended: drain to EOF
                        selector.unregister(answers.fileno())
                        while holders:
                            os.close(holders.pop())
        return replies[1]

    def _kill(self, answers: IO[bytes], replies: list[int]) -> None:
        """Kill the child if it still runs; the server reaps it and says so."""
        while not replies:
            replies += self._replies(answers)
        if len(replies) == 1:
            os.kill(replies[0], signal.SIGKILL)
        while len(replies) < 2:
            replies += self._replies(answers)

    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None or self._process.poll() is not None:
            raise RuntimeError(f"the fork server ended:\n{self._log.read_text()[-3000:]}")
        return stdin, stdout

    def _replies(self, answers: IO[bytes]) -> list[int]:
        """The whole lines the server has written by now (one read, which may block)."""
        chunk = os.read(answers.fileno(), 4096)
        if not chunk:
            raise RuntimeError(f"the fork server ended:\n{self._log.read_text()[-3000:]}")
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        return [int(json.loads(line)) for line in lines]

    @staticmethod
    def _text(data: bytes | bytearray) -> str:
        # As subprocess.run(text=True): the locale's encoding (UTF-8 in UTF-8 mode),
        # strictly, with universal newlines.
        encoding = "utf-8" if sys.flags.utf8_mode else locale.getencoding()
        return bytes(data).decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
