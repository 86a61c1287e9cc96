"""Shared parts of the benchmark scripts: the model under test, the server, the record.

Every script measures its alternatives side by side, on one local Triton, in one run,
and writes ``benchmarks/results/<name>.json`` with the machine (CPU, cores, load
average before and after), the versions and the exact command.

digits_cnn comes from, in this order: ``--bundle DIR`` (an export bundle), the
repository's ``model_repository/digits_cnn`` (config and newest version), or a fresh
``python -m training digits_cnn`` into a temporary folder. Without a shipped config the
config is the one ``orchestrator publish`` generates by default (max_batch_size 64,
``dynamic_batching { }``, one KIND_GPU instance).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orchestrator.core.golden import golden_path, read_golden
from orchestrator.core.model_config import load_config, parse_config, render_config
from orchestrator.performance.bench import bench
from orchestrator.performance.options import BenchOptions
from orchestrator.performance.report import BenchReport
from orchestrator.repository.layout import version_numbers
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

DIGITS_CONFIG = """name: "{name}"
backend: "onnxruntime"
max_batch_size: 64
input [ {{ name: "input" data_type: TYPE_FP32 dims: [ 1, 8, 8 ] }} ]
output [ {{ name: "probabilities" data_type: TYPE_FP32 dims: [ 10 ] }} ]
instance_group [ {{ kind: KIND_GPU count: 1 }} ]
dynamic_batching {{ }}
"""


@dataclass(frozen=True)
class Model:
    """An ONNX file with its production config text and golden inputs."""

    onnx: Path
    config_text: str
    golden: Path | None
    source: str


def benchmark_parser(
    description: str | None, concurrency: str | None = None
) -> argparse.ArgumentParser:
    """The options every digits_cnn script shares, and ``--concurrency`` when it has levels."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bundle", type=Path, help="digits_cnn export bundle folder.")
    parser.add_argument("--window-s", type=float, default=2.0, help="Measurement window.")
    parser.add_argument("--max-windows", type=int, default=8, help="Windows per level at most.")
    parser.add_argument(
        "--repeats", type=int, default=3, help="Alternating runs per level; medians are kept."
    )
    if concurrency is not None:
        parser.add_argument(
            "--concurrency", type=int_list, default=concurrency, help="Levels, e.g. 1,8,32."
        )
    return parser


def int_list(text: str) -> list[int]:
    """``"1,8,32"`` as ``[1, 8, 32]`` (``--concurrency``, ``--batch-sizes``)."""
    return [int(part) for part in text.split(",")]


def digits_cnn(args: argparse.Namespace, workdir: Path) -> Model:
    """Find or build digits_cnn (see the module docstring)."""
    if args.bundle is not None:
        bundle = Path(args.bundle)
        return Model(bundle / "model.onnx", _shipped_or_default(), golden_path(bundle), str(bundle))
    shipped = ROOT / "model_repository" / "digits_cnn"
    versions = version_numbers(shipped) if shipped.is_dir() else []
    if versions:
        newest = shipped / str(max(versions))
        golden = golden_path(newest)
        return Model(
            newest / "model.onnx",
            (shipped / "config.pbtxt").read_text(),
            golden if golden.is_file() else None,
            str(newest),
        )
    bundle = workdir / "digits_cnn_bundle"
    command = [sys.executable, "-m", "training", "digits_cnn", "--out", str(bundle)]
    print(f"No model_repository/digits_cnn: training it ({' '.join(command)})", file=sys.stderr)
    subprocess.run(command, check=True, cwd=ROOT)
    return Model(bundle / "model.onnx", _shipped_or_default(), golden_path(bundle), "trained now")


def _shipped_or_default() -> str:
    shipped = ROOT / "model_repository" / "digits_cnn" / "config.pbtxt"
    return shipped.read_text() if shipped.is_file() else DIGITS_CONFIG.format(name="digits_cnn")


@dataclass(frozen=True)
class Workspace:
    """digits_cnn and the repository a script serves, in a folder removed afterwards."""

    model: Model
    repo: Path

    def add(
        self, name: str, config_text: str | None = None, onnx: Path | None = None, **changes: Any
    ) -> str:
        """Add the model ``name`` to the repository, a variant of digits_cnn.

        ``onnx`` defaults to digits_cnn's file and ``config_text`` to its config; the
        config is renamed and its top-level fields changed as ``renamed`` does.

        Returns:
            The config text written.
        """
        text = renamed(config_text or self.model.config_text, name, **changes)
        add_model(self.repo, name, onnx or self.model.onnx, text)
        return text

    def golden_rows(self) -> dict[str, NDArray[Any]]:
        """The golden inputs by name (one row of zeros without golden data)."""
        if self.model.golden is None:
            return {"input": np.zeros((1, 1, 8, 8), np.float32)}
        return read_golden(self.model.golden).inputs

    def serve(self) -> contextlib.AbstractContextManager[TritonServer]:
        """A local Triton with every model of the repository loaded."""
        return serving(self.repo)


@contextlib.contextmanager
def digits_workspace(args: argparse.Namespace) -> Iterator[Workspace]:
    """digits_cnn (found or trained), served as ``digits_cnn``; add the variants to compare."""
    with workdir() as tmp:
        workspace = Workspace(digits_cnn(args, tmp), tmp / "repo")
        workspace.add("digits_cnn")
        yield workspace


def renamed(config_text: str, name: str, **changes: Any) -> str:
    """The config under another model name, with top-level fields cleared or set."""
    config = parse_config(config_text)
    config.name = name
    for field_name, value in changes.items():
        if value is None:
            config.ClearField(field_name)
        else:
            setattr(config, field_name, value)
    return render_config(config)


def add_model(repo: Path, name: str, onnx: Path, config_text: str) -> None:
    """Write ``<repo>/<name>/1/model.onnx`` and its config."""
    (repo / name / "1").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, repo / name / "1" / "model.onnx")
    (repo / name / "config.pbtxt").write_text(config_text)
    load_config(repo / name / "config.pbtxt")  # fail early on a bad config


@contextlib.contextmanager
def serving(repo: Path) -> Iterator[TritonServer]:
    """A local Triton with every model of ``repo`` loaded (KIND_GPU run on the CPU)."""
    with TritonServer(ServerOptions(repo)) as server:
        states = load_models(server.http_url, repo)
        failed = [s for s in states if s.state != "READY"]
        if failed:
            raise SystemExit(f"Models failed to load: {failed}")
        yield server


def measure(
    url: str, model: str, concurrency: int, args: argparse.Namespace, **options: Any
) -> dict[str, Any]:
    """One concurrency level with the project's generator (warm-up 1 s), as recorded."""
    report = bench(
        BenchOptions(
            url,
            model,
            concurrency=(concurrency,),
            window_s=args.window_s,
            max_windows=args.max_windows,
            warmup_s=1.0,
            **options,
        ),
        engine="orchestrator",
    )
    return level_summary(report)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (the architecture elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def record(name: str, started_load: tuple[float, float, float], data: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` with machine, versions and command; print it."""
    packages = ("nvidia-pytriton", "onnxruntime", "onnx", "tritonclient", "numpy", "torch")
    versions = {}
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    wrk = shutil.which("wrk")
    if wrk:
        versions["wrk"] = subprocess.run(
            [wrk, "--version"], capture_output=True, text=True, check=False
        ).stdout.split("\n")[0]

    def git(*command: str) -> str:
        return subprocess.run(["git", *command], capture_output=True, text=True, cwd=ROOT).stdout

    # Results written by earlier scripts of the same suite run do not make the code dirty.
    changed = git("status", "--porcelain", "--", ".", ":!benchmarks/results").strip()
    commit = git("rev-parse", "--short", "HEAD").strip() + ("-dirty" if changed else "")
    result = {
        "benchmark": name,
        "command": " ".join(["python", "-m", f"benchmarks.{name}", *sys.argv[1:]]),
        "git_commit": commit,
        "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1_5_15_before": [round(x, 2) for x in started_load],
            "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": versions,
        **data,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path


def level_summary(report: BenchReport) -> dict[str, Any]:
    """The one level of a report, as recorded (or the error)."""
    if not report.levels:
        return {"error": report.error}
    level = report.levels[0].as_dict()
    keep = (
        "concurrency",
        "throughput_per_s",
        "p50_ms",
        "p99_ms",
        "failures",
        "server_queue_ms",
        "server_compute_ms",
        "server_avg_batch",
        "stable",
        "windows",
        "client_cpu_fraction",
    )
    return {key: level[key] for key in keep}


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A temporary folder for repositories and bundles."""
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-") as tmp:
        yield Path(tmp)


MEDIAN_KEYS = ("throughput_per_s", "p50_ms", "p99_ms", "server_queue_ms", "server_compute_ms")


def alternate(
    repeats: int, contestants: Mapping[str, Callable[[], dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Run every contestant ``repeats`` times, rotating who goes first; the runs by name.

    Rotating the order makes drift on the machine (other jobs, thermal) hit all alike.
    """
    keys = list(contestants)
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    for repeat in range(repeats):
        shift = repeat % len(keys)
        for key in keys[shift:] + keys[:shift]:
            runs[key].append(contestants[key]())
    return runs


def side_by_side(
    url: str,
    models: dict[str, str],
    concurrency: int,
    args: argparse.Namespace,
    **options: Any,
) -> dict[str, dict[str, Any]]:
    """Measure each model ``args.repeats`` times at one level, rotating who goes first.

    Returns, per key of ``models``, the medians of ``MEDIAN_KEYS`` over the runs, how many
    runs were stable, the failures, and every run.
    """

    def contestant(model: str) -> Callable[[], dict[str, Any]]:
        return lambda: measure(url, model, concurrency, args, **options)

    runs = alternate(args.repeats, {key: contestant(model) for key, model in models.items()})
    result: dict[str, dict[str, Any]] = {}
    for key, key_runs in runs.items():
        good = [run for run in key_runs if "error" not in run]
        summary: dict[str, Any] = {
            name: round(float(statistics.median(run[name] for run in good)), 4) if good else None
            for name in MEDIAN_KEYS
        }
        summary["server_avg_batch"] = (
            round(float(statistics.median(run["server_avg_batch"] for run in good)), 2)
            if good
            else None
        )
        summary["stable_runs"] = f"{sum(1 for run in good if run['stable'])}/{len(key_runs)}"
        summary["failures"] = sum(run.get("failures", 0) for run in good)
        summary["runs"] = key_runs
        if not good:
            summary["error"] = key_runs[-1].get("error", "no run finished")
        result[key] = summary
    return result


def compare_levels(
    workspace: Workspace, models: dict[str, str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Serve the workspace and compare ``models`` side by side at every ``--concurrency``.

    Each row is ``{"concurrency": c, <key>: side_by_side summary, ...}``, printed as it
    is measured; requests carry golden rows.
    """
    rows = []
    with workspace.serve() as server:
        for level in args.concurrency:
            row: dict[str, Any] = {"concurrency": level}
            row.update(
                side_by_side(server.http_url, models, level, args, golden=workspace.model.golden)
            )
            rows.append(row)
            print(row, flush=True)
    return rows
