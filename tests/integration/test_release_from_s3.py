"""A real Triton serves a synced release straight from the S3 server (moto) by its id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from orchestrator import client
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import open_store
from orchestrator.releases.sync import sync_release
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from rehearsal.release_configs import stored_configs
from rehearsal.s3_server import S3Server

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("tritonserver")
def test_triton_serves_a_release_from_s3_and_answers_like_onnxruntime(
    release_repo: Path, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    store = open_store(f"s3://{s3_bucket}/prod", endpoint_url=s3_server.endpoint_url)
    release = build_release(release_repo)
    sync_release(release, store)
    prefix = release_prefix(release.id)
    # Configs come from the release itself, as a deploy step would read them.
    configs = stored_configs(store, release.id)

    host = s3_server.endpoint_url.removeprefix("http://")
    options = ServerOptions(
        f"s3://{host}/{s3_bucket}/prod/{prefix}".rstrip("/"),
        workdir=tmp_path / "triton",
        env=tuple(s3_server.credentials_env().items()),
    )
    with TritonServer(options) as server:
        states = load_models(
            server.http_url, None, ["alpha", "beta"], cpu_override=True, configs=configs
        )
        assert [(s.name, s.version, s.state) for s in states] == [
            ("alpha", "2", "READY"),
            ("beta", "1", "READY"),
        ]
        batch = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
        session = ort.InferenceSession(str(release_repo / "alpha" / "2" / "model.onnx"))
        expected_y, expected_s = session.run(["y", "s"], {"x": batch})
        for name in ("alpha", "beta"):
            served = client.infer(server.http_url, name, {"x": batch})
            np.testing.assert_array_equal(served["y"], expected_y)
            np.testing.assert_array_equal(served["s"], expected_s)
