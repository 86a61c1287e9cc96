"""How long `orchestrator validate` takes on a repository of 100 models x 3 versions.

The repository is made by `publish` itself: every version is an export bundle (model.onnx
with a dense layer of --weights-kb of weights, export.json, golden.npz, manifest.json),
every config is generated. Side by side, as the thing the validator replaces: loading
models into the real local Triton (stand-in backend, CPU), one at a time, timed per model.

    .venv/bin/python -m benchmarks.validate_repository [--models 100] [--versions 3]
        [--weights-kb 256] [--repeats 5] [--triton-models 20]

Writes benchmarks/results/validate_repository.json with the machine, versions and command
(``benchmarks.common.record``). The bundles are written by training's own ``write_bundle``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from benchmarks.common import record
from orchestrator import client
from orchestrator.repository.publish import publish
from orchestrator.repository.validation.validate import validate_repository
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from training.bundle import write_bundle


def _bundle(folder: Path, name: str, weights_kb: int, seed: int) -> Path:
    features = max(1, int((weights_kb * 1024 / 4) ** 0.5))
    rng = np.random.default_rng(seed)
    weights = numpy_helper.from_array(rng.normal(size=(features, features)).astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", features])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "d", [x], [y], [weights]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sample = rng.normal(size=(2, features)).astype(np.float32)
    write_bundle(
        folder,
        onnx_bytes=model.SerializeToString(),
        golden_inputs={"x": sample},
        golden_outputs={"y": sample @ numpy_helper.to_array(weights)},
        metadata={"model_name": name, "signature": {}, "metrics": {"acc": 0.5}},
    )
    return folder


def _build(repo: Path, work: Path, models: int, versions: int, weights_kb: int) -> int:
    for m in range(models):
        name = f"model_{m:03d}"
        for v in range(versions):
            publish(_bundle(work / f"{name}_{v}", name, weights_kb, seed=m * 10 + v), repo)
    return sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())


def _triton_load_s(repo: Path, count: int, workdir: Path) -> list[float]:
    names = sorted(p.name for p in repo.iterdir())[:count]
    times = []
    with TritonServer(ServerOptions(repo, workdir=workdir)) as server:
        for name in names:
            started = time.perf_counter()
            state = load_models(server.http_url, repo, [name], cpu_override=True)[0]
            times.append(time.perf_counter() - started)
            assert state.state == "READY", state.reason
            client.unload_model(server.http_url, name)
    return times


def main() -> None:
    """Build the repository, time the validator and Triton loads, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100, help="models in the repository")
    parser.add_argument("--versions", type=int, default=3, help="versions per model")
    parser.add_argument("--weights-kb", type=int, default=256, help="weights per model file")
    parser.add_argument("--repeats", type=int, default=5, help="validate runs (median)")
    parser.add_argument("--triton-models", type=int, default=20, help="models loaded in Triton")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        repo, work = Path(tmp) / "repo", Path(tmp) / "work"
        started = time.perf_counter()
        size_bytes = _build(repo, work, args.models, args.versions, args.weights_kb)
        build_s = time.perf_counter() - started
        runs = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            findings = validate_repository(repo)
            runs.append(time.perf_counter() - started)
            assert findings == [], [str(f) for f in findings[:5]]
        triton = (
            _triton_load_s(repo, args.triton_models, Path(tmp) / "triton")
            if args.triton_models
            else []
        )
    record(
        "validate_repository",
        load_before,
        {
            "repository": {
                "models": args.models,
                "versions_per_model": args.versions,
                "weights_kb_per_model_file": args.weights_kb,
                "total_bytes": size_bytes,
                "publish_all_s": round(build_s, 3),
            },
            "validate_s_median": round(statistics.median(runs), 3),
            "validate_s_all": [round(r, 3) for r in runs],
            "triton_load_s_per_model_median": (
                round(statistics.median(triton), 3) if triton else None
            ),
            "triton_models_loaded": len(triton),
        },
    )


if __name__ == "__main__":
    main()
