"""Start and stop a real ``tritonserver`` as a child process.

The server runs in its own process group on loopback ports, with the running virtual
environment first on ``PATH`` (the python backend stub takes its packages from the first
``python3`` there). It is stopped gracefully (SIGTERM), then killed with its whole group
after a timeout, also when the caller crashes: the child asks the kernel for SIGTERM when
its parent dies, and an ``atexit`` hook stops whatever is still running.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from orchestrator.errors import ConfigError, ServerError
from orchestrator.serving.triton.backends import assemble_backend_dir
from orchestrator.serving.triton.binary import TritonInstall, find_tritonserver
from orchestrator.serving.triton.flags import local_args
from orchestrator.serving.triton.paths import (
    SCRATCH_PREFIX,
    plain_scratch_dir,
    stub_safe,
    stub_safe_view,
)
from orchestrator.serving.triton.ports import PORT_FLAGS, check_ports
from orchestrator.serving.triton.running import RunningTriton

__all__ = ["ServerOptions", "TritonServer", "require_repository_folder"]

logger = logging.getLogger(__name__)

ControlMode = Literal["explicit", "poll", "none"]
_PR_SET_PDEATHSIG = 1
_REAP_TIMEOUT_S = 1.0
# How often stop checks whether the server has exited (without reaping it).
_EXIT_POLL_S = 0.05
_MAX_TIMEOUT_S = 86400.0
_running: weakref.WeakSet[TritonServer] = weakref.WeakSet()


@dataclass(frozen=True)
class ServerOptions:
    """How to start a local Triton server.

    Attributes:
        repository: a local folder, or an ``s3://HOST:PORT/bucket/prefix`` style URL.
        http_port, grpc_port, metrics_port: fixed ports; a free one when None.
        address: the interface to listen on.
        model_control_mode: "explicit" (models are loaded through the API), "poll" or "none".
        strict_model_config: pass ``--disable-auto-complete-config``, as production does.
        ready_timeout_s: how long to wait for ``/v2/health/ready``.
        stop_timeout_s: how long a graceful stop may take before the group is killed.
        repository_poll_s: the poll interval in "poll" mode.
        tritonserver: an explicit binary; see ``find_tritonserver``.
        workdir: where the backend directory and the log go (a temporary folder if None).
        extra_args: more tritonserver arguments.
        env: more environment variables for the server (credentials for s3://, say).
    """

    repository: Path | str
    http_port: int | None = None
    grpc_port: int | None = None
    metrics_port: int | None = None
    address: str = "127.0.0.1"
    model_control_mode: ControlMode = "explicit"
    strict_model_config: bool = True
    ready_timeout_s: float = 120.0
    stop_timeout_s: float = 15.0
    repository_poll_s: int = 2
    log_verbose: int = 0
    tritonserver: Path | None = None
    workdir: Path | None = None
    extra_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        check_ports({attribute: getattr(self, attribute) for attribute in PORT_FLAGS})
        if not self.address.strip():  # tritonserver exits on an empty --http-address
            raise ConfigError(
                "--address is empty. Pass 127.0.0.1 for this machine only, or 0.0.0.0 for "
                "every interface."
            )
        for name in ("ready_timeout_s", "stop_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= _MAX_TIMEOUT_S:  # also refuses nan
                raise ConfigError(
                    f"{name} {value} must be a number of seconds above 0 and at most "
                    f"{_MAX_TIMEOUT_S:.0f} (a day)."
                )

    @property
    def is_remote(self) -> bool:
        """Whether the repository is an object-store URL rather than a local folder."""
        return "://" in str(self.repository)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    # Ctrl-C (or SIGTERM) arriving now is delivered when the block ends, not in its middle.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def require_repository_folder(repository: Path) -> None:
    """Refuse a local model repository that is not a folder, before anything starts.

    Raises:
        ServerError: it is missing or not a directory.

    Example:
        >>> require_repository_folder(Path("."))
    """
    if not repository.is_dir():
        raise ServerError(
            f"Model repository {repository} does not exist or is not a directory. "
            "Pass the folder that holds <model>/config.pbtxt, e.g. model_repository/."
        )


def _die_with_parent() -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        # Linux only: the kernel sends SIGTERM to the server when its parent dies.
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


class TritonServer(RunningTriton):
    """A running local Triton server; use it as a context manager.

    Example:
        >>> with TritonServer(ServerOptions(Path("model_repository"))) as server:  # doctest: +SKIP
        ...     print(server.http_url)
        127.0.0.1:40123
    """

    def __init__(self, options: ServerOptions, install: TritonInstall | None = None) -> None:
        super().__init__(options)
        self.options = options
        self._install = install
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._own_workdir = False
        self._scratch: Path | None = None  # a plain-path folder the stub can take
        self._repository: Path | None = None  # the repository as Triton is given it
        self.workdir: Path | None = None

    @property
    def log_path(self) -> Path:
        """The server's combined stdout and stderr."""
        if self.workdir is None:
            raise ServerError("The server has not been started, so it has no log yet.")
        return self.workdir / "tritonserver.log"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and not _has_exited(self._process)

    def stop(self) -> None:
        """Stop gracefully, then kill the whole process group after ``stop_timeout_s``.

        The kill and the removal of temporary folders run even when the graceful wait is
        interrupted (a second Ctrl-C), with SIGINT and SIGTERM held back meanwhile.
        """
        try:
            self._terminate()
        finally:
            with _signals_held():
                self._kill_and_clean()

    def _terminate(self) -> None:
        process = self._process
        if process is None or _has_exited(process):
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        # Waited for without reaping it: its pid, and so its process group's id, stays ours
        # until _kill_and_clean has signalled the group (a reaped pid can be handed to an
        # unrelated process, and killpg would then kill that process's group).
        deadline = time.monotonic() + self.options.stop_timeout_s
        while not _has_exited(process):
            if time.monotonic() > deadline:
                logger.warning(
                    "Triton (pid %d) did not stop within %.0f s; killing it",
                    process.pid,
                    self.options.stop_timeout_s,
                )
                return
            time.sleep(_EXIT_POLL_S)

    def _kill_and_clean(self) -> None:
        process = self._process
        if process is not None:
            # The python backend stubs live in the server's process group: take them too,
            # while the unreaped server still holds the group's id (never after a reap).
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            _reap(process)
            logger.info("Triton (pid %d) stopped", process.pid)
            self._process = None
        _running.discard(self)
        self._close_log()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._own_workdir = False
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # -- helpers ----------------------------------------------------------------------
    def _prepare(self) -> None:
        if not self.options.is_remote:
            require_repository_folder(Path(self.options.repository))
        self._install = self._install or find_tritonserver(self.options.tritonserver)

    def _launch(self) -> None:
        install = self._install
        assert install is not None  # found in _prepare
        self._prepare_workdir()
        assert self.workdir is not None
        # The python backend stub cannot take a path with a space or non-ASCII: such a
        # backend directory or repository is reached through a plain scratch folder.
        base = self.workdir.resolve()
        if not stub_safe(base) or (not self.options.is_remote and not stub_safe(self._repo())):
            self._scratch = plain_scratch_dir()
            base = self._scratch if not stub_safe(base) else base
        backend_dir = assemble_backend_dir(install, base)
        if not self.options.is_remote:
            self._repository = stub_safe_view(self._repo(), self._scratch or base, "repository")
        command = self._command(install, backend_dir)
        logger.info("Starting %s", " ".join(command))
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=self._environment(install),
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            raise ServerError(
                f"Cannot run {install.binary}: {exc.strerror or exc}. Check that it is a "
                "tritonserver built for this machine (the nvidia-pytriton wheel needs glibc "
                "2.35 or newer)."
            ) from exc
        _running.add(self)

    def _repo(self) -> Path:
        return Path(self.options.repository).resolve()

    def _prepare_workdir(self) -> None:
        if self.options.workdir is not None:
            self.workdir = self.options.workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
            self._own_workdir = True

    def _command(self, install: TritonInstall, backend_dir: Path) -> list[str]:
        # Production's flags; every local difference is listed with its reason in flags.py.
        options = self.options
        repository = options.repository if options.is_remote else self._repository or self._repo()
        overrides: dict[str, str | None] = {
            "--model-control-mode": options.model_control_mode,
            "--http-port": str(self.http_port),
            "--grpc-port": str(self.grpc_port),
            "--metrics-port": str(self.metrics_port),
            "--exit-timeout-secs": str(max(1, int(options.stop_timeout_s) - 1)),
        }
        if not options.strict_model_config:
            overrides["--disable-auto-complete-config"] = None
        additions = [
            f"--backend-directory={backend_dir}",
            f"--http-address={options.address}",
            f"--grpc-address={options.address}",
            f"--metrics-address={options.address}",
            f"--log-verbose={options.log_verbose}",
        ]
        if options.model_control_mode == "poll":
            additions.append(f"--repository-poll-secs={options.repository_poll_s}")
        args = local_args(str(repository), overrides, additions)
        return [str(install.binary), *args, *options.extra_args]

    def _environment(self, install: TritonInstall) -> dict[str, str]:
        env = dict(os.environ)
        # The python backend stub imports numpy and onnxruntime from the first python3
        # on PATH: make that the interpreter running us (the project's virtualenv).
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        libraries = [str(d) for d in install.library_dirs]
        if env.get("LD_LIBRARY_PATH"):
            libraries.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libraries)
        env.update(dict(self.options.env))
        return env

    def _exited(self, *, serving: bool) -> str:
        status = _exit_status(self._process) if self._process is not None else None
        return f"tritonserver exited with status {status} " + (
            "while serving" if serving else "before it was ready"
        )

    def _not_ready(self) -> str:
        return (
            f"tritonserver on {self.http_url} was not ready within "
            f"{self.options.ready_timeout_s:.0f} s"
        )

    def _log_note(self) -> str:
        # A temporary workdir is removed with the failed server: do not point at it.
        return "Last lines of its log" + ("" if self._own_workdir else f" ({self.log_path})")

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _has_exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the server has exited, without reaping it (``Popen.poll`` would reap it).

    Until it is reaped, the kernel keeps its pid, the id of its process group, from being
    handed to another process (waitid(2), WNOWAIT), so killpg reaches only its group.
    """
    return _exit_status(process) is not None


def _exit_status(process: subprocess.Popen[bytes]) -> int | None:
    """The exit status as ``Popen.returncode`` gives it (-N for signal N); None while it runs."""
    if process.returncode is not None:
        return process.returncode
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None if process.poll() is None else process.returncode  # reaped elsewhere
    if info is None:
        return None
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return -info.si_status


def _reap(process: subprocess.Popen[bytes]) -> None:
    # A Ctrl-C that lands inside Popen.poll() between its lock's acquire and its `try`
    # leaves that lock held for good, and Popen.wait() would then block forever (with
    # Ctrl-C held back by our caller). So wait a bounded time, then reap the pid directly.
    try:
        process.wait(timeout=_REAP_TIMEOUT_S)
        return
    except subprocess.TimeoutExpired:
        logger.debug("Reaping tritonserver (pid %d) directly", process.pid)
    try:
        _, status = os.waitpid(process.pid, 0)
    except ChildProcessError:
        return  # reaped already
    process.returncode = os.waitstatus_to_exitcode(status)


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()
