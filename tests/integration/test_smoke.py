"""Smoke tests against the real Triton: golden data over HTTP and gRPC, metadata vs config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator import client
from orchestrator.cli import cli
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import golden_path, write_golden
from orchestrator.errors import ServerError, SmokeTestError
from orchestrator.serving.smoke import smoke
from orchestrator.serving.triton import TritonServer, free_port, load_models
from tests.support.golden_versions import GOLDEN_X, affine_config, write_affine_version

pytestmark = pytest.mark.integration


def _endpoints(server: TritonServer) -> Endpoints:
    return Endpoints(server.http_url, server.grpc_url)


def _serve(server: TritonServer, repo: Path, name: str) -> None:
    states = load_models(server.http_url, repo, [name], cpu_override=True)
    assert {s.state for s in states} == {"READY"}, states


def _off_by(repo: Path, name: str, version: int, delta: float) -> None:
    """Golden outputs of y = 2x + 1 while the served model adds 1 + delta."""
    write_affine_version(repo, name, version, offset=1.0 + delta, golden=False)
    expected = {"y": GOLDEN_X * 2 + 1, "s": GOLDEN_X.sum(axis=1, keepdims=True)}
    write_golden(golden_path(repo / name / str(version)), {"x": GOLDEN_X}, expected)


def test_every_served_version_passes_over_both_protocols_in_batches(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "smoke_ok"
    # max_batch_size 2 < 5 golden samples: the inputs go in chunks of 2, 2 and 1.
    config = affine_config(name, max_batch_size=2, extra="version_policy { all {} }\n")
    write_affine_version(triton_repo, name, 1, config=config)
    write_affine_version(triton_repo, name, 2)
    _serve(triton_server, triton_repo, name)
    # A model that failed to load makes Triton (strict readiness) report not-ready;
    # smoke must still check the models that serve.
    write_affine_version(triton_repo, "smoke_unloadable", 1, broken=True)
    load_models(triton_server.http_url, triton_repo, ["smoke_unloadable"], cpu_override=True)
    assert not client.is_server_ready(triton_server.http_url)

    report = smoke(_endpoints(triton_server), triton_repo, models=[name])

    assert [(r.version, r.protocol, r.ok) for r in report.results] == [
        ("1", "http", True),
        ("1", "grpc", True),
        ("2", "http", True),
        ("2", "grpc", True),
    ]
    assert all(r.max_abs_error is not None and r.max_abs_error < 1e-6 for r in report.results)
    assert all(r.latency_ms is not None and r.latency_ms > 0 for r in report.results)
    report.raise_for_failures()


def test_wrong_answers_fail_with_the_worst_element_and_a_model_tolerance_admits_them(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "smoke_off"
    _off_by(triton_repo, name, 1, delta=0.002)
    _serve(triton_server, triton_repo, name)
    endpoints = _endpoints(triton_server)

    report = smoke(endpoints, triton_repo, models=[name], protocols=["grpc"])
    (result,) = report.failures
    assert result.worst is not None and result.worst.output == "y"
    assert result.worst.abs_error == pytest.approx(0.002, rel=1e-2)
    y = GOLDEN_X * 2 + 1
    assert result.worst.index == np.unravel_index(np.argmin(np.abs(y)), y.shape)
    with pytest.raises(SmokeTestError, match=r"1 of 1 smoke check\(s\) failed. Worst: smoke_off"):
        report.raise_for_failures()

    # The model's own tolerance, in its config, is what smoke uses from then on.
    (triton_repo / name / "config.pbtxt").write_text(
        affine_config(
            name, extra='parameters { key: "smoke_atol" value { string_value: "0.01" } }\n'
        )
    )
    relaxed = smoke(endpoints, triton_repo, models=[name], protocols=["grpc"])
    assert relaxed.ok and relaxed.tolerances[name].atol == 0.01


def test_missing_and_misshapen_golden_data_are_named(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "smoke_golden"
    config = affine_config(name, extra="version_policy { all {} }\n")
    write_affine_version(triton_repo, name, 1, config=config, golden=False)
    folder = write_affine_version(triton_repo, name, 2)
    write_golden(golden_path(folder), {"x": np.zeros((2, 3), np.float32)}, {"y": np.zeros(2)})
    _serve(triton_server, triton_repo, name)

    report = smoke(_endpoints(triton_server), triton_repo, models=[name], protocols=["http"])
    by_version = {r.version: r for r in report.results}
    assert "No golden data at" in by_version["1"].problems[0]
    assert by_version["2"].problems == (
        "golden.npz inputs: 'x' has shape [2, 3], the model expects [-1, 4] (-1: any size)",
        "golden.npz outputs lack 's'",
        "golden.npz outputs: 'y' has dtype float64, the model expects FP32 (float32)",
        "golden.npz outputs: 'y' has shape [2], the model expects [-1, 4] (-1: any size)",
    )


def test_served_metadata_that_differs_from_the_repository_config_fails(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "smoke_drift"
    write_affine_version(triton_repo, name, 1)
    _serve(triton_server, triton_repo, name)
    # The repository moved on after the server loaded the model.
    drifted = affine_config(name).replace(
        'name: "s" data_type: TYPE_FP32', 'name: "s" data_type: TYPE_FP64'
    )
    (triton_repo / name / "config.pbtxt").write_text(drifted)

    report = smoke(_endpoints(triton_server), triton_repo, models=[name])
    assert [r.problems for r in report.results] == [
        (
            "metadata differs from smoke_drift/config.pbtxt: output 's': config says "
            "s FP64 [-1, 1], server says s FP32 [-1, 1]",
            "golden.npz outputs: 's' has dtype float32, the model expects FP64 (float64)",
        )
    ] * 2


def test_cli_prints_a_table_and_json_and_exits_1_with_the_worst_mismatch(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    good, bad = "smoke_cli_good", "smoke_cli_bad"
    write_affine_version(triton_repo, good, 1)
    _off_by(triton_repo, bad, 1, delta=0.5)
    _serve(triton_server, triton_repo, good)
    _serve(triton_server, triton_repo, bad)
    url = ["--url", triton_server.http_url, "--grpc-url", triton_server.grpc_url]
    args = ["smoke", *url, "--repo", str(triton_repo), "--model", good]

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if good in line]
    assert len(lines) == 2 and all(line.rstrip("│ ").endswith("ok") for line in lines)
    assert result.stderr == ""

    result = CliRunner().invoke(cli, [*args, "--model", bad, "--format", "json"])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert [(r["model"], r["protocol"], r["ok"]) for r in body["results"]] == [
        (bad, "http", False),
        (bad, "grpc", False),
        (good, "http", True),
        (good, "grpc", True),
    ]
    assert result.stderr.startswith(
        f"Error: 2 of 4 smoke check(s) failed. Worst: {bad} version 1 over "
    )
    assert "output 'y'[" in result.stderr and "(abs error 0.5 > allowed" in result.stderr


def test_cli_unknown_model_and_unreachable_server_are_one_message(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "smoke",
            "--url",
            triton_server.http_url,
            "--grpc-url",
            triton_server.grpc_url,
            "--repo",
            str(triton_repo),
            "--model",
            "nope",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: 1 of 1 smoke check(s) failed. Worst: nope version - over -: model 'nope' is not "
        f"served (READY) at {triton_server.http_url}"
    )

    port = free_port()
    result = CliRunner().invoke(cli, ["smoke", "--url", f"127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: No Triton answers HTTP at 127.0.0.1:{port}. Check that the server runs "
        "and that the URL is its HTTP HOST:PORT.\n"
    )
    with pytest.raises(ServerError, match="No Triton answers GRPC"):
        smoke(Endpoints(triton_server.http_url, f"127.0.0.1:{port}"), triton_repo)
