"""The startup probe holds its deadline whatever Triton's port or the files do.

A real loopback server that trickles its answer a byte at a time (headers or body), an
answer that never ends, and absurd ``--timeout-s`` values: the probe ends within its
budget plus a little, with one line and no traceback. Resuming across runs is measured
against a real Triton in tests/integration/test_manifests_on_triton.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.serving import golden_probe
from orchestrator.serving.golden_probe.errors import ProbeError
from orchestrator.serving.golden_probe.resume import Resume
from orchestrator.serving.golden_probe.wire import TritonHttp
from tests.support.trickle_server import HEAD, trickle

pytestmark = pytest.mark.timeout(60)

PROBE = Path(golden_probe.__file__).parent


@pytest.fixture(
    params=[(HEAD, 0.2), (HEAD + b"[" * 100000, 0.01), (b"HTTP/1.1 200 OK\r\n", 0.3)],
    ids=["trickled-headers", "trickled-body", "headers-never-end"],
)
def trickling(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from trickle(*request.param)


def test_one_exchange_ends_at_its_deadline_however_slowly_the_server_sends(
    trickling: str,
) -> None:
    http = TritonHttp(trickling, time.monotonic() + 1.5)
    started = time.monotonic()
    with pytest.raises(ProbeError, match="before the deadline|ran out of time"):
        http.request("GET", "/v2/health/ready")
    assert time.monotonic() - started < 2.5


def test_the_probe_command_ends_within_its_budget_against_a_trickling_server(
    trickling: str, tmp_path: Path
) -> None:
    (tmp_path / "alpha" / "1").mkdir(parents=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-I", str(PROBE), "--url", trickling, "--timeout-s", "2"]
        + ["--repository", str(tmp_path), "--progress-file", str(tmp_path / "p.json")],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert time.monotonic() - started < 4.5
    assert done.returncode == 1
    assert done.stderr.startswith("golden probe: FAILED Triton was not ready")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["1e300", "inf", "nan", "-1", "0", "abc", "3601"])
def test_an_absurd_timeout_is_a_usage_error(value: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", str(PROBE), "--timeout-s", value, "--repository", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--timeout-s" in done.stderr
    assert "Traceback" not in done.stderr


def test_progress_survives_runs_and_ignores_a_hostile_progress_file(tmp_path: Path) -> None:
    version = tmp_path / "repo" / "alpha" / "1"
    version.mkdir(parents=True)
    (version / "golden.npz").write_bytes(b"x")
    progress = tmp_path / "state" / "passed.json"
    first = Resume(progress)
    key = first.key("alpha/1", version)
    assert key is not None
    first.add(key)
    assert key in Resume(progress).passed
    # Changed golden data (a new copy after a container restart) is checked again.
    (version / "golden.npz").write_bytes(b"xy")
    assert first.key("alpha/1", version) not in Resume(progress).passed
    for hostile in (b"[" * 100000, b"\xff\xfe", b'{"a": 1}', b"[1e400]"):
        progress.write_bytes(hostile)
        assert Resume(progress).passed <= {"inf"}
    progress.unlink()
    import os

    os.mkfifo(progress)
    assert Resume(progress).passed == set()  # a FIFO is never opened to block
