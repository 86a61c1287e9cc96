"""The parity gate fires on exports that disagree with PyTorch, and then writes nothing.

torch and the training modules are imported by the tests when they run, not at collection
(each worker of make unit collects every test module; one of them runs these).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import numpy_helper

from orchestrator.errors import ParityError

if importlib.util.find_spec("torch") is None:
    pytest.skip("could not import 'torch': No module named 'torch'", allow_module_level=True)

if TYPE_CHECKING:
    import torch


def _differs_from_eager(kind: str) -> torch.nn.Module:
    """A module whose traced graph is not what eager PyTorch computes, by ``kind``."""
    import torch

    class BranchesOnData(torch.nn.Module):
        """Eager PyTorch takes either branch; tracing records only the one the sample took."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if bool(x.sum() > 0):
                return torch.softmax(x, dim=-1)
            return torch.softmax(-x, dim=-1)

    class BakesBatchSize(torch.nn.Module):
        """``int(x.shape[0])`` becomes a constant in the traced graph."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(x.reshape(int(x.shape[0]), -1), dim=-1)

    modules = {"data-dependent-branch": BranchesOnData, "baked-batch-size": BakesBatchSize}
    return modules[kind]()


def _cancer_model_and_rows() -> tuple[torch.nn.Module, npt.NDArray[np.float32]]:
    from training.data import load_dataset
    from training.models import build_model
    from training.train import deterministic

    data = load_dataset("breast_cancer")
    with deterministic(0):
        model = build_model("cancer_mlp", data).eval()
    return model, data.x_held_out


def test_gate_passes_a_faithful_export_and_fires_on_a_corrupted_one() -> None:
    import torch

    from training.export import check_parity, parity_batches, require_parity
    from training.onnx_graph import export_onnx

    model, rows = _cancer_model_and_rows()
    sample = [torch.from_numpy(rows[:2])]
    onnx_bytes = export_onnx(model, sample, ["features"], ["probabilities"])
    batches = parity_batches({"features": rows})
    faithful = check_parity(model, onnx_bytes, batches, ["features"], ["probabilities"])
    assert faithful.passed
    require_parity(faithful, "cancer_mlp")

    proto = onnx.load_from_string(onnx_bytes)
    weights = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    corrupted = numpy_helper.to_array(weights) * np.float32(1.05)
    weights.CopyFrom(numpy_helper.from_array(corrupted, weights.name))
    report = check_parity(
        model, proto.SerializeToString(), batches, ["features"], ["probabilities"]
    )
    assert not report.passed
    assert report.worst.name == "probabilities" and report.worst.mismatched > 0
    with pytest.raises(ParityError, match=r"'cancer_mlp'.*output 'probabilities'.*max abs error"):
        require_parity(report, "cancer_mlp")


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("data-dependent-branch", r"'probabilities': \d+ element\(s\) out of tolerance, max abs"),
        ("baked-batch-size", r"held-out\[20\]: shape \[2, 40\] where the reference has \[20, 4\]"),
    ],
    ids=["data-dependent-branch", "baked-batch-size"],
)
def test_export_bundle_refuses_a_graph_that_differs_from_eager_and_writes_nothing(
    tmp_path: Path, kind: str, reason: str
) -> None:
    from training.export import export_bundle

    module = _differs_from_eager(kind)
    # The first two rows (the export sample) sum positive, the whole batch negative.
    first, rest = np.tile([1.0, 2.0, 3.0, 4.0], (2, 1)), np.tile([-1.0, -2.0, -3.0, -4.0], (18, 1))
    rows = np.vstack([first, rest]).astype(np.float32)
    out = tmp_path / "exports" / "broken"
    with pytest.raises(ParityError, match=reason) as caught:
        export_bundle(
            module,
            out,
            input_names=["x"],
            output_names=["probabilities"],
            held_out={"x": rows},
            metadata={"model_name": "broken"},
        )
    assert "No bundle was written" in str(caught.value)
    assert not caught.value.report.passed
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
