"""Export any ``torch.nn.Module`` as a bundle, gated on PyTorch vs ONNX Runtime parity.

The graph itself is made and run by ``training.onnx_graph``; this module decides what to
compare (held-out rows plus random batches of several sizes), refuses to write a bundle
that disagrees, and assembles ``export.json``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from orchestrator.errors import ParityError, TrainingError
from training import tensorrt_plan
from training.bundle import MODEL_PLAN, git_lineage, signature_from_onnx, write_bundle
from training.onnx_graph import (
    EXPORTER,
    OPSET,
    check_onnx,
    export_onnx,
    onnxruntime_version,
    run_onnx,
)
from training.parity import DEFAULT_ATOL, DEFAULT_RTOL, ParityReport, compare_batches

__all__ = [
    "GOLDEN_ROWS",
    "PARITY_BATCH_SIZES",
    "check_parity",
    "export_bundle",
    "parity_batches",
    "require_parity",
    "run_torch",
]

logger = logging.getLogger(__name__)

PARITY_BATCH_SIZES = (1, 7, 64)
GOLDEN_ROWS = 16


def run_torch(
    model: torch.nn.Module,
    inputs: Mapping[str, npt.NDArray[Any]],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> dict[str, npt.NDArray[Any]]:
    """Run ``model`` in eval mode on the CPU without gradients; outputs keyed by name.

    Example:
        >>> run_torch(model, {"input": x}, ["input"], ["probabilities"])["probabilities"].shape
        (16, 10)
    """
    model.eval()
    with torch.no_grad():
        result = model(*(torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in input_names))
    tensors = result if isinstance(result, tuple | list) else (result,)
    if len(tensors) != len(output_names):
        raise TrainingError(
            f"{type(model).__name__} returned {len(tensors)} output(s); expected "
            f"{len(output_names)} ({', '.join(output_names)})."
        )
    return {name: t.detach().cpu().numpy() for name, t in zip(output_names, tensors, strict=True)}


def parity_batches(
    held_out: Mapping[str, npt.NDArray[Any]],
    *,
    batch_sizes: Sequence[int] = PARITY_BATCH_SIZES,
    seed: int = 0,
) -> dict[str, dict[str, npt.NDArray[Any]]]:
    """Return the held-out inputs as one batch, plus random batches of several sizes.

    Random values are drawn uniformly between the per-element minimum and maximum of the
    held-out inputs, so they exercise the graph over the range it will see.

    Example:
        >>> sorted(parity_batches({"features": x}))
        ['held-out[114]', 'random[1]', 'random[64]', 'random[7]']
    """
    rng = np.random.default_rng(seed)
    rows = {len(a) for a in held_out.values()}
    batches = {f"held-out[{rows.pop()}]": dict(held_out)}
    for size in batch_sizes:
        batch = {}
        for name, array in held_out.items():
            low, high = array.min(axis=0), array.max(axis=0)
            sample = rng.uniform(size=(size, *array.shape[1:]))
            batch[name] = (low + sample * (high - low)).astype(array.dtype)
        batches[f"random[{size}]"] = batch
    return batches


def check_parity(
    model: torch.nn.Module,
    onnx_bytes: bytes,
    batches: Mapping[str, Mapping[str, npt.NDArray[Any]]],
    input_names: Sequence[str],
    output_names: Sequence[str],
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> ParityReport:
    """Run PyTorch (the reference) and ONNX Runtime on every batch and compare the outputs.

    A batch that ONNX Runtime cannot run (a batch size baked into the graph, say) counts
    as a failure of every output, with ONNX Runtime's message as the detail.

    Returns:
        The report; check ``report.passed`` or call ``require_parity``.

    Example:
        >>> check_parity(model, onnx_bytes, parity_batches({"input": x}), ["input"],
        ...              ["probabilities"]).passed
        True
    """
    reference = {}
    candidate: dict[str, dict[str, npt.NDArray[Any] | str]] = {}
    for label, inputs in batches.items():
        reference[label] = run_torch(model, inputs, input_names, output_names)
        try:
            candidate[label] = dict(run_onnx(onnx_bytes, inputs))
        except TrainingError as exc:
            candidate[label] = {name: str(exc) for name in output_names}
    return compare_batches(reference, candidate, rtol=rtol, atol=atol)


def require_parity(report: ParityReport, model_name: str) -> None:
    """Raise ``ParityError`` naming the worst output unless every output agreed.

    Example:
        >>> require_parity(report, "digits_cnn")  # silent when report.passed
    """
    if report.passed:
        return
    raise ParityError(
        f"Parity gate failed for {model_name!r}: ONNX Runtime disagrees with PyTorch on "
        f"{report.describe_failure()}. No bundle was written. Look for operations the "
        "exporter traces differently from eager PyTorch (data-dependent Python control "
        "flow, sizes turned into Python ints), or export with another opset.",
        report,
    )


def export_bundle(
    model: torch.nn.Module,
    out_dir: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    held_out: Mapping[str, npt.NDArray[Any]],
    metadata: Mapping[str, Any],
    seed: int = 0,
    force: bool = False,
    tensorrt: bool = False,
) -> tuple[dict[str, Any], ParityReport]:
    """Export any module as a bundle, gated on parity; the reusable half of the pipeline.

    Exports at the pinned opset (twice, to learn whether the bytes are repeatable), runs
    the full ONNX checker, compares PyTorch and ONNX Runtime on ``held_out`` and on random
    batches of ``PARITY_BATCH_SIZES`` rows, and only then writes ``model.onnx``,
    ``golden.npz`` (the first ``GOLDEN_ROWS`` held-out rows with ONNX Runtime's outputs)
    and ``export.json`` atomically.

    Args:
        model: the trained module; it is put in eval mode on the CPU.
        out_dir: the bundle folder.
        input_names: graph input names, in ``forward``'s order.
        output_names: graph output names.
        held_out: ``{input name: real rows the model was not trained on}``.
        metadata: model-specific ``export.json`` entries (``model_name``, ``metrics``,
            ``data_fingerprint``, ``seed``, ...); this adds signature, opset, versions,
            parity, git, files and ``created_at``.
        seed: seeds the random parity batches.
        force: replace a bundle already in ``out_dir``.
        tensorrt: also build ``model.plan`` (needs TensorRT and a GPU).

    Returns:
        ``(export.json content, parity report)``.

    Raises:
        ParityError: ONNX Runtime disagrees with PyTorch; nothing was written.
        TrainingError: export, checker, TensorRT or writing failed; nothing was written.

    Example:
        >>> export, parity = export_bundle(model, Path("out/m"), input_names=["x"],
        ...     output_names=["y"], held_out={"x": x_test}, metadata={"model_name": "m"})
    """
    model.to("cpu").eval()
    name = str(metadata.get("model_name", type(model).__name__))
    sample = [torch.from_numpy(np.ascontiguousarray(held_out[n][:2])) for n in input_names]
    onnx_bytes = export_onnx(model, sample, input_names, output_names)
    repeatable = onnx_bytes == export_onnx(model, sample, input_names, output_names)
    batches = parity_batches(held_out, seed=seed)
    parity = check_parity(model, onnx_bytes, batches, input_names, output_names)
    require_parity(parity, name)
    proto = check_onnx(onnx_bytes)
    golden_inputs = {n: np.ascontiguousarray(held_out[n][:GOLDEN_ROWS]) for n in input_names}
    golden_outputs = run_onnx(onnx_bytes, golden_inputs)
    signature = signature_from_onnx(proto)
    extra_files: dict[str, bytes] = {}
    plan_info = None
    if tensorrt:
        shapes = {t["name"]: t["shape"] for t in signature["inputs"]}
        plan_info = tensorrt_plan.build_plan(onnx_bytes, shapes)
        extra_files[MODEL_PLAN] = plan_info.plan
    content: dict[str, Any] = {
        "model_name": name,
        **metadata,
        "signature": signature,
        "opset": OPSET,
        "ir_version": int(proto.ir_version),
        "exporter": EXPORTER,
        "versions": _versions(),
        "parity": parity.as_dict(),
        "parity_check": {
            "passed": parity.passed,
            "rtol": parity.rtol,
            "atol": parity.atol,
            "batches": list(parity.batches),
            "reference": f"torch {torch.__version__} on the CPU",
            "candidate": f"onnxruntime {onnxruntime_version()} CPUExecutionProvider",
        },
        "git": git_lineage(Path(__file__).resolve().parent),
        "onnx_bytes_reproducible": repeatable,
        "golden": {"rows": len(golden_inputs[input_names[0]]), "source": "first held-out rows"},
        "tensorrt": plan_info.describe() if plan_info else None,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    written = write_bundle(
        out_dir,
        onnx_bytes=onnx_bytes,
        golden_inputs=golden_inputs,
        golden_outputs=golden_outputs,
        metadata=content,
        extra_files=extra_files,
        force=force,
    )
    return written, parity


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for key, module in (
        ("torch", "torch"),
        ("onnx", "onnx"),
        ("onnxruntime", "onnxruntime"),
        ("numpy", "numpy"),
        ("scikit-learn", "sklearn"),
    ):
        try:
            versions[key] = str(importlib.import_module(module).__version__)
        except ImportError:
            versions[key] = "not installed"
    return versions
