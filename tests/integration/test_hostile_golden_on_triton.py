"""The verbs that read golden files next to a real Triton refuse a header bomb in 4 GB.

A golden.npz of about 1 KB whose input array declares 50000 x 50000 float32 (10 GB if
allocated) reaches ``smoke`` and ``swap`` (the local --repo copy's golden.npz), ``bench``
(--golden) and ``infer`` (--input) only after they have talked to the server, so a real
Triton serves the model. Each verb runs in a child under a 4 GB address-space limit
(tests/test_hostile_verbs.py) and must end with exit 1, the header named, no traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.serving.triton import TritonServer, load_models
from tests.support.golden_versions import write_affine_version
from tests.test_hostile_verbs import SLACK_S, _npy_header_bomb, run_limited

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAME = "hostile_golden"


@pytest.fixture(scope="module")
def served(triton_server: TritonServer, triton_repo: Path) -> TritonServer:
    write_affine_version(triton_repo, NAME, 1)
    write_affine_version(triton_repo, NAME, 2, offset=5.0)
    states = load_models(triton_server.http_url, triton_repo, [NAME], cpu_override=True)
    assert [s.state for s in states] == ["READY"]
    return triton_server


@pytest.mark.parametrize("verb", ["smoke", "swap", "bench", "infer"])
def test_a_golden_header_bomb_is_refused_by_name_under_4gb(
    served: TritonServer, triton_repo: Path, tmp_path: Path, verb: str
) -> None:
    local = tmp_path / "repo"
    shutil.copytree(triton_repo / NAME, local / NAME)
    bomb = _npy_header_bomb()
    for golden in local.glob(f"{NAME}/*/golden.npz"):
        golden.chmod(0o644)
        golden.write_bytes(bomb)
    (tmp_path / "bomb.npz").write_bytes(bomb)
    url = ("--url", served.http_url)
    args = {
        "smoke": ["smoke", *url, "--repo", str(local), "--model", NAME, "--protocol", "http"],
        "swap": ["swap", *url, "--model", NAME, "--to", "2", "--repo", str(local)],
        "bench": ["bench", *url, "--model", NAME, "--golden", str(tmp_path / "bomb.npz")],
        "infer": ["infer", *url, "--model", NAME, "--input", str(tmp_path / "bomb.npz")],
    }[verb]
    done, elapsed = run_limited(args, tmp_path, 120)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "Traceback" not in done.stderr and "MemoryError" not in output, output[-3000:]
    assert "declares shape [50000, 50000]" in output, output[-3000:]
    assert elapsed < 30 + SLACK_S
