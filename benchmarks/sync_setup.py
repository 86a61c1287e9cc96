"""The setting of ``sync_vs_aws_s3_sync``: its repository, the S3 server and buckets.

``build_repository`` writes a published repository of many small files and a few large
ones; ``s3_server`` runs moto's ``ThreadedMotoServer`` on loopback in this process and
counts the requests it logs; ``new_bucket`` and ``drop_bucket`` make and remove buckets.
"""

from __future__ import annotations

import logging
import random
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from benchmarks.common import ROOT
from orchestrator.core.model_config import load_config, render_config
from orchestrator.repository.layout import version_manifest, write_manifest

MODELS = 5
VERSIONS = 10
SHARDS = 16
SHIPPED = ROOT / "model_repository" / "cancer_mlp"


def build_repository(root: Path, large_files: int, large_mib: int, seed: int = 0) -> Path:
    """A published repository of small files plus ``large_files`` of ``large_mib`` MiB.

    5 models x 10 versions (model.onnx, weights.bin, 16 shards, notes.txt, manifest.json);
    the large files sit in the last versions of the first models.
    """
    rng = random.Random(seed)
    for m in range(MODELS):
        name = f"model_{m}"
        model_dir = root / name
        model_dir.mkdir(parents=True)
        config = load_config(SHIPPED / "config.pbtxt")
        config.name = name
        config.version_policy.all.SetInParent()
        (model_dir / "config.pbtxt").write_text(render_config(config))
        for v in range(1, VERSIONS + 1):
            folder = model_dir / str(v)
            folder.mkdir()
            shutil.copyfile(SHIPPED / "1" / "model.onnx", folder / "model.onnx")
            (folder / "weights.bin").write_bytes(rng.randbytes(rng.randint(100, 400) * 1024))
            (folder / "shards").mkdir()
            for shard in range(SHARDS):
                data = rng.randbytes(rng.randint(8, 64) * 1024)
                (folder / "shards" / f"part-{shard:02d}.bin").write_bytes(data)
            if v == VERSIONS and m < large_files:
                with (folder / "embeddings.bin").open("wb") as handle:
                    for _ in range(large_mib):
                        handle.write(rng.randbytes(1 << 20))
            (folder / "notes.txt").write_text(f"{name} version {v}\n")
            write_manifest(folder, version_manifest(folder))
    return root


def repository_files(root: Path) -> list[Path]:
    """Every file of the repository."""
    return sorted(p for p in root.rglob("*") if p.is_file())


class Counter(logging.Handler):
    """Counts the requests the S3 server logs (werkzeug's one line each) between two marks."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.mark = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Keep a request line."""
        line = record.getMessage()
        if '" ' in line and "HTTP/1.1" in line:
            self.lines.append(line)

    def since_mark(self) -> tuple[int, int]:
        """(requests, PUT requests) logged since the last mark; then mark again."""
        lines = self.lines[self.mark :]
        requests = [line for line in lines if "/moto-api/" not in line]
        puts = [line for line in requests if '"PUT ' in line]
        self.mark += len(lines)
        return len(requests), len(puts)


@dataclass(frozen=True)
class S3Server:
    """The running server's endpoint and the request counter on its log."""

    endpoint_url: str
    counter: Counter


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """An S3 server (moto) on a free loopback port, in this process, counting requests."""
    counter = Counter()
    requests_log = logging.getLogger("werkzeug")
    requests_log.setLevel(logging.INFO)
    requests_log.addHandler(counter)
    requests_log.propagate = False
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}", counter)
    finally:
        server.stop()
        requests_log.removeHandler(counter)


def _client(server: S3Server, env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def new_bucket(server: S3Server, env: dict[str, str]) -> str:
    """Create an empty bucket."""
    name = f"bench-{uuid.uuid4().hex[:12]}"
    _client(server, env).create_bucket(Bucket=name)
    return name


def drop_bucket(server: S3Server, env: dict[str, str], url: str) -> None:
    """Delete a bucket and what it holds (moto keeps it in memory and temp files)."""
    client = _client(server, env)
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


def repository_size(root: Path) -> int:
    """Bytes in every file of the repository."""
    return sum(p.stat().st_size for p in repository_files(root))
