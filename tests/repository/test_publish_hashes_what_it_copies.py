"""Publish stores exactly what export.json describes, even while the bundle is rewritten.

A real writer thread flips the bundle's golden.npz between two valid files of the same
size (one is what export.json lists) while publish runs again and again. Every publish
either stores a version whose files hash to export.json's digests, or refuses with
"changed while it was published" and leaves nothing behind: never a stored version that
disagrees with its export.json (the old code stored 9 of 14 so under a writer).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from orchestrator.errors import ConfigError
from orchestrator.repository.publish import publish
from tests.support.onnx_models import affine_model
from training.bundle import write_bundle

pytestmark = pytest.mark.timeout(120)


def _golden_bytes(tmp_path: Path, name: str, value: float) -> bytes:
    x = np.full((2, 1 << 16), value, dtype=np.float32)  # 512 KiB of input
    folder = tmp_path / name
    write_bundle(
        folder,
        onnx_bytes=affine_model(1 << 16).SerializeToString(),
        golden_inputs={"x": x},
        golden_outputs={"y": x * 2 + 1},
        metadata={"model_name": "wide"},
    )
    return (folder / "golden.npz").read_bytes()


def test_a_bundle_rewritten_during_publish_is_never_stored_unlike_its_export_json(
    tmp_path: Path,
) -> None:
    listed = _golden_bytes(tmp_path, "a", 1.0)
    other = _golden_bytes(tmp_path, "b", 3.0)
    assert len(listed) == len(other) and listed != other
    bundle = tmp_path / "a"
    export = json.loads((bundle / "export.json").read_text())
    stop = threading.Event()

    def writer() -> None:
        flip = False
        while not stop.is_set():
            with (bundle / "golden.npz").open("r+b") as handle:
                handle.write(other if flip else listed)
            flip = not flip

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    outcomes = []
    try:
        for _ in range(14):
            try:
                result = publish(bundle, tmp_path / "repo", new_version=True)
            except ConfigError as exc:
                # Refused either by the digest check of the copied bytes ("changed"), or,
                # when the copy caught the writer mid-file, by the golden reader (a torn
                # zip: "Bad CRC-32"): nothing is stored either way.
                message = str(exc)
                assert "changed" in message or "Cannot read golden data" in message, exc
                outcomes.append("refused")
                continue
            outcomes.append("stored")
            for name, digest in export["files"].items():
                stored = (result.path / name).read_bytes()
                assert hashlib.sha256(stored).hexdigest() == digest["sha256"], name
    finally:
        stop.set()
        thread.join()
    assert "refused" in outcomes, outcomes  # the writer did race the copies
    staging = [p for p in (tmp_path / "repo").rglob(".staging*")]
    assert staging == []
