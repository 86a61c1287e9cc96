"""The load generator counts every failure, including ones no server causes."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.errors import ConfigError
from orchestrator.performance.traffic import Traffic
from orchestrator.serving.triton import free_port


def test_requests_to_nothing_all_count_as_failed_and_keep_their_errors() -> None:
    url = f"127.0.0.1:{free_port()}"
    inputs = {"x": np.zeros((1, 4), np.float32)}
    with Traffic(url, "m", inputs, protocol="http", concurrency=2) as load:
        assert load.wait_for(20, timeout_s=30)
        report = load.stop()
    assert report.sent >= 20 and report.failed == report.sent
    assert 1 <= len(report.errors) <= 5
    assert all("Inference on model 'm' at 127.0.0.1" in error for error in report.errors)


def test_grpc_requests_to_nothing_count_as_failed_too() -> None:
    url = f"127.0.0.1:{free_port()}"
    with Traffic(url, "m", {"x": np.zeros(1)}, protocol="grpc", concurrency=1) as load:
        assert load.wait_for(3, timeout_s=30)
    assert load.stop().failed >= 3


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="concurrency is 0; expected at least 1"):
        Traffic("h:1", "m", {}, concurrency=0)
