"""Which ONNX graphs the ONNX Runtime inside a Triton release can load.

One table: Triton release -> the ONNX Runtime its onnxruntime backend bundles, and the
newest IR version and opsets that runtime implements. ONNX Runtime refuses a graph with a
newer IR version ("Unsupported model IR version") and cannot resolve operators of an
opset newer than it knows, so a graph from a newer exporter fails at load in production
even where the newer ONNX Runtime used locally runs it.

Sources: the Triton 24.10 release notes (onnxruntime backend built with ONNX Runtime
1.19.2) and ONNX Runtime's versioning table (docs/Versioning.md: 1.19 implements ONNX
1.16: opset 21, ai.onnx.ml opset 4, IR version 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.core.onnx_signature import DEFAULT_DOMAIN, ML_DOMAIN, Signature
from orchestrator.errors import ConfigError

__all__ = [
    "DEFAULT_TRITON_RELEASE",
    "RUNTIMES",
    "OnnxRuntimeSupport",
    "compatibility_problems",
    "runtime_for",
]

DEFAULT_TRITON_RELEASE = "24.10"


@dataclass(frozen=True)
class OnnxRuntimeSupport:
    """What one ONNX Runtime release can load."""

    onnxruntime: str
    max_ir_version: int
    max_opsets: Mapping[str, int] = field(default_factory=dict)


RUNTIMES: Mapping[str, OnnxRuntimeSupport] = {
    "24.10": OnnxRuntimeSupport("1.19.2", 10, {DEFAULT_DOMAIN: 21, ML_DOMAIN: 4}),
}


def runtime_for(triton_release: str) -> OnnxRuntimeSupport:
    """The ONNX Runtime support of a Triton release (e.g. ``24.10``).

    Raises:
        ConfigError: the release is not in the table.

    Example:
        >>> runtime_for("24.10").max_ir_version
        10
    """
    try:
        return RUNTIMES[triton_release]
    except KeyError as exc:
        raise ConfigError(
            f"Unknown Triton release {triton_release!r}. Known: {', '.join(sorted(RUNTIMES))}; "
            "add the release to orchestrator/compatibility.py RUNTIMES."
        ) from exc


def compatibility_problems(
    signature: Signature, triton_release: str = DEFAULT_TRITON_RELEASE
) -> list[tuple[str, str, str]]:
    """(code, message, hint) for each way the graph is too new for the release's runtime.

    Example:
        >>> compatibility_problems(read_signature(Path("model.onnx")))  # doctest: +SKIP
        [('onnx-ir-too-new', 'IR version 11 ...', 'Re-export ...')]
    """
    support = runtime_for(triton_release)
    where = f"ONNX Runtime {support.onnxruntime} (Triton {triton_release})"
    problems = []
    if signature.ir_version > support.max_ir_version:
        problems.append(
            (
                "onnx-ir-too-new",
                f"the graph has IR version {signature.ir_version}, but {where} loads IR "
                f"version {support.max_ir_version} at most",
                f"Re-export with an older exporter or set model.ir_version = "
                f"{support.max_ir_version} (onnx.helper.make_model(..., ir_version=...)).",
            )
        )
    for domain, version in sorted(signature.opsets.items()):
        limit = support.max_opsets.get(domain)
        if limit is not None and version > limit:
            problems.append(
                (
                    "onnx-opset-too-new",
                    f"the graph imports opset {version} of domain '{domain}', but {where} "
                    f"implements opset {limit} at most",
                    f"Re-export with opset_version={limit} or lower "
                    "(torch.onnx.export(..., opset_version=...), skl2onnx target_opset).",
                )
            )
    return problems
