"""The defaults the options show are the library's: cli.defaults copies them for --help."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.cli import defaults
from orchestrator.core import golden
from orchestrator.deploy import gate_config, release_files, render, status
from orchestrator.performance import options
from orchestrator.repository import compatibility, generate
from orchestrator.serving import container, inference


@pytest.mark.parametrize(
    ("copied", "owned"),
    [
        (defaults.DEFAULT_TRITON_RELEASE, compatibility.DEFAULT_TRITON_RELEASE),
        (defaults.TRITON_RELEASES, tuple(sorted(compatibility.RUNTIMES))),
        (defaults.DEFAULT_MAX_BATCH_SIZE, generate.DEFAULT_MAX_BATCH_SIZE),
        (defaults.DEFAULT_QUEUE_DELAY_US, generate.DEFAULT_QUEUE_DELAY_US),
        (defaults.INT32_MAX, generate.INT32_MAX),
        (defaults.UINT64_MAX, generate.UINT64_MAX),
        (defaults.DEFAULT_RTOL, golden.DEFAULT_TOLERANCE.rtol),
        (defaults.DEFAULT_ATOL, golden.DEFAULT_TOLERANCE.atol),
        (defaults.DEFAULT_IMAGE, container.DEFAULT_IMAGE),
        (defaults.DEFAULT_DOCKERFILE, container.DEFAULT_DOCKERFILE),
        (defaults.ALL_GPUS, container.ALL_GPUS),
        (defaults.DEFAULT_INFER_TIMEOUT_S, inference.DEFAULT_INFER_TIMEOUT_S),
        (defaults.MAX_INFER_TIMEOUT_S, inference.MAX_INFER_TIMEOUT_S),
        (defaults.MAX_WINDOW_S, options.MAX_WINDOW_S),
        (defaults.DEFAULT_REQUEST_TIMEOUT_S, options.DEFAULT_REQUEST_TIMEOUT_S),
        (defaults.MAX_REQUEST_TIMEOUT_S, options.MAX_REQUEST_TIMEOUT_S),
        (defaults.DEFAULT_MANIFESTS, render.DEFAULT_MANIFESTS),
        (defaults.DEFAULT_GATES, gate_config.DEFAULT_GATES),
        (defaults.LATEST, release_files.LATEST),
        (defaults.DEFAULT_STATUS_TIMEOUT_S, status.DEFAULT_STATUS_TIMEOUT_S),
        (defaults.MAX_STATUS_TIMEOUT_S, status.MAX_STATUS_TIMEOUT_S),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_each_default_the_cli_shows_is_its_owners(copied: Any, owned: Any) -> None:
    assert copied == owned
    assert type(copied) is type(owned)


def test_every_copied_default_is_checked() -> None:
    checked = {
        "DEFAULT_TRITON_RELEASE", "TRITON_RELEASES", "DEFAULT_MAX_BATCH_SIZE",
        "DEFAULT_QUEUE_DELAY_US", "INT32_MAX", "UINT64_MAX", "DEFAULT_RTOL", "DEFAULT_ATOL",
        "DEFAULT_IMAGE", "DEFAULT_DOCKERFILE", "ALL_GPUS", "MAX_WINDOW_S",
        "DEFAULT_MANIFESTS", "DEFAULT_GATES", "LATEST", "DEFAULT_STATUS_TIMEOUT_S",
        "MAX_STATUS_TIMEOUT_S", "DEFAULT_INFER_TIMEOUT_S", "MAX_INFER_TIMEOUT_S",
        "DEFAULT_REQUEST_TIMEOUT_S", "MAX_REQUEST_TIMEOUT_S",
    }  # fmt: skip
    assert set(defaults.__all__) == checked
