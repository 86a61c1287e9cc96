"""The end-to-end demo: train, publish, validate, serve, smoke-test, classify, swap under load.

Everything happens in a temporary workspace next to a copy of the shipped repository, on
a real local Triton, with the project's own library calls (the same ones the commands
make). Progress goes to ``say``; the result is a ``DemoReport`` with a short summary.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orchestrator import client
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import GOLDEN_FILENAME
from orchestrator.core.model_config import CONFIG_FILENAME, load_config
from orchestrator.errors import RepositoryError, SmokeTestError
from orchestrator.performance.traffic import Traffic, TrafficReport
from orchestrator.repository.layout import (
    model_names,
    served_versions,
    version_dir,
    version_numbers,
)
from orchestrator.serving.smoke import SmokeReport, smoke
from orchestrator.serving.swap import SwapReport, serve_versions, swap
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models

__all__ = ["DemoReport", "run_demo"]

logger = logging.getLogger(__name__)

DEMO_MODEL = "digits_cnn"
_BUNDLE_FILES = ("model.onnx", "export.json", GOLDEN_FILENAME)
_TRAFFIC_CONCURRENCY = 8
_TRAFFIC_REQUESTS_BEFORE = 500
_TRAFFIC_REQUESTS_MIN = 3000
_TRAFFIC_TIMEOUT_S = 60.0
# Another seed than the shipped version's (0), so the new version is a different model.
DEMO_SEED = 1


@dataclass(frozen=True)
class Accuracy:
    """Held-out accuracy of one served version, beside the one measured in training."""

    version: int
    served: float
    in_process: float | None
    samples: int

    def __str__(self) -> str:
        in_process = "unknown" if self.in_process is None else f"{self.in_process:.2%}"
        return (
            f"version {self.version}: served {self.served:.2%} vs in-process {in_process} "
            f"(PyTorch, at training) on {self.samples} held-out digits"
        )


@dataclass(frozen=True)
class DemoReport:
    """What the demo did and measured."""

    model: str
    trained: bool
    train_s: float
    new_version: int
    publish_s: float
    findings: int
    startup_s: float
    smoke: SmokeReport
    accuracy_before: Accuracy | None
    accuracy_after: Accuracy | None
    swap: SwapReport
    traffic: TrafficReport
    wall_s: float

    @property
    def publish_to_served_s(self) -> float:
        """Publishing plus swapping: from the bundle to the new version serving alone."""
        return self.publish_s + self.swap.total_s

    def summary(self) -> str:
        """A few lines for the end of the demo."""
        source = "trained" if self.trained else "reused the shipped version (no torch)"
        smoke_errors = [r.max_abs_error for r in self.smoke.results if r.max_abs_error is not None]
        lines = [
            f"model        {self.model}: {source} in {self.train_s:.1f} s",
            f"published    version {self.new_version} in {self.publish_s * 1000:.0f} ms; "
            f"validation: {self.findings} finding(s)",
            f"served       Triton ready in {self.startup_s:.1f} s",
            f"smoke        {len(self.smoke.results)} checks over HTTP and gRPC passed, max abs "
            f"error {max(smoke_errors, default=0.0):.2g}",
        ]
        for accuracy in (self.accuracy_before, self.accuracy_after):
            if accuracy is not None:
                lines.append(f"accuracy     {accuracy}")
        before = ", ".join(map(str, self.swap.from_versions)) or "none"
        lines += [
            f"swap         version {before} -> {self.swap.to_version} under load "
            f"(concurrency {_TRAFFIC_CONCURRENCY}, no version pinned): {self.traffic.sent} "
            f"requests sent, {self.traffic.failed} failed",
            f"rollout      publish to served alone in {self.publish_to_served_s:.1f} s "
            f"(publish {self.publish_s * 1000:.0f} ms + swap {self.swap.total_s:.1f} s)",
            f"wall time    {self.wall_s:.1f} s",
        ]
        return "\n".join(lines)


def run_demo(
    shipped: Path = Path("model_repository"),
    *,
    workdir: Path | None = None,
    keep: bool = False,
    say: Callable[[str], None] | None = None,
) -> DemoReport:
    """Run the whole path on this machine and report what happened.

    Args:
        shipped: the repository to start from (copied; never changed).
        workdir: where the workspace goes (a temporary folder when None).
        keep: keep the workspace afterwards (it is removed otherwise).
        say: receives one progress line per step.

    Raises:
        OrchestratorError: any step failed; the message names the step's problem.

    Example:
        >>> print(run_demo(Path("model_repository")).summary())  # doctest: +SKIP
    """
    say = say or (lambda line: logger.info("%s", line))
    started = time.monotonic()
    with _workspace(workdir, keep) as workspace:
        say(f"Workspace {workspace}")
        repo = _copy_repository(shipped, workspace / "model_repository")
        old_versions = served_versions(
            load_config(repo / DEMO_MODEL / CONFIG_FILENAME), version_numbers(repo / DEMO_MODEL)
        )
        bundle, trained, train_s = _bundle(repo, workspace / "exports" / DEMO_MODEL, say)

        say(f"Publishing {bundle} into {repo}")
        publish_started = time.monotonic()
        from orchestrator.repository.publish import publish

        # A new version even when the bundle equals a shipped one (no torch, or the same
        # seed): the demo is about rolling out a version, not about publishing idempotently.
        published = publish(bundle, repo, DEMO_MODEL, new_version=True)
        publish_s = time.monotonic() - publish_started
        say(f"Published {DEMO_MODEL} version {published.version} in {publish_s * 1000:.0f} ms")

        from orchestrator.repository.validation.validate import validate_repository

        findings = validate_repository(repo)
        errors = [f for f in findings if f.is_error]
        if errors:
            raise RepositoryError(
                f"Validation found {len(errors)} error(s) in {repo}: "
                + "; ".join(str(f) for f in errors)
            )
        say(f"Validated {repo}: {len(findings)} finding(s)")

        say("Starting Triton (explicit model control)")
        options = ServerOptions(repo, workdir=workspace / "triton")
        with TritonServer(options) as server:
            endpoints = Endpoints(server.http_url, server.grpc_url)
            _load_before(server.http_url, repo, old_versions, say)
            say("Smoke-testing every served version over HTTP and gRPC")
            report = smoke(endpoints, repo)
            report.raise_for_failures()
            say(f"Smoke: {len(report.results)} checks passed")
            held_out = _held_out_digits(say)
            before = _accuracy(endpoints, repo, old_versions[-1], held_out, say)
            swap_report, traffic = _swap_under_load(
                endpoints, repo, published.version, held_out, say
            )
            after = _accuracy(endpoints, repo, published.version, held_out, say)
            startup_s = server.startup_s
        say("Triton stopped")
    return DemoReport(
        model=DEMO_MODEL,
        trained=trained,
        train_s=train_s,
        new_version=published.version,
        publish_s=publish_s,
        findings=len(findings),
        startup_s=startup_s,
        smoke=report,
        accuracy_before=before,
        accuracy_after=after,
        swap=swap_report,
        traffic=traffic,
        wall_s=time.monotonic() - started,
    )


@contextmanager
def _workspace(workdir: Path | None, keep: bool) -> Iterator[Path]:
    try:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
            path = Path(tempfile.mkdtemp(prefix="demo-", dir=workdir))
        else:
            path = Path(tempfile.mkdtemp(prefix="orchestrator-demo-"))
    except OSError as exc:
        where = workdir if workdir is not None else tempfile.gettempdir()
        raise RepositoryError(
            f"Cannot create the demo workspace in {where}: {exc.strerror or exc}. Pass "
            "--workdir with a folder you may write to."
        ) from exc
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def _copy_repository(shipped: Path, target: Path) -> Path:
    if DEMO_MODEL not in model_names(shipped):
        raise RepositoryError(
            f"{shipped} has no {DEMO_MODEL}/{CONFIG_FILENAME}; the demo starts from the shipped "
            "repository. Run it from the project root, or pass --repo."
        )
    shutil.copytree(shipped, target, ignore=shutil.ignore_patterns(".staging-*"))
    return target


def _epoch_lines(say: Callable[[str], None], every_s: float = 3.0) -> Callable[[Any], None]:
    """An epoch callback that says the epoch and loss at most every ``every_s``, and the last."""
    last = time.monotonic()

    def on_epoch(stats: Any) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s or stats.epoch == stats.epochs:
            last = now
            say(f"  epoch {stats.epoch}/{stats.epochs}, loss {stats.loss:.4f}")

    return on_epoch


def _bundle(repo: Path, out_dir: Path, say: Callable[[str], None]) -> tuple[Path, bool, float]:
    """Train a new bundle, or reuse the shipped one's files when torch is missing."""
    from training import TorchMissingError, train_and_export

    started = time.monotonic()
    say(f"Training {DEMO_MODEL} (PyTorch, CPU, seed {DEMO_SEED})")
    try:
        result = train_and_export(
            DEMO_MODEL, out_dir, seed=DEMO_SEED, on_epoch=_epoch_lines(say), on_step=say
        )
    except TorchMissingError as exc:
        latest = version_numbers(repo / DEMO_MODEL)[-1]
        source = version_dir(repo, DEMO_MODEL, latest)
        say(
            f"PyTorch is not installed ({exc}); reusing the shipped {DEMO_MODEL} version "
            f"{latest} as the new bundle"
        )
        out_dir.mkdir(parents=True)
        for name in _BUNDLE_FILES:
            shutil.copy2(source / name, out_dir / name)
        return out_dir, False, time.monotonic() - started
    say(result.summary())
    return out_dir, True, time.monotonic() - started


def _load_before(url: str, repo: Path, old_versions: list[int], say: Callable[[str], None]) -> None:
    """Serve what production served before the rollout: the demo model's old versions."""
    others = [name for name in model_names(repo) if name != DEMO_MODEL]
    states = load_models(url, repo, others) if others else []
    serve_versions(url, repo, DEMO_MODEL, old_versions)
    states += [row for row in client.repository_index(url) if row.name == DEMO_MODEL]
    failed = [s for s in states if s.state != "READY" and s.reason != "unloaded"]
    if failed:
        raise SmokeTestError(
            "Some models did not load: "
            + "; ".join(f"{s.name} {s.version}: {s.state} {s.reason}" for s in failed)
        )
    ready = sorted(f"{s.name} v{s.version}" for s in states if s.state == "READY")
    say(f"Serving {', '.join(ready)}")


def _held_out_digits(
    say: Callable[[str], None],
) -> tuple[NDArray[np.float32], NDArray[np.int64]] | None:
    try:
        from training.data import load_dataset
    except ImportError as exc:
        say(f"No held-out digits ({exc}); skipping the accuracy check")
        return None
    dataset = load_dataset("digits")
    return dataset.x_held_out, dataset.y_held_out


def _accuracy(
    endpoints: Endpoints,
    repo: Path,
    version: int,
    held_out: tuple[NDArray[np.float32], NDArray[np.int64]] | None,
    say: Callable[[str], None],
) -> Accuracy | None:
    if held_out is None:
        return None
    x, y = held_out
    config = load_config(repo / DEMO_MODEL / CONFIG_FILENAME)
    batch = max(1, config.max_batch_size)
    input_name = config.input[0].name
    output_name = config.output[0].name
    predictions = []
    for start in range(0, len(x), batch):
        outputs = client.infer(
            endpoints.grpc_url,
            DEMO_MODEL,
            {input_name: x[start : start + batch]},
            protocol="grpc",
            version=str(version),
        )
        predictions.append(np.argmax(outputs[output_name], axis=1))
    served = float(np.mean(np.concatenate(predictions) == y))
    accuracy = Accuracy(version, served, _recorded_accuracy(repo, version), len(y))
    say(f"Classified the held-out digits through Triton: {accuracy}")
    return accuracy


def _recorded_accuracy(repo: Path, version: int) -> float | None:
    path = version_dir(repo, DEMO_MODEL, version) / "export.json"
    try:
        value = json.loads(path.read_text())["metrics"]["accuracy"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(value)


def _swap_under_load(
    endpoints: Endpoints,
    repo: Path,
    version: int,
    held_out: tuple[NDArray[np.float32], NDArray[np.int64]] | None,
    say: Callable[[str], None],
) -> tuple[SwapReport, TrafficReport]:
    config = load_config(repo / DEMO_MODEL / CONFIG_FILENAME)
    if held_out is not None:
        sample = held_out[0][:1]
    else:
        from orchestrator.core.golden import golden_path, read_golden

        golden = read_golden(golden_path(version_dir(repo, DEMO_MODEL, version)))
        sample = next(iter(golden.inputs.values()))[:1]
    output_name = config.output[0].name

    def check(outputs: dict[str, NDArray[Any]]) -> str | None:
        probabilities = outputs.get(output_name)
        if probabilities is None or probabilities.shape != (1, 10):
            return f"unexpected answer: {outputs}"
        if not np.isclose(float(probabilities.sum()), 1.0, atol=1e-3):
            return f"probabilities sum to {probabilities.sum()}"
        return None

    say(f"Swapping {DEMO_MODEL} to version {version} under load (gRPC, concurrency 8)")
    traffic = Traffic(
        endpoints.grpc_url,
        DEMO_MODEL,
        {config.input[0].name: sample},
        concurrency=_TRAFFIC_CONCURRENCY,
        check=check,
    )
    with traffic:
        traffic.wait_for(_TRAFFIC_REQUESTS_BEFORE, _TRAFFIC_TIMEOUT_S)
        try:
            report = swap(endpoints, repo, DEMO_MODEL, version, on_step=say)
        finally:
            sent_at_swap = traffic.sent
            load = traffic.stop(
                min_requests=max(_TRAFFIC_REQUESTS_MIN, sent_at_swap + _TRAFFIC_REQUESTS_BEFORE),
                timeout_s=_TRAFFIC_TIMEOUT_S,
            )
    say(f"Load during the swap: {load}")
    if load.failed:
        raise SmokeTestError(
            f"{load.failed} of {load.sent} requests failed during the swap; first errors: "
            + "; ".join(load.errors)
        )
    return report, load
