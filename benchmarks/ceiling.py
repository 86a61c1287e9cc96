"""Served digits_cnn against the server's ceiling: an identity model, same input, same load.

``identity`` is digits_cnn's own graph emptied to one Identity node: it takes digits_cnn's
input ([N,1,8,8] FP32) and returns it, with digits_cnn's config otherwise (batching,
instances); both are served by one Triton, levels alternate. The identity's throughput is
what this server, backend and client manage with no model work at all, so digits/identity
says how much of that ceiling the model keeps.

    .venv/bin/python -m benchmarks.ceiling [--bundle DIR] [--concurrency 1,8,32]

Goal: digits_cnn reaches at least 0.8x the identity's throughput at the same concurrency.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import helper

from benchmarks.common import benchmark_parser, compare_levels, digits_workspace, record
from orchestrator.core.model_config import parse_config, render_config


def identity_onnx(source: Path, target: Path) -> Path:
    """``source``'s graph with every node replaced by one Identity of its first input.

    The input (name, type, shape), opsets and IR version stay those of ``source``; the
    only output is ``output``, a copy of the input.
    """
    model = onnx.load(source)
    graph = model.graph
    weights = {tensor.name for tensor in graph.initializer}
    source_input = next(value for value in graph.input if value.name not in weights)
    kept = onnx.ValueInfoProto()
    kept.CopyFrom(source_input)
    del graph.node[:], graph.initializer[:], graph.value_info[:], graph.input[:]
    del graph.output[:]
    graph.input.append(kept)
    graph.output.append(kept)
    graph.output[0].name = "output"
    graph.node.append(helper.make_node("Identity", [kept.name], ["output"]))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, target)
    return target


def identity_config(digits_config: str) -> str:
    """digits_cnn's config with the output replaced by an identity of the input."""
    config = parse_config(digits_config)
    del config.output[:]
    source = config.input[0]
    config.output.add(name="output", data_type=source.data_type, dims=list(source.dims))
    return render_config(config)


def main() -> None:
    """Run and record."""
    args = benchmark_parser(__doc__, concurrency="1,8,32").parse_args()
    load = os.getloadavg()
    with digits_workspace(args) as workspace:
        model = workspace.model
        identity = identity_onnx(model.onnx, workspace.repo.parent / "identity.onnx")
        workspace.add("identity", identity_config(model.config_text), identity)
        rows = compare_levels(workspace, {"digits_cnn": "digits_cnn", "identity": "identity"}, args)
    for row in rows:
        digits, ceiling = row["digits_cnn"], row["identity"]
        if digits["throughput_per_s"] and ceiling["throughput_per_s"]:
            ratio = digits["throughput_per_s"] / ceiling["throughput_per_s"]
            row["digits_over_identity"] = round(ratio, 3)
    ratios = [r["digits_over_identity"] for r in rows if "digits_over_identity" in r]
    record(
        "ceiling",
        load,
        {
            "model": model.source,
            "window_s": args.window_s,
            "repeats": args.repeats,
            "levels": rows,
            "goal_at_least_0_8": {"ratios": ratios, "met": bool(ratios) and min(ratios) >= 0.8},
        },
    )


if __name__ == "__main__":
    main()
