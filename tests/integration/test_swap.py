"""Zero-downtime version swaps on the real Triton, under constant load."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator import client
from orchestrator.cli import cli
from orchestrator.client import Transport
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import golden_path, write_golden
from orchestrator.errors import (
    ModelControlDisabledError,
    RepositoryError,
    ServerError,
    SmokeTestError,
)
from orchestrator.performance.traffic import Traffic
from orchestrator.serving.swap import loaded_versions, swap
from orchestrator.serving.triton import ServerOptions, TritonServer, free_port, load_models
from tests.support.golden_versions import GOLDEN_X, write_affine_version

pytestmark = pytest.mark.integration

REQUESTS = 10_000
CONCURRENCY = 8
ONES = {"x": np.ones((1, 4), dtype=np.float32)}


def _endpoints(server: TritonServer) -> Endpoints:
    return Endpoints(server.http_url, server.grpc_url)


def _serve_v1(server: TritonServer, repo: Path, name: str) -> None:
    write_affine_version(repo, name, 1)
    states = load_models(server.http_url, repo, [name], cpu_override=True)
    assert [(s.version, s.state) for s in states] == [("1", "READY")]


class Answers:
    """Counts which version answered (y = 2x + version for x = 1); anything else is wrong."""

    def __init__(self) -> None:
        self.by_version: Counter[int] = Counter()

    def __call__(self, outputs: dict[str, Any]) -> str | None:
        y = outputs["y"]
        version = int(round(float(y[0, 0]))) - 2
        if version not in (1, 2) or not np.all(y == 2 + version):
            return f"unexpected answer {y.tolist()}"
        self.by_version[version] += 1
        return None


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_good_swap_under_load_fails_no_request_and_moves_traffic(
    triton_server: TritonServer, triton_repo: Path, protocol: str
) -> None:
    name = f"swap_good_{protocol}"
    _serve_v1(triton_server, triton_repo, name)
    write_affine_version(triton_repo, name, 2, offset=2.0)
    answers = Answers()
    url = triton_server.grpc_url if protocol == "grpc" else triton_server.http_url
    with Traffic(
        url, name, ONES, protocol=cast(Transport, protocol), concurrency=CONCURRENCY, check=answers
    ) as load:
        assert load.wait_for(1000, timeout_s=60)
        report = swap(_endpoints(triton_server), triton_repo, name, 2)
        traffic = load.stop(min_requests=REQUESTS, timeout_s=120)

    assert traffic.failed == 0, traffic.errors
    assert traffic.sent >= REQUESTS
    # Both versions answered unpinned traffic: the swap happened under load.
    assert answers.by_version[1] >= 1000 and answers.by_version[2] > 0, answers.by_version
    assert (report.from_versions, report.to_version) == ((1,), 2)
    assert report.smoke is not None and report.smoke.ok
    assert loaded_versions(triton_server.http_url, name) == (2,)
    assert client.infer(triton_server.http_url, name, ONES)["y"].tolist() == [[4.0] * 4]


def test_swap_to_a_version_that_fails_to_load_fails_no_request_and_keeps_the_old(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "swap_broken"
    _serve_v1(triton_server, triton_repo, name)
    write_affine_version(triton_repo, name, 2, broken=True)
    answers = Answers()
    with Traffic(
        triton_server.grpc_url, name, ONES, concurrency=CONCURRENCY, check=answers
    ) as load:
        assert load.wait_for(1000, timeout_s=60)
        with pytest.raises(ServerError) as info:
            swap(_endpoints(triton_server), triton_repo, name, 2)
        traffic = load.stop(min_requests=REQUESTS, timeout_s=120)

    assert traffic.failed == 0, traffic.errors
    assert traffic.sent >= REQUESTS
    assert answers.by_version == Counter({1: traffic.sent})
    message = str(info.value)
    assert message.startswith(
        f"Swap of '{name}' to version 2 failed and was rolled back (version 1 still serving): "
    )
    assert "unexpected inference input 'x', allowed inputs are: pixels" in message
    assert loaded_versions(triton_server.http_url, name) == (1,)


def test_swap_to_a_version_with_wrong_answers_is_rolled_back(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "swap_wrong"
    _serve_v1(triton_server, triton_repo, name)
    folder = write_affine_version(triton_repo, name, 2, offset=1.5, golden=False)
    golden = {"y": GOLDEN_X * 2 + 1, "s": GOLDEN_X.sum(axis=1, keepdims=True)}
    write_golden(golden_path(folder), {"x": GOLDEN_X}, golden)

    with pytest.raises(SmokeTestError, match=r"rolled back \(version 1 still serving\).*'y'\["):
        swap(_endpoints(triton_server), triton_repo, name, 2)
    assert loaded_versions(triton_server.http_url, name) == (1,)
    index = {
        r.version: r.state
        for r in client.repository_index(triton_server.http_url)
        if r.name == name
    }
    assert index == {"1": "READY", "2": "UNAVAILABLE"}


@pytest.mark.parametrize(
    ("interrupt_at", "expected"),
    [(1, (1,)), (2, (1,)), (3, (2,))],
    ids=["before-loading", "after-loading-beside", "during-the-final-reload"],
)
def test_ctrl_c_leaves_the_old_or_the_new_version_serving(
    triton_server: TritonServer, triton_repo: Path, interrupt_at: int, expected: tuple[int, ...]
) -> None:
    name = f"swap_interrupt_{interrupt_at}"
    _serve_v1(triton_server, triton_repo, name)
    write_affine_version(triton_repo, name, 2)
    steps: list[str] = []

    def on_step(line: str) -> None:
        steps.append(line)
        if len(steps) == interrupt_at:
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, in the middle of the swap

    with pytest.raises(KeyboardInterrupt):
        swap(_endpoints(triton_server), triton_repo, name, 2, on_step=on_step)
    assert loaded_versions(triton_server.http_url, name) == expected
    assert client.infer(triton_server.http_url, name, ONES)["y"].tolist() == [[3.0] * 4]


def test_cli_swap_reports_json_and_refuses_a_missing_version(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "swap_cli"
    _serve_v1(triton_server, triton_repo, name)
    write_affine_version(triton_repo, name, 2)
    base = ["swap", "--url", triton_server.http_url, "--grpc-url", triton_server.grpc_url]
    base += ["--repo", str(triton_repo), "--model", name]

    result = CliRunner().invoke(cli, [*base, "--to", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["from_versions"], body["to_version"], body["changed"]) == ([1], 2, True)
    assert body["smoke"]["ok"] is True
    assert f"{name}: swapped version 1 -> version 2 in " in result.stderr

    result = CliRunner().invoke(cli, [*base, "--to", "2"])
    assert result.exit_code == 0
    assert "version 2 is already the only one served; nothing to do" in result.stderr

    result = CliRunner().invoke(cli, [*base, "--to", "7"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Model '{name}' has no version 7 in {triton_repo} (it has 1, 2). "
        "Publish it first, or pick one of those.\n"
    )
    with pytest.raises(RepositoryError, match="has no config.pbtxt"):
        swap(_endpoints(triton_server), triton_repo, "no_such_model", 1)


def test_swap_with_an_unreachable_grpc_endpoint_changes_nothing(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "swap_no_grpc"
    _serve_v1(triton_server, triton_repo, name)
    write_affine_version(triton_repo, name, 2)
    endpoints = Endpoints(triton_server.http_url, f"127.0.0.1:{free_port()}")
    with pytest.raises(ServerError, match="No Triton answers GRPC at 127.0.0.1:.*--grpc-url"):
        swap(endpoints, triton_repo, name, 2)
    index = {
        r.version: r.state
        for r in client.repository_index(triton_server.http_url)
        if r.name == name
    }
    assert index == {"1": "READY"}


def test_a_server_without_explicit_model_control_refuses_a_swap_by_type(tmp_path: Path) -> None:
    # A server that loads its repository once ("none") refuses the load API; the client
    # raises the typed error, and the swap changes nothing (there is nothing to restore).
    write_affine_version(tmp_path / "local", "swap_none_mode", 1)
    (tmp_path / "served").mkdir()
    with TritonServer(ServerOptions(tmp_path / "served", model_control_mode="none")) as server:
        with pytest.raises(ModelControlDisabledError, match="--model-control-mode=explicit"):
            swap(_endpoints(server), tmp_path / "local", "swap_none_mode", 1)
        with pytest.raises(ModelControlDisabledError, match="could not unload model 'any'"):
            client.unload_model(server.http_url, "any")
        assert client.repository_index(server.http_url) == []


def test_traffic_raises_what_its_check_raised_instead_of_counting_it(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "traffic_broken_check"
    _serve_v1(triton_server, triton_repo, name)

    def broken(outputs: dict[str, Any]) -> str | None:
        raise KeyError("no output named z")

    load = Traffic(triton_server.grpc_url, name, ONES, concurrency=2, check=broken).start()
    assert not load.wait_for(1, timeout_s=1.0)  # each sender stopped at its first answer
    with pytest.raises(KeyError, match="no output named z"):
        load.stop()
