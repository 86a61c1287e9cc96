"""A real Triton serves a synced release straight from object storage by its id.

Both stores Triton reads: the S3 server (moto) and the GCS server (fake-gcs-server).
Triton 2.51's GCS file system is google-cloud-cpp's client, which talks to
``CLOUD_STORAGE_EMULATOR_ENDPOINT`` instead of storage.googleapis.com when it is set.
The GCS bucket has an underscore: GCS allows it (S3 does not), and so does Triton's GCS
parser, which ``serving_url`` therefore accepts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
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

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Bucket:
    """A new bucket: the store's URL, how to reach it, and where Triton finds a release."""

    store_url: str
    endpoint_url: str | None
    env: dict[str, str]
    triton_root: str  # the store's root as Triton's --model-repository spells it


def _s3(request: pytest.FixtureRequest) -> Bucket:
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    host = server.endpoint_url.removeprefix("http://")
    return Bucket(
        f"s3://{bucket}/prod",
        server.endpoint_url,
        server.credentials_env(),
        f"s3://{host}/{bucket}/prod",  # Triton's S3 URL carries the endpoint
    )


def _gcs(request: pytest.FixtureRequest) -> Bucket:
    server = request.getfixturevalue("gcs_server")
    bucket = f"models_{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    return Bucket(f"gs://{bucket}/prod", None, server.client_env(), f"gs://{bucket}/prod")


@pytest.mark.usefixtures("tritonserver")
@pytest.mark.parametrize("make_bucket", [_s3, _gcs], ids=["s3", "gcs"])
def test_triton_serves_a_release_from_the_store_and_answers_like_onnxruntime(
    make_bucket: Callable[[pytest.FixtureRequest], Bucket],
    release_repo: Path,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    bucket = make_bucket(request)
    store = open_store(bucket.store_url, endpoint_url=bucket.endpoint_url)
    release = build_release(release_repo)
    report = sync_release(release, store)
    served_from = f"{bucket.triton_root}/{release_prefix(release.id)}".rstrip("/")
    assert report.plan.release_url == served_from
    # Configs come from the release itself, as a deploy step would read them.
    configs = stored_configs(store, release.id)

    options = ServerOptions(served_from, workdir=tmp_path / "triton", env=tuple(bucket.env.items()))
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
