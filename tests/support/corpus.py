"""A corpus of small model repositories, valid and broken, with the verdict Triton gives.

Each case builds one model (``name``) in a repository, plus any models it depends on,
and says which error codes the validator must report (none: Triton loads it) and which
warnings it must at least report. ``core`` cases are decided by Triton itself (core or
the onnxruntime backend's load checks) and are confirmed by loading them into the real
local server; the others (ONNX Runtime version, integrity) cannot be decided by the local
server, whose ONNX Runtime is newer than production's and which does not read manifests.
``auto_complete`` cases are judged for a server started without
``--disable-auto-complete-config`` (``validate --auto-complete``) and loaded into one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto, helper

from orchestrator.repository.publish import publish
from tests.support.onnx_models import make_affine_onnx, make_identity_onnx

Builder = Callable[[Path, str], list[str]]


@dataclass(frozen=True)
class Case:
    id: str
    build: Builder
    errors: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()
    core: bool = True
    auto_complete: bool = False

    @property
    def loads(self) -> bool:
        return not self.errors


CASES: list[Case] = []


def case(
    id: str,
    errors: set[str] | None = None,
    warnings: set[str] | None = None,
    core: bool = True,
    auto_complete: bool = False,
) -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        CASES.append(
            Case(id, build, frozenset(errors or ()), frozenset(warnings or ()), core, auto_complete)
        )
        return build

    return register


def affine_case(id: str, body: str, *, versions: tuple[int, ...] = (1,), **verdict: Any) -> None:
    """Register a case that is the affine model at ``versions`` under config ``body``
    (``verdict``: errors, warnings, ... as ``case`` takes them)."""
    case(id, **verdict)(lambda repo, name: affine(repo, name, body, versions))


# -- helpers ---------------------------------------------------------------------------

AFFINE_IO = """input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [
  { name: "y" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "s" data_type: TYPE_FP32 dims: [ 1 ] }
]
"""


def write_config(repo: Path, name: str, body: str, header: bool = True) -> None:
    folder = repo / name
    folder.mkdir(parents=True, exist_ok=True)
    head = f'name: "{name}"\nbackend: "onnxruntime"\n' if header else ""
    (folder / "config.pbtxt").write_text(head + body)


def affine(repo: Path, name: str, body: str, versions: tuple[int, ...] = (1,)) -> list[str]:
    for version in versions:
        make_affine_onnx(repo / name / str(version) / "model.onnx")
    write_config(repo, name, body)
    return []


def affine_batched(extra: str = "", io: str = AFFINE_IO, mbs: int = 8) -> str:
    return f"max_batch_size: {mbs}\n{io}instance_group [ {{ kind: KIND_GPU count: 1 }} ]\n{extra}"


def raw_model(path: Path, ir_version: int = 8, opset: int = 17) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


RELU_CONFIG = """max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""


def published(repo: Path, name: str, source: Path) -> list[str]:
    publish(source, repo, name)
    return []


# -- valid repositories ----------------------------------------------------------------


@case("valid-generated-batching")
def _(repo: Path, name: str) -> list[str]:
    return published(repo, name, make_affine_onnx(repo.parent / f"{name}-src" / "m.onnx"))


@case("valid-generated-fixed-batch")
def _(repo: Path, name: str) -> list[str]:
    return published(repo, name, make_affine_onnx(repo.parent / f"{name}-src" / "m.onnx", batch=3))


@case("valid-generated-every-dtype")
def _(repo: Path, name: str) -> list[str]:
    types = [
        TensorProto.BOOL, TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32,
        TensorProto.UINT64, TensorProto.INT8, TensorProto.INT16, TensorProto.INT32,
        TensorProto.INT64, TensorProto.FLOAT16, TensorProto.FLOAT, TensorProto.DOUBLE,
        TensorProto.STRING,
    ]  # fmt: skip
    tensors: list[tuple[str, str, int, list[int | str | None]]] = [
        (f"i{t}", f"o{t}", t, ["N", 2]) for t in types
    ]
    src = make_identity_onnx(repo.parent / f"{name}-src" / "m.onnx", tensors)
    return published(repo, name, src)


@case("valid-generated-rank1-outputs")
def _(repo: Path, name: str) -> list[str]:
    tensors = [("x", "label", TensorProto.INT64, ["N"]), ("t", "text", TensorProto.STRING, ["N"])]
    src = make_identity_onnx(repo.parent / f"{name}-src" / "m.onnx", tensors)
    return published(repo, name, src)


@case("valid-generated-scalar")
def _(repo: Path, name: str) -> list[str]:
    src = make_identity_onnx(
        repo.parent / f"{name}-src" / "m.onnx", [("x", "y", TensorProto.FLOAT, [])]
    )
    return published(repo, name, src)


@case("valid-input-fixes-dynamic-dim")
def _(repo: Path, name: str) -> list[str]:
    make_identity_onnx(
        repo / name / "1" / "model.onnx", [("x", "y", TensorProto.FLOAT, ["N", "F"])]
    )
    write_config(
        repo,
        name,
        """max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
""",
    )
    return []


affine_case("valid-hand-written-minimal", affine_batched())


affine_case(
    "valid-policy-all-two-versions", affine_batched("version_policy { all { } }\n"), versions=(1, 2)
)


@case("policy-serves-nothing", errors={"no-served-versions"}, warnings={"version-policy-missing"})
def _(repo: Path, name: str) -> list[str]:
    body = affine_batched("version_policy { specific { versions: [ 3 ] } }\n")
    return affine(repo, name, body, versions=(1, 2))


@case("valid-policy-specific")
def _(repo: Path, name: str) -> list[str]:
    return affine(
        repo, name, affine_batched("version_policy { specific { versions: [ 2 ] } }\n"), (1, 2)
    )


@case("valid-backend-inferred-from-files", warnings={"autocomplete-backend"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    write_config(repo, name, f'name: "{name}"\n' + affine_batched(), header=False)
    return []


@case("valid-platform-only")
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    body = f'name: "{name}"\nplatform: "onnxruntime_onnx"\n' + affine_batched()
    write_config(repo, name, body, header=False)
    return []


@case("valid-non-numeric-folder-ignored", warnings={"version-folder-ignored"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched())
    (repo / name / "backup").mkdir()
    (repo / name / "backup" / "model.onnx").write_bytes(b"junk")
    return []


@case("valid-publish-leftover", warnings={"publish-leftover"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched())
    (repo / name / ".staging-999999999-dead").mkdir()
    return []


@case("valid-unserved-version-corrupt", warnings={"onnx-unreadable"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched(), versions=(1, 2))
    model = repo / name / "1" / "model.onnx"
    model.write_bytes(model.read_bytes()[:40])
    return []


@case("valid-unserved-version-missing-file", warnings={"model-file-missing"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched(), versions=(2,))
    (repo / name / "1").mkdir()
    return []


@case("valid-default-model-filename")
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "net.onnx")
    write_config(repo, name, affine_batched('default_model_filename: "net.onnx"\n'))
    return []


@case("valid-no-max-batch-size", warnings={"autocomplete-max-batch-size"})
def _(repo: Path, name: str) -> list[str]:
    return affine(
        repo,
        name,
        """input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 4 ] } ]
output [
  { name: "y" data_type: TYPE_FP32 dims: [ -1, 4 ] },
  { name: "s" data_type: TYPE_FP32 dims: [ -1, 1 ] }
]
""",
    )


@case("valid-subset-of-outputs")
def _(repo: Path, name: str) -> list[str]:
    io = 'input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
    io += 'output [ { name: "s" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
    return affine(repo, name, affine_batched(io=io))


@case("valid-ensemble")
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    write_config(
        repo,
        name,
        f"""platform: "ensemble"
max_batch_size: 8
input [ {{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }} ]
output [ {{ name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] }} ]
ensemble_scheduling {{ step [
  {{ model_name: "{step}" model_version: -1
     input_map {{ key: "x" value: "IN" }}
     output_map {{ key: "s" value: "OUT" }} }}
] }}
""",
        header=False,
    )
    (repo / name / "config.pbtxt").write_text(
        f'name: "{name}"\n' + (repo / name / "config.pbtxt").read_text()
    )
    (repo / name / "1").mkdir()
    return [step]


# -- broken: config.pbtxt --------------------------------------------------------------


@case("config-missing", errors={"config-missing"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    return []


affine_case("config-syntax-error", "max_batch_size: eight\n", errors={"config-syntax"})


affine_case(
    "config-unknown-field",
    affine_batched("dynamic_batching { max_delay: 100 }\n"),
    errors={"config-syntax"},
)


@case("config-binary-garbage", errors={"config-unreadable"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, "")
    (repo / name / "config.pbtxt").write_bytes(b"\x00\xff\xfe\x89PNG\r\n\x1a\n")
    return []


@case("config-empty", errors={"input-count"}, warnings={"autocomplete-backend"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, "")
    (repo / name / "config.pbtxt").write_text("")
    return []


@case("name-mismatch", errors={"name-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched())
    path = repo / name / "config.pbtxt"
    path.write_text(path.read_text().replace(f'name: "{name}"', 'name: "other_model"'))
    return []


# Triton 2.51 aborts the whole server process on this one (seen locally), so it is not
# loaded into the shared server.
@case("config-is-a-folder", errors={"config-unreadable"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    (repo / name / "config.pbtxt").mkdir()
    return []


# -- broken: versions and files --------------------------------------------------------


@case("no-version-folders", errors={"no-versions"})
def _(repo: Path, name: str) -> list[str]:
    write_config(repo, name, affine_batched())
    return []


@case("served-version-without-model-file", errors={"model-file-missing"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched())
    (repo / name / "2").mkdir()
    return []


affine_case(
    "default-model-filename-missing",
    affine_batched('default_model_filename: "net.onnx"\n'),
    errors={"model-file-missing"},
)


@case("valid-policy-names-missing-version", warnings={"version-policy-missing"})
def _(repo: Path, name: str) -> list[str]:
    body = affine_batched("version_policy { specific { versions: [ 1, 3 ] } }\n")
    return affine(repo, name, body)


@case("onnx-truncated", errors={"onnx-unreadable"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched())
    model = repo / name / "1" / "model.onnx"
    model.write_bytes(model.read_bytes()[:57])
    return []


@case("onnx-garbage", errors={"onnx-unreadable"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched())
    (repo / name / "1" / "model.onnx").write_bytes(b"this is not a protobuf \xff\xff\xff")
    return []


@case("onnx-empty-file", errors={"onnx-unreadable"})
def _(repo: Path, name: str) -> list[str]:
    affine(repo, name, affine_batched())
    (repo / name / "1" / "model.onnx").write_bytes(b"")
    return []


# -- broken: config against the graph --------------------------------------------------


def _io(x: str = "x", y: str = "y", x_type: str = "TYPE_FP32", y_dims: str = "4") -> str:
    return (
        f'input [ {{ name: "{x}" data_type: {x_type} dims: [ 4 ] }} ]\n'
        f'output [ {{ name: "{y}" data_type: TYPE_FP32 dims: [ {y_dims} ] }},'
        ' { name: "s" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
    )


affine_case("input-name-unknown", affine_batched(io=_io(x="input0")), errors={"unknown-input"})


affine_case("output-name-unknown", affine_batched(io=_io(y="output0")), errors={"unknown-output"})


affine_case(
    "input-dtype-mismatch", affine_batched(io=_io(x_type="TYPE_FP16")), errors={"dtype-mismatch"}
)


affine_case(
    "input-dtype-unsupported-bf16",
    affine_batched(io=_io(x_type="TYPE_BF16")),
    errors={"dtype-unsupported"},
)


affine_case("output-dims-mismatch", affine_batched(io=_io(y_dims="5")), errors={"dims-mismatch"})


@case("output-fixes-dynamic-dim", errors={"dims-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    make_identity_onnx(
        repo / name / "1" / "model.onnx", [("x", "y", TensorProto.FLOAT, ["N", "F"])]
    )
    write_config(
        repo,
        name,
        """max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]
""",
    )
    return []


affine_case(
    "batch-dim-written-in-dims",
    affine_batched(io=_io().replace("dims: [ 4 ]", "dims: [ -1, 4 ]")),
    errors={"dims-mismatch"},
)


@case("batching-without-dynamic-leading-dim", errors={"batch-dim-missing"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx", batch=3)
    write_config(repo, name, affine_batched())
    return []


affine_case(
    "no-batching-but-dims-skip-batch", "max_batch_size: 0\n" + AFFINE_IO, errors={"dims-mismatch"}
)


@case("config-lacks-an-input", errors={"input-count"})
def _(repo: Path, name: str) -> list[str]:
    tensors: list[tuple[str, str, int, list[int | str | None]]] = [
        ("a", "b", TensorProto.FLOAT, ["N", 2]),
        ("c", "d", TensorProto.FLOAT, ["N", 2]),
    ]
    make_identity_onnx(repo / name / "1" / "model.onnx", tensors)
    write_config(
        repo,
        name,
        """max_batch_size: 8
input [ { name: "a" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "b" data_type: TYPE_FP32 dims: [ 2 ] } ]
""",
    )
    return []


@case("zipmap-output", errors={"unsupported-tensor-type"})
def _(repo: Path, name: str) -> list[str]:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])
    map_type = helper.make_map_type_proto(
        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
    )
    probs = helper.make_value_info("probs", helper.make_sequence_type_proto(map_type))
    node = helper.make_node(
        "ZipMap", ["x"], ["probs"], domain="ai.onnx.ml", classlabels_int64s=[0, 1]
    )
    graph = helper.make_graph([node], "zipmap", [x], [probs])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    model.ir_version = 8
    (repo / name / "1").mkdir(parents=True)
    onnx.save(model, repo / name / "1" / "model.onnx")
    write_config(
        repo,
        name,
        """max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "probs" data_type: TYPE_FP32 dims: [ 2 ] } ]
""",
    )
    return []


# -- broken: Triton core's config rules ------------------------------------------------


affine_case("dims-zero", affine_batched(io=_io(y_dims="0")), errors={"dims-invalid"})


affine_case(
    "dims-missing",
    affine_batched(io=_io().replace(" dims: [ 4 ] }", " }", 1)),
    errors={"dims-missing"},
)


affine_case(
    "data-type-missing",
    affine_batched(io=_io().replace("data_type: TYPE_FP32 ", "", 1)),
    errors={"dtype-missing"},
)


@case("reshape-size-differs", errors={"reshape-invalid"})
def _(repo: Path, name: str) -> list[str]:
    io = _io().replace("dims: [ 4 ] }", "dims: [ 4 ] reshape { shape: [ 3 ] } }", 1)
    return affine(repo, name, affine_batched(io=io))


@case("reshape-empty-without-batching", errors={"reshape-invalid"})
def _(repo: Path, name: str) -> list[str]:
    make_identity_onnx(repo / name / "1" / "model.onnx", [("x", "y", TensorProto.FLOAT, [])])
    write_config(
        repo,
        name,
        """max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [ ] } } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
""",
    )
    return []


@case("preferred-size-above-max", errors={"preferred-batch-size"})
def _(repo: Path, name: str) -> list[str]:
    extra = "dynamic_batching { preferred_batch_size: [ 4, 16 ] }\n"
    return affine(repo, name, affine_batched(extra))


@case("preferred-size-without-batching", errors={"preferred-batch-size"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx", batch=3)
    body = "max_batch_size: 0\n" + _io().replace("dims: [ 4 ]", "dims: [ 3, 4 ]")
    body = body.replace("dims: [ 1 ]", "dims: [ 3, 1 ]")
    write_config(repo, name, body + "dynamic_batching { preferred_batch_size: [ 2 ] }\n")
    return []


@case("cpu-group-lists-gpus", errors={"instance-group-gpus"})
def _(repo: Path, name: str) -> list[str]:
    body = affine_batched().replace("{ kind: KIND_GPU count: 1 }", "{ kind: KIND_CPU gpus: [ 0 ] }")
    return affine(repo, name, body)


affine_case("max-batch-size-negative", affine_batched(mbs=-1), errors={"max-batch-size-negative"})


affine_case(
    "platform-backend-mismatch",
    'platform: "tensorrt_plan"\n' + affine_batched(),
    errors={"platform-mismatch"},
)


# Triton 2.51 refuses this, but a warmup failing on two instances at once sometimes kills
# the whole server (signal 11, seen locally), so it is not loaded into the shared server.
@case("warmup-batch-above-max", errors={"warmup-invalid"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    warmup = """model_warmup [ { name: "w" batch_size: 16 inputs { key: "x"
  value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } } ]
"""
    return affine(repo, name, affine_batched(warmup))


# -- broken: ensembles -----------------------------------------------------------------


def _ensemble(repo: Path, name: str, steps: str, outputs: str = "OUT") -> None:
    out = ", ".join(f'{{ name: "{o}" data_type: TYPE_FP32 dims: [ 1 ] }}' for o in outputs.split())
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(
        f"""name: "{name}"
platform: "ensemble"
max_batch_size: 8
input [ {{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }} ]
output [ {out} ]
ensemble_scheduling {{ step [ {steps} ] }}
"""
    )


def _step(
    model: str, key_in: str = "x", key_out: str = "s", src: str = "IN", dst: str = "OUT"
) -> str:
    return (
        f'{{ model_name: "{model}" model_version: -1 input_map {{ key: "{key_in}" value: "{src}" }}'
        f' output_map {{ key: "{key_out}" value: "{dst}" }} }}'
    )


@case("ensemble-step-model-missing", errors={"ensemble-model-missing"})
def _(repo: Path, name: str) -> list[str]:
    _ensemble(repo, name, _step(f"{name}_nowhere"))
    return []


@case("ensemble-maps-unknown-tensor", errors={"ensemble-tensor-unknown"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step, key_out="probabilities"))
    return [step]


@case("ensemble-output-not-written", errors={"ensemble-dataflow"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step), outputs="OUT OTHER")
    return [step]


@case("ensemble-contains-itself", errors={"ensemble-cycle"})
def _(repo: Path, name: str) -> list[str]:
    _ensemble(repo, name, _step(name, key_in="IN", key_out="OUT"))
    return []


# -- not decided by the local server ---------------------------------------------------


@case("onnx-ir-version-too-new", errors={"onnx-ir-too-new"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    raw_model(repo / name / "1" / "model.onnx", ir_version=11)
    write_config(repo, name, RELU_CONFIG)
    return []


@case("onnx-opset-too-new", errors={"onnx-opset-too-new"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    raw_model(repo / name / "1" / "model.onnx", ir_version=10, opset=22)
    write_config(repo, name, RELU_CONFIG)
    return []


@case("valid-newest-supported-onnx")
def _(repo: Path, name: str) -> list[str]:
    raw_model(repo / name / "1" / "model.onnx", ir_version=10, opset=21)
    write_config(repo, name, RELU_CONFIG)
    return []


@case("served-file-tampered", errors={"manifest-mismatch"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    published(repo, name, make_affine_onnx(repo.parent / f"{name}-src" / "m.onnx"))
    make_affine_onnx(repo / name / "1" / "model.onnx", features=4, batch="B")
    return []


@case("unserved-file-tampered", warnings={"manifest-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    src = make_affine_onnx(repo.parent / f"{name}-src" / "m.onnx")
    publish(src, repo, name)
    publish(src, repo, name, new_version=True)
    golden = repo / name / "1" / "manifest.json"
    body = json.loads(golden.read_text())
    body["files"]["model.onnx"]["size_bytes"] += 1
    golden.write_text(json.dumps(body))
    return []


# -- more rules, each confirmed against the real server --------------------------------


@case("duplicate-input-name", errors={"duplicate-name"})
def _(repo: Path, name: str) -> list[str]:
    io = _io().replace(
        "dims: [ 4 ] } ]", 'dims: [ 4 ] }, { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]', 1
    )
    return affine(repo, name, affine_batched(io=io))


@case("valid-dynamic-batching-without-batching", warnings={"dynamic-batching-unbatched"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx", batch=3)
    body = "max_batch_size: 0\n" + _io().replace("dims: [ 4 ]", "dims: [ 3, 4 ]")
    body = body.replace("dims: [ 1 ]", "dims: [ 3, 1 ]")
    write_config(repo, name, body + "dynamic_batching { }\n")
    return []


affine_case("output-name-empty", affine_batched(io=_io(y="")), errors={"io-name-missing"})


@case("optional-input-with-batching", errors={"input-count", "optional-input-batching"})
def _(repo: Path, name: str) -> list[str]:
    io = _io().replace("dims: [ 4 ] }", "dims: [ 4 ] optional: true }", 1)
    return affine(repo, name, affine_batched(io=io))


@case("ensemble-with-instance-group", errors={"ensemble-invalid"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step))
    path = repo / name / "config.pbtxt"
    path.write_text(path.read_text() + "instance_group [ { kind: KIND_CPU } ]\n")
    return [step]


@case("valid-batched-rank1-label-hand-written")
def _(repo: Path, name: str) -> list[str]:
    make_identity_onnx(repo / name / "1" / "model.onnx", [("x", "y", TensorProto.INT64, ["N"])])
    write_config(
        repo,
        name,
        """max_batch_size: 8
input [ { name: "x" data_type: TYPE_INT64 dims: [ 1 ] reshape { shape: [ ] } } ]
output [ { name: "y" data_type: TYPE_INT64 dims: [ 1 ] reshape { shape: [ ] } } ]
""",
    )
    return []


@case("batched-rank1-label-without-reshape", errors={"dims-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    make_identity_onnx(repo / name / "1" / "model.onnx", [("x", "y", TensorProto.INT64, ["N"])])
    write_config(
        repo,
        name,
        """max_batch_size: 8
input [ { name: "x" data_type: TYPE_INT64 dims: [ 1 ] reshape { shape: [ ] } } ]
output [ { name: "y" data_type: TYPE_INT64 dims: [ 1 ] } ]
""",
    )
    return []


@case("ensemble-batch-larger-than-step", errors={"ensemble-batch-size"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched(mbs=4))
    _ensemble(repo, name, _step(step))
    return [step]


@case("ensemble-dtype-differs-from-step", errors={"ensemble-dtype-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step))
    path = repo / name / "config.pbtxt"
    path.write_text(
        path.read_text().replace('"IN" data_type: TYPE_FP32', '"IN" data_type: TYPE_INT32')
    )
    return [step]


@case("ensemble-input-unused", errors={"ensemble-dataflow"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step))
    path = repo / name / "config.pbtxt"
    extra = '{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }, '
    extra += '{ name: "SPARE" data_type: TYPE_FP32 dims: [ 4 ] }'
    path.write_text(
        path.read_text().replace('{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }', extra)
    )
    return [step]


@case("ensemble-dims-differ-from-step", errors={"ensemble-dims-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step))
    path = repo / name / "config.pbtxt"
    path.write_text(
        path.read_text().replace(
            '"IN" data_type: TYPE_FP32 dims: [ 4 ]', '"IN" data_type: TYPE_FP32 dims: [ 5 ]'
        )
    )
    return [step]


@case("valid-ensemble-variable-dim-feeds-fixed-step")
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step))
    path = repo / name / "config.pbtxt"
    path.write_text(
        path.read_text().replace(
            '"IN" data_type: TYPE_FP32 dims: [ 4 ]', '"IN" data_type: TYPE_FP32 dims: [ -1 ]'
        )
    )
    return [step]


@case("valid-config-without-outputs", warnings={"autocomplete-io"})
def _(repo: Path, name: str) -> list[str]:
    return affine(
        repo, name, 'max_batch_size: 8\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
    )


# Triton takes a folder as a version when its name is the decimal form of a number:
# "0" is version 0, "01" is ignored.
affine_case("valid-version-zero", affine_batched(), versions=(0,))


@case("version-with-leading-zero", errors={"no-versions"}, warnings={"version-folder-ignored"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "01" / "model.onnx")
    write_config(repo, name, affine_batched())
    return []


@case("python-backend-is-not-checked", warnings={"python-runtime-unchecked"})
def _(repo: Path, name: str) -> list[str]:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / "model.py").write_text("class TritonPythonModel: ...\n")
    body = 'max_batch_size: 0\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
    (repo / name / "config.pbtxt").write_text(f'name: "{name}"\nbackend: "python"\n{body}')
    return []


def external_weights_model(path: Path) -> Path:
    import numpy as np
    from onnx import numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64])
    weights = numpy_helper.from_array(np.ones(64, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [weights]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    return path


@case("valid-generated-external-weights")
def _(repo: Path, name: str) -> list[str]:
    return published(repo, name, external_weights_model(repo.parent / f"{name}-src" / "m.onnx"))


@case("onnx-external-data-missing", errors={"onnx-external-data-missing", "manifest-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    published(repo, name, external_weights_model(repo.parent / f"{name}-src" / "m.onnx"))
    (repo / name / "1" / "weights.bin").unlink()
    return []


@case("ensemble-step-version-missing", errors={"ensemble-version-missing"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble(repo, name, _step(step).replace("model_version: -1", "model_version: 5"))
    return [step]


# -- Triton core's backend autofill (AutoCompleteBackendFields, 24.10) -----------------

NO_BACKEND = AFFINE_IO + "max_batch_size: 8\ninstance_group [ { kind: KIND_GPU count: 1 } ]\n"


def no_backend_config(repo: Path, name: str, extra: str = "") -> None:
    write_config(repo, name, f'name: "{name}"\n{extra}{NO_BACKEND}', header=False)


@case("default-model-filename-names-no-backend", errors={"backend-missing"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "net.onnx")
    no_backend_config(repo, name, 'default_model_filename: "net.onnx"\n')
    return []


# Autofill looks into the first sub-folder in name order: ".staging-..." sorts before "1".
@case("publish-leftover-hides-backend", errors={"backend-missing"}, warnings={"publish-leftover"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    (repo / name / ".staging-999999999-dead").mkdir()
    no_backend_config(repo, name)
    return []


@case("first-folder-by-name-hides-backend", errors={"backend-missing"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "9" / "model.onnx")
    (repo / name / "10").mkdir()
    no_backend_config(repo, name, "version_policy { specific { versions: [ 9 ] } }\n")
    return []


@case("platform-names-no-backend", errors={"backend-missing"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    no_backend_config(repo, name, 'platform: "onnx"\n')
    return []


@case("valid-backend-from-default-model-filename", warnings={"autocomplete-backend"})
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    no_backend_config(repo, name, 'default_model_filename: "model.onnx"\n')
    return []


PY_MODEL = "class TritonPythonModel:\n    def execute(self, requests):\n        return []\n"
PY_CONFIG = """max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""


@case("valid-python-backend-from-files", warnings={"python-runtime-unchecked"})
def _(repo: Path, name: str) -> list[str]:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / "model.py").write_text(PY_MODEL)
    write_config(repo, name, f'name: "{name}"\n{PY_CONFIG}', header=False)
    return []


# Triton 2.51's python backend never finishes this load (the model stays LOADING and then
# UNLOADING past 120 s, seen locally), which would stall the shared server: offline only.
# Core validates inputs and outputs whatever the backend (strict mode, at poll time).
@case("python-backend-dims-zero", errors={"dims-invalid"}, warnings={"python-runtime-unchecked"})
def _(repo: Path, name: str) -> list[str]:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / "model.py").write_text(PY_MODEL)
    body = PY_CONFIG.replace("dims: [ 1 ] } ]\noutput", "dims: [ 0 ] } ]\noutput")
    write_config(repo, name, f'name: "{name}"\nbackend: "python"\n{body}', header=False)
    return []


@case("python-model-file-missing", errors={"model-file-missing"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / "model.py").write_text(PY_MODEL)
    body = f'name: "{name}"\nbackend: "python"\ndefault_model_filename: "net.py"\n{PY_CONFIG}'
    write_config(repo, name, body, header=False)
    return []


# The local server has no tensorrt backend: it refuses every plan, so only the offline
# verdict is checked.
@case("tensorrt-plan-missing", errors={"model-file-missing"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    no_backend_config(repo, name, 'platform: "tensorrt_plan"\n')
    return []


# -- files a config names --------------------------------------------------------------


def _with_labels(repo: Path, name: str, where: str | None) -> list[str]:
    io = AFFINE_IO.replace("dims: [ 1 ] }", 'dims: [ 1 ] label_filename: "labels.txt" }')
    affine(repo, name, affine_batched(io=io))
    if where is not None:
        (repo / name / where).write_text("cat\ndog\n")
    return []


@case("valid-label-file")
def _(repo: Path, name: str) -> list[str]:
    return _with_labels(repo, name, "labels.txt")


# Triton 24.10 reads a label file outside the model folder (newer cores refuse it).
@case("valid-label-file-outside-model-folder", warnings={"label-file-outside"})
def _(repo: Path, name: str) -> list[str]:
    io = AFFINE_IO.replace("dims: [ 1 ] }", f'dims: [ 1 ] label_filename: "../{name}.txt" }}')
    affine(repo, name, affine_batched(io=io))
    (repo / f"{name}.txt").write_text("cat\ndog\n")
    return []


@case("label-file-missing", errors={"label-file-missing"})
def _(repo: Path, name: str) -> list[str]:
    return _with_labels(repo, name, None)


@case("label-file-in-version-folder", errors={"label-file-missing"})
def _(repo: Path, name: str) -> list[str]:
    return _with_labels(repo, name, "1/labels.txt")


WARMUP_FILE = """model_warmup [ { name: "w" batch_size: 1 inputs { key: "x"
  value { data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "x.bin" } } } ]
"""


def _with_warmup(repo: Path, name: str, size_bytes: int | None) -> list[str]:
    affine(repo, name, affine_batched(WARMUP_FILE))
    if size_bytes is not None:
        (repo / name / "warmup").mkdir()
        (repo / name / "warmup" / "x.bin").write_bytes(b"\0" * size_bytes)
    return []


@case("valid-warmup-data-file")
def _(repo: Path, name: str) -> list[str]:
    return _with_warmup(repo, name, 16)


@case("warmup-data-missing", errors={"warmup-data-missing"})
def _(repo: Path, name: str) -> list[str]:
    return _with_warmup(repo, name, None)


@case("warmup-data-short", errors={"warmup-data-short"})
def _(repo: Path, name: str) -> list[str]:
    return _with_warmup(repo, name, 8)


# Read only by a GPU instance on a GPU of that compute capability: never by the local server.
@case("cc-model-file-missing", errors={"cc-model-file-missing"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    return affine(
        repo, name, affine_batched('cc_model_filenames { key: "8.0" value: "a100.onnx" }\n')
    )


# -- a server with auto-complete on (validate --auto-complete) -------------------------


@case(
    "auto-valid-no-config",
    warnings={"autocomplete-config", "autocomplete-io"},
    auto_complete=True,
)
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx")
    return []


affine_case(
    "auto-valid-config-without-io",
    "instance_group [ { kind: KIND_GPU count: 1 } ]\n",
    warnings={"autocomplete-io"},
    auto_complete=True,
)


@case("auto-valid-unbatched-graph-no-config", auto_complete=True)
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx", batch=3)
    return []


@case("auto-batching-graph-cannot-batch", errors={"autocomplete-batching"}, auto_complete=True)
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx", batch=3)
    write_config(repo, name, "max_batch_size: 8\n")
    return []


@case("auto-no-config-no-model-file", errors={"backend-missing"}, auto_complete=True)
def _(repo: Path, name: str) -> list[str]:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / "weights.bin").write_bytes(b"\0")
    return []


@case("auto-strict-rules-still-apply", errors={"label-file-missing"}, auto_complete=True)
def _(repo: Path, name: str) -> list[str]:
    return _with_labels(repo, name, None)
