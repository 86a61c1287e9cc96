"""A real Triton serves a synced release straight from the GCS server (fake-gcs-server).

Triton 2.51's GCS file system is google-cloud-cpp's client, which talks to
``CLOUD_STORAGE_EMULATOR_ENDPOINT`` instead of storage.googleapis.com when it is set.
The bucket has an underscore: GCS allows it (S3 does not), and so does Triton's GCS
parser, which ``serving_url`` therefore accepts.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from orchestrator import client
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import open_store
from orchestrator.releases.sync import sync_release
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from rehearsal.gcs_server import GcsServer
from rehearsal.release_configs import stored_configs

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("tritonserver")
def test_triton_serves_a_release_from_gcs_and_answers_like_onnxruntime(
    release_repo: Path, gcs_server: GcsServer, tmp_path: Path
) -> None:
    bucket = f"models_{uuid.uuid4().hex[:12]}"
    gcs_server.create_bucket(bucket)
    store = open_store(f"gs://{bucket}/prod")
    release = build_release(release_repo)
    report = sync_release(release, store)
    assert report.plan.release_url == f"gs://{bucket}/prod/releases/{release.id}"
    configs = stored_configs(store, release.id)

    options = ServerOptions(
        report.plan.release_url,
        workdir=tmp_path / "triton",
        env=tuple(gcs_server.client_env().items()),
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
