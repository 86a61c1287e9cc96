"""Served digits_cnn against the server's ceiling: an identity model, same input, same load.

``identity`` takes digits_cnn's input ([N,1,8,8] FP32) and returns it, with digits_cnn's
config otherwise (batching, instances); both are served by one Triton, levels alternate.
The identity's throughput is what this server, backend and client manage with no model
work at all, so digits/identity says how much of that ceiling the model keeps.

    .venv/bin/python -m benchmarks.ceiling [--bundle DIR] [--concurrency 1,8,32]

Goal: digits_cnn reaches at least 0.8x the identity's throughput at the same concurrency.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from onnx import TensorProto

from benchmarks.common import (
    add_common_arguments,
    add_model,
    digits_cnn,
    record,
    renamed,
    serving,
    side_by_side,
    workdir,
)
from orchestrator.core.model_config import parse_config, render_config
from tests.onnx_models import make_identity_onnx


def identity_config(digits_config: str) -> str:
    """digits_cnn's config with the output replaced by an identity of the input."""
    config = parse_config(renamed(digits_config, "identity"))
    del config.output[:]
    source = config.input[0]
    config.output.add(name="output", data_type=source.data_type, dims=list(source.dims))
    return render_config(config)


def main() -> None:
    """Run and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_arguments(parser)
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    load = os.getloadavg()
    with workdir() as tmp:
        model = digits_cnn(args, tmp)
        repo = tmp / "repo"
        add_model(repo, "digits_cnn", model.onnx, renamed(model.config_text, "digits_cnn"))
        identity = make_identity_onnx(
            tmp / "identity.onnx", [("input", "output", TensorProto.FLOAT, ["N", 1, 8, 8])]
        )
        add_model(repo, "identity", identity, identity_config(model.config_text))
        rows = []
        with serving(repo) as server:
            for concurrency in levels:
                models = {"digits_cnn": "digits_cnn", "identity": "identity"}
                row: dict[str, Any] = {"concurrency": concurrency}
                row.update(
                    side_by_side(server.http_url, models, concurrency, args, golden=model.golden)
                )
                digits, ceiling = row["digits_cnn"], row["identity"]
                if digits["throughput_per_s"] and ceiling["throughput_per_s"]:
                    ratio = digits["throughput_per_s"] / ceiling["throughput_per_s"]
                    row["digits_over_identity"] = round(ratio, 3)
                rows.append(row)
                print(row, flush=True)
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
