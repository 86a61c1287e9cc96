"""golden_probe against a real Triton: it agrees with `smoke`, and reads tolerances from Triton."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import client
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import golden_path, write_golden
from orchestrator.serving.golden_probe import probe
from orchestrator.serving.smoke import smoke
from orchestrator.serving.triton import ServerOptions, TritonInstall, TritonServer, load_models
from tests.support.golden_versions import GOLDEN_X, affine_config, write_affine_version

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_server(
    tritonserver: TritonInstall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TritonServer, Path]]:
    """A server of its own: the probe checks every version a server has loaded."""
    repo = tmp_path_factory.mktemp("probe-repository")
    server = TritonServer(ServerOptions(repo, workdir=tmp_path_factory.mktemp("probe-triton")))
    with server:
        yield server, repo


def _load(server: TritonServer, repo: Path, name: str) -> None:
    states = load_models(server.http_url, repo, [name], cpu_override=True)
    assert {s.state for s in states} == {"READY"}, states


def test_probe_agrees_with_smoke_and_takes_the_models_tolerance_from_triton(
    own_server: tuple[TritonServer, Path],
) -> None:
    server, repo = own_server
    name = "probe_off"
    write_affine_version(repo, name, 1, offset=1.002, golden=False)
    expected = {"y": GOLDEN_X * 2 + 1, "s": GOLDEN_X.sum(axis=1, keepdims=True)}
    write_golden(golden_path(repo / name / "1"), {"x": GOLDEN_X}, expected)
    _load(server, repo, name)
    endpoints = Endpoints(server.http_url, server.grpc_url)

    report = probe(server.http_url, repo, timeout_s=30)
    assert (report.ok, report.checked) == (False, ("probe_off/1",))
    (failure,) = report.failures
    assert failure.startswith("probe_off/1: output 'y'[")
    assert "rtol 0.001, atol 1e-05" in failure
    assert smoke(endpoints, repo, models=[name], protocols=["http"]).ok is False

    (repo / name / "config.pbtxt").write_text(
        affine_config(
            name, extra='parameters { key: "smoke_atol" value { string_value: "0.01" } }\n'
        )
    )
    _load(server, repo, name)  # Triton's config JSON is the loaded config
    relaxed = probe(server.http_url, repo, timeout_s=30)
    assert (relaxed.ok, relaxed.failures) == (True, ())
    assert smoke(endpoints, repo, models=[name], protocols=["http"]).ok is True


def test_a_served_version_without_golden_data_fails_by_name(
    own_server: tuple[TritonServer, Path], tmp_path: Path
) -> None:
    server, repo = own_server
    write_affine_version(repo, "probe_nogolden", 1, golden=False)
    _load(server, repo, "probe_nogolden")
    report = probe(server.http_url, repo, timeout_s=30)
    assert "probe_nogolden/1" in report.checked
    assert [f for f in report.failures if f.startswith("probe_nogolden/1")] == [
        f"probe_nogolden/1: no golden data at {repo / 'probe_nogolden' / '1' / 'golden.npz'} "
        "(No such file or directory)"
    ]


def test_a_release_folder_is_checked_against_a_shared_server(
    own_server: tuple[TritonServer, Path], tmp_path: Path
) -> None:
    server, repo = own_server
    write_affine_version(repo, "probe_shared", 1)
    _load(server, repo, "probe_shared")
    # A model that failed to load keeps the (strict) server not-ready; the release's own
    # models being ready is enough for its smoke.
    write_affine_version(repo, "probe_unloadable", 1, broken=True)
    load_models(server.http_url, repo, ["probe_unloadable"], cpu_override=True)
    assert not client.is_server_ready(server.http_url)
    release = tmp_path / "release"
    shutil.copytree(repo / "probe_shared", release / "probe_shared")
    (release / "probe_ghost" / "1").mkdir(parents=True)

    report = probe(server.http_url, release, timeout_s=30)

    assert report.checked == ("probe_shared/1",)  # not the server's other models
    assert report.failures == (
        f"probe_ghost: in the release but not served by Triton at {server.http_url}",
    )
    shutil.rmtree(release / "probe_ghost")
    assert probe(server.http_url, release, timeout_s=30).ok
