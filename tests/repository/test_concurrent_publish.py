"""Concurrent publishes of different graphs into one model keep config and versions agreeing.

Real processes (not threads), released together by a barrier each round: two publish
graph A (4 features), two graph B (8 features), one of them with --update-config, into a
new model. Whatever the interleaving, every publish either succeeds with its own graph
in its version or fails with the clear "does not match" error, and the validator's graph
checks find every served version's graph matching the config.
"""

from __future__ import annotations

import multiprocessing
import traceback
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ConfigError
from orchestrator.repository.publish import publish
from orchestrator.repository.validation.validate import validate_repository
from tests.support.onnx_models import make_affine_onnx

ROUNDS = 12
# (graph, --update-config) per process: A and B race into a new model each round.
PUBLISHERS = (("a", False), ("b", True), ("a", False), ("b", False))


def _publisher(work: str, graph: str, update_config: bool, barrier: Barrier, results: Any) -> None:
    source = Path(work) / f"{graph}.onnx"
    for round_index in range(ROUNDS):
        barrier.wait(timeout=60)
        repo = Path(work) / f"repo-{round_index}"
        try:
            result = publish(source, repo, "model", update_config=update_config)
            outcome: tuple[str, ...] = ("ok", str(result.version))
        except ConfigError as exc:
            outcome = ("config-error", str(exc))
        except BaseException:  # reported to the parent, which fails the test with it
            outcome = ("crash", traceback.format_exc())
        results.put((round_index, graph, update_config, *outcome))


@pytest.mark.timeout(300)
def test_concurrent_different_graph_publishes_keep_config_and_versions_agreeing(
    tmp_path: Path,
) -> None:
    graphs = {
        "a": make_affine_onnx(tmp_path / "a.onnx", features=4).read_bytes(),
        "b": make_affine_onnx(tmp_path / "b.onnx", features=8).read_bytes(),
    }
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(PUBLISHERS))
    results = context.Queue()
    processes = [
        context.Process(target=_publisher, args=(str(tmp_path), graph, update, barrier, results))
        for graph, update in PUBLISHERS
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=240) for _ in range(ROUNDS * len(PUBLISHERS))]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    problems = []
    for round_index in range(ROUNDS):
        repo = tmp_path / f"repo-{round_index}"
        for _, graph, update, kind, detail in (o for o in outcomes if o[0] == round_index):
            if kind == "ok":
                # succeeded consistently: its version holds its own graph
                written = (repo / "model" / detail / "model.onnx").read_bytes()
                if written != graphs[graph]:
                    problems.append(f"round {round_index}: {graph} v{detail} holds another graph")
            elif kind == "config-error":
                assert not update, detail
                assert "does not match the new graph" in detail, detail
            else:
                problems.append(f"round {round_index}: {graph} crashed:\n{detail}")
        errors = [str(f) for f in validate_repository(repo) if f.is_error]
        problems += [f"round {round_index}: {e}" for e in errors]
        assert [p.name for p in repo.iterdir()] == ["model"], "a lock file or staging left"
    assert problems == []
