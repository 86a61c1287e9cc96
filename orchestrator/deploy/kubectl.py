"""The one way this project runs ``kubectl``: a small runner protocol and its real implementation.

Every step of ``deploy``, ``rollback`` and ``status`` calls kubectl through a
``KubectlRunner`` it is given: ``run`` (arguments, standard input, timeout -> a
``Completed``) for commands that finish, ``start`` for the one that does not
(``port-forward``). ``SubprocessKubectl`` is the real runner, and this module is the only
one that starts a kubectl process; tests inject a recording runner instead
(``rehearsal/recording.py``, the project's one fake of Kubernetes).

``check`` turns a failed command into a ``DeployError`` that names the step, the
command and kubectl's own words; ``port_forward`` holds a forwarded local port open for
the length of a ``with`` block and always stops the forwarder (``forward_ports``: several
ports of one target in one forwarder).

What kubectl prints is untrusted input (issue 23): the real runner decodes it with
replacement and refuses more than ``MAX_OUTPUT_BYTES``; ``parse_json`` bounds the parse
(size, nesting) and ``shown`` strips control characters (ANSI, BEL, bidi overrides) and
shortens long text before anything reaches a message or a terminal. A runner also keeps
the clock the deploy's waits read (``monotonic``, ``sleep``), so a played cluster can play
time.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from orchestrator.core import untrusted
from orchestrator.errors import DeployError
from orchestrator.serving.triton import free_port

__all__ = [
    "Background",
    "Completed",
    "MAX_OUTPUT_BYTES",
    "KubectlRunner",
    "SubprocessKubectl",
    "UnreadableAnswer",
    "check",
    "find_kubectl",
    "forward_ports",
    "parse_json",
    "port_forward",
    "shown",
]

logger = logging.getLogger(__name__)

_STOP_WAIT_S = 5.0
_POLL_S = 0.1
# A pod list of a few hundred pods is a few MB; anything past this is not an answer.
MAX_OUTPUT_BYTES = 32 * 1024 * 1024
_MAX_SHOWN_CHARS = 2000
# C0/C1 controls (ANSI escapes, BEL), and the bidi overrides/isolates (trojan-source), but
# not the newline and tab that kubectl's own messages use.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class UnreadableAnswer(DeployError):
    """kubectl answered, but with nothing this tool can read.

    Too large, not JSON, nested too deeply, or not the object asked for (a context that
    names another kind of server). Distinct from kubectl failing or not answering:
    something was reached.
    """


@dataclass(frozen=True)
class Completed:
    """A finished kubectl command: its arguments (without ``kubectl``) and what it printed."""

    args: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """Whether kubectl exited 0."""
        return self.returncode == 0


class Background(Protocol):
    """A kubectl process left running (``port-forward``)."""

    def poll(self) -> int | None:
        """Its exit status, or None while it runs."""

    def output(self) -> str:
        """What it has printed so far (stdout and stderr), for error messages."""

    def stop(self) -> None:
        """Stop it and wait for it; safe to call twice."""


class KubectlRunner(Protocol):
    """What the deploy steps need of kubectl; ``SubprocessKubectl`` is the real one."""

    def run(self, args: Sequence[str], *, input_text: str | None, timeout_s: float) -> Completed:
        """Run ``kubectl ARGS`` to the end (``input_text`` on stdin) within ``timeout_s``."""

    def start(self, args: Sequence[str]) -> Background:
        """Start ``kubectl ARGS`` in the background."""

    def monotonic(self) -> float:
        """The clock the deploy's waits read (``time.monotonic`` for a real cluster)."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on that clock."""


def find_kubectl() -> Path:
    """The kubectl binary: the running virtual environment's ``bin/`` first, then ``PATH``.

    Raises:
        DeployError: no kubectl is found in either place.

    Example:
        >>> find_kubectl()  # doctest: +SKIP
        PosixPath('/work/.venv/bin/kubectl')
    """
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("kubectl")
    if found is None:
        raise DeployError(
            f"kubectl was not found, neither in {beside.parent} nor on PATH. Install the dev "
            "extra (pip install -e '.[dev]'), or kubectl itself "
            "(https://kubernetes.io/docs/tasks/tools/), and try again."
        )
    return Path(found)


class _Process:
    """A background kubectl whose output goes to a temporary file (no pipe to fill up)."""

    def __init__(self, argv: list[str]) -> None:
        self._log: IO[bytes] = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    def poll(self) -> int | None:
        return self._process.poll()

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


class SubprocessKubectl:
    """The real runner: ``kubectl`` as a child process (found by ``find_kubectl``).

    Example:
        >>> SubprocessKubectl().run(["version", "--client"], input_text=None, timeout_s=10).ok
        ... # doctest: +SKIP
        True
    """

    def __init__(self, binary: Path | None = None, *, max_output_bytes: int = MAX_OUTPUT_BYTES):
        self.binary = binary or find_kubectl()
        self.max_output_bytes = max_output_bytes

    def run(self, args: Sequence[str], *, input_text: str | None, timeout_s: float) -> Completed:
        """Run kubectl to the end, its output decoded with replacement.

        A timeout, a binary that cannot start, or an answer over ``max_output_bytes`` is a
        ``DeployError``.
        """
        argv = [str(self.binary), *args]
        logger.debug("Running %s", " ".join(argv))
        # Output goes to files, not pipes: what kubectl prints is checked for size before
        # it is read into memory.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                done = subprocess.run(
                    argv,
                    input=None if input_text is None else input_text.encode(),
                    stdout=out,
                    stderr=err,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise DeployError(
                    f"kubectl {' '.join(args)} did not finish within {timeout_s:g} s. Check "
                    "that the cluster answers (kubectl cluster-info) and try again."
                ) from exc
            except OSError as exc:
                raise DeployError(
                    f"Could not run {self.binary}: {exc}. Check the kubectl install (find_kubectl)."
                ) from exc
            stdout, stderr = (
                self._read(f, name, args) for f, name in ((out, "stdout"), (err, "stderr"))
            )
        return Completed(tuple(args), done.returncode, stdout, stderr)

    def _read(self, file: IO[bytes], name: str, args: Sequence[str]) -> str:
        size = file.seek(0, os.SEEK_END)
        if size > self.max_output_bytes:
            raise UnreadableAnswer(
                f"kubectl {' '.join(args)} printed {size} bytes on {name}, more than the "
                f"{self.max_output_bytes} this tool reads. Check the kube context and the "
                "cluster: no answer of the commands deploy runs is that large."
            )
        file.seek(0)
        return file.read().decode(errors="replace")

    def monotonic(self) -> float:
        """``time.monotonic``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep``."""
        time.sleep(seconds)

    def start(self, args: Sequence[str]) -> Background:
        """Start kubectl in the background; its output is kept for error messages."""
        argv = [str(self.binary), *args]
        logger.debug("Starting %s", " ".join(argv))
        try:
            return _Process(argv)
        except OSError as exc:
            raise DeployError(
                f"Could not start {self.binary}: {exc}. Check the kubectl install (find_kubectl)."
            ) from exc


def check(result: Completed, step: str, hint: str) -> Completed:
    """``result`` when kubectl succeeded, else a ``DeployError`` naming ``step``.

    Args:
        result: what the runner returned.
        step: the step, as the user reads it (``apply``, ``rollout``).
        hint: what to try next.

    Example:
        >>> check(Completed(("apply",), 0), "apply", "").ok
        True
    """
    if result.ok:
        return result
    said = shown(result.stderr or result.stdout) or "no message"
    raise DeployError(
        f"Step {step!r} failed: kubectl {' '.join(result.args)} exited {result.returncode}: "
        f"{said}. {hint}"
    )


def shown(text: str, limit: int = _MAX_SHOWN_CHARS) -> str:
    r"""``text`` (from kubectl, a pod, an event) made safe for a terminal.

    No control characters (ANSI escapes, BEL, bidi overrides), stripped, and shortened past
    ``limit`` characters.

    Example:
        >>> shown("\x1b[31mred\x1b[0m\u202e  ")
        '[31mred[0m'
    """
    text = _CONTROL.sub("", str(text)).strip()
    if len(text) > limit:
        return text[:limit] + f"... ({len(text) - limit} more characters)"
    return text


def parse_json(text: str, what: str) -> dict[str, Any] | None:
    """Read kubectl's ``--output=json`` as an object (None for no output), parsed with bounds.

    Raises:
        UnreadableAnswer: the text is too large, not JSON, nested too deeply, or not an
            object.

    Example:
        >>> parse_json('{"kind": "Lease"}', "kubectl get lease")
        {'kind': 'Lease'}
    """
    if not text.strip():
        return None
    if len(text) > MAX_OUTPUT_BYTES:
        raise UnreadableAnswer(f"{what} printed {len(text)} characters: not an answer to read.")
    # The one rule for untrusted JSON (core/untrusted): depth, number size, 1e400, NaN and
    # repeated keys refused, as for the store's documents.
    try:
        body = untrusted.parse_json(
            text.encode("utf-8", errors="replace"), max_bytes=MAX_OUTPUT_BYTES
        )
    except ValueError as exc:
        raise UnreadableAnswer(
            f"{what} printed no JSON that can be read ({shown(str(exc), 200)})."
        ) from exc
    if not isinstance(body, dict):
        raise UnreadableAnswer(f"{what} printed {type(body).__name__}, not an object.")
    return body


@contextmanager
def port_forward(
    runner: KubectlRunner, namespace: str, target: str, remote_port: int, *, timeout_s: float
) -> Iterator[str]:
    """Forward a free local port to ``target`` (``svc/triton``, ``pod/NAME``) while in the block.

    Yields:
        ``127.0.0.1:PORT``, once the local port accepts connections.

    Raises:
        DeployError: the forwarder exited, or the port did not open within ``timeout_s``.

    Example:
        >>> with port_forward(runner, "triton-staging", "svc/triton", 8000, timeout_s=30) as url:
        ...     smoke(url)  # doctest: +SKIP
    """
    with forward_ports(runner, namespace, target, (remote_port,), timeout_s=timeout_s) as urls:
        yield urls[0]


@contextmanager
def forward_ports(
    runner: KubectlRunner,
    namespace: str,
    target: str,
    remote_ports: Sequence[int],
    *,
    timeout_s: float,
) -> Iterator[tuple[str, ...]]:
    """Forward one free local port per remote port, in ONE ``kubectl port-forward``.

    One forwarder for several ports reaches one pod behind a Service, so (for the gate)
    the load on the HTTP port and the counters on the metrics port come from the same
    Triton.

    Yields:
        ``127.0.0.1:PORT`` per remote port, in order, once every one accepts connections.

    Raises:
        DeployError: the forwarder exited, or a port did not open within ``timeout_s``.

    Example:
        >>> with forward_ports(runner, "triton-staging", "svc/triton", (8000, 8002),
        ...                    timeout_s=30) as (http_url, metrics_url):
        ...     gate(http_url, metrics_url)  # doctest: +SKIP
    """
    local_ports = _free_ports(len(remote_ports))
    pairs = [f"{local}:{remote}" for local, remote in zip(local_ports, remote_ports, strict=True)]
    args = ["port-forward", "--namespace", namespace, target, *pairs]
    process = runner.start(args)
    try:
        deadline = time.monotonic() + timeout_s
        while not all(_accepts("127.0.0.1", port) for port in local_ports):
            status = process.poll()
            if status is not None:
                raise DeployError(
                    f"kubectl {' '.join(args)} exited {status} before the port opened: "
                    f"{shown(process.output()) or 'no message'}. Check that {target} exists "
                    f"in namespace {namespace!r} and that a pod behind it is running."
                )
            if time.monotonic() > deadline:
                raise DeployError(
                    f"kubectl {' '.join(args)} did not open "
                    f"{', '.join(f'127.0.0.1:{port}' for port in local_ports)} within "
                    f"{timeout_s:g} s. Check the cluster connection, or pass --url HOST:PORT."
                )
            time.sleep(_POLL_S)
        logger.info("Forwarding %s to %s in %s", ", ".join(pairs), target, namespace)
        yield tuple(f"127.0.0.1:{port}" for port in local_ports)
    finally:
        process.stop()


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
