"""The second corpus: repositories that use the rest of the config schema, by area.

Same contract as ``tests.support.corpus`` (a ``Case`` builds one model plus its dependencies and
names the error codes the validator must report; none means Triton loads it), for six
areas, each case id starting with its area: ``versions`` (core's ``std::stoll`` parse of
folder names), ``python`` (the real python backend), ``warmup`` (warmup entries as
requests), ``core`` (``ValidateModelConfig`` / ``ValidateInstanceGroup`` /
``ValidateModelInput`` / ``ValidateBatchIO``), ``ensemble`` (``ValidateEnsembleConfig``)
and ``ort`` (the onnxruntime backend's parameters and sequence controls).

``core`` cases are loaded into the real local Triton by
``tests/integration/test_schema_agreement.py``. The ``ort`` cases load through the CPU
stand-in, which shares ``orchestrator.core.load_rules`` with the validator: the rules
there cite the real backend's source lines, and the stand-in can show only that a
refusal stops the load, not that the real backend refuses; the cases the stand-in cannot
show at all (GPU accelerators, warmup inputs the graph lacks) are offline only
(``core=False``), with the source named beside them.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

from onnx import TensorProto

from tests.support.corpus import AFFINE_IO, Builder, Case, affine, affine_batched, write_config
from tests.support.onnx_models import make_affine_onnx, make_identity_onnx

AREAS = ("versions", "python", "warmup", "core", "ensemble", "ort")
SCHEMA_CASES: list[Case] = []


def case(
    id: str, errors: set[str] | None = None, warnings: set[str] | None = None, core: bool = True
) -> Callable[[Builder], Builder]:
    assert id.split("-", 1)[0] in AREAS, id

    def register(build: Builder) -> Builder:
        SCHEMA_CASES.append(
            Case(id, build, frozenset(errors or ()), frozenset(warnings or ()), core)
        )
        return build

    return register


def area_of(case: Case) -> str:
    return case.id.split("-", 1)[0]


# -- versions: core r24.10 model_lifecycle.cc VersionsToLoad (std::stoll prefix parse) ----


def _versions(repo: Path, name: str, folders: dict[str, bool], extra: str = "") -> list[str]:
    """A batching affine model whose version folders are named ``folders`` (True: has a model)."""
    for folder, has_model in folders.items():
        (repo / name / folder).mkdir(parents=True)
        if has_model:
            make_affine_onnx(repo / name / folder / "model.onnx")
    write_config(repo, name, affine_batched(extra))
    return []


@case("versions-valid-suffix-beside-its-number")
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"1": True, "1a": False})


@case("versions-suffix-only", errors={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"1a": True})


@case("versions-plus-sign", errors={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"+1": True})


@case("versions-leading-space", errors={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {" 1": True})


@case("versions-decimal-point", errors={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"1.5": True})


# "2a" is version 2, the latest, which Triton then looks for in "2/".
@case("versions-suffix-is-the-latest", errors={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"1": True, "2a": False})


@case("versions-valid-suffix-older-than-served", warnings={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"2": True, "1a": False})


# VersionsToLoad skips "warmup" (and "initial_state", "configs") before parsing names.
@case("versions-valid-warmup-folder-skipped")
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"1": True, "warmup": False})


# Version -1 reaches the backend as a uint64: it looks in "18446744073709551615/".
@case("versions-negative-number", errors={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"-1": True})


@case("versions-valid-negative-number-not-served", warnings={"version-folder-misnamed"})
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"1": True, "-1": True})


# std::stoll throws std::out_of_range, which VersionsToLoad does not catch: offline only,
# so that the shared server is not put at risk.
@case("versions-out-of-int64-range", errors={"version-out-of-range"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    return _versions(repo, name, {"1": True, "99999999999999999999": False})


# -- python: python_backend r24.10 (python_be.cc, stub_launcher.cc, pb_env.cc, pb_stub.cc) ---

ECHO_MODEL = """import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x")
            y = pb_utils.Tensor("y", x.as_numpy())
            responses.append(pb_utils.InferenceResponse(output_tensors=[y]))
        return responses
"""
PY_IO = """max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""


def python_model(
    repo: Path,
    name: str,
    source: str = ECHO_MODEL,
    extra: str = "",
    filename: str = "model.py",
) -> Path:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / filename).write_text(source)
    header = f'name: "{name}"\nbackend: "python"\n'
    if filename != "model.py":
        header += f'default_model_filename: "{filename}"\n'
    write_config(repo, name, header + PY_IO + extra, header=False)
    return repo / name


def _parameter(key: str, value: str) -> str:
    return f'parameters {{ key: "{key}" value {{ string_value: "{value}" }} }}\n'


PY_WARN = {"python-runtime-unchecked"}


@case("python-valid-echo", warnings=PY_WARN)
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name)
    return []


@case("python-syntax-error", errors={"python-model-syntax"})
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, ECHO_MODEL.replace("def execute(self, requests):", "def execute("))
    return []


@case("python-class-missing", errors={"python-model-class-missing"})
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, ECHO_MODEL.replace("class TritonPythonModel", "class Model"))
    return []


# The stub puts the version folder on sys.path: a class imported from a helper is found.
@case("python-valid-class-imported-from-helper", warnings=PY_WARN)
def _(repo: Path, name: str) -> list[str]:
    folder = python_model(repo, name, "from helper_echo import TritonPythonModel  # noqa\n")
    (folder / "1" / "helper_echo.py").write_text(ECHO_MODEL)
    return []


@case("python-valid-star-import", warnings={"python-model-class-unchecked", *PY_WARN})
def _(repo: Path, name: str) -> list[str]:
    folder = python_model(repo, name, "from helper_echo import *  # noqa\n")
    (folder / "1" / "helper_echo.py").write_text(ECHO_MODEL)
    return []


@case("python-model-file-is-a-folder", errors={"model-file-missing"})
def _(repo: Path, name: str) -> list[str]:
    folder = python_model(repo, name)
    (folder / "1" / "model.py").unlink()
    (folder / "1" / "model.py").mkdir()
    return []


@case("python-valid-default-model-filename", warnings=PY_WARN)
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, filename="net.py")
    return []


# pb_stub.cc StubSetup imports "<version>.<name without .py>": "1.my.net" is no module.
@case("python-default-model-filename-dotted", errors={"python-model-name-invalid"})
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, filename="my.net.py")
    return []


@case("python-force-cpu-only-true", errors={"python-parameter-invalid"})
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, extra=_parameter("FORCE_CPU_ONLY_INPUT_TENSORS", "true"))
    return []


@case("python-valid-force-cpu-only-no", warnings=PY_WARN)
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, extra=_parameter("FORCE_CPU_ONLY_INPUT_TENSORS", "no"))
    return []


ENV = "$$TRITON_MODEL_DIRECTORY"


@case("python-environment-missing", errors={"python-environment-invalid"})
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, extra=_parameter("EXECUTION_ENV_PATH", f"{ENV}/env.tar.gz"))
    return []


@case("python-valid-environment-folder", warnings=PY_WARN)
def _(repo: Path, name: str) -> list[str]:
    folder = python_model(repo, name, extra=_parameter("EXECUTION_ENV_PATH", f"{ENV}/env"))
    (folder / "env" / "bin").mkdir(parents=True)
    (folder / "env" / "bin" / "activate").write_text("# an environment that changes nothing\n")
    return []


@case("python-environment-folder-without-activate", errors={"python-environment-invalid"})
def _(repo: Path, name: str) -> list[str]:
    folder = python_model(repo, name, extra=_parameter("EXECUTION_ENV_PATH", f"{ENV}/env"))
    (folder / "env" / "lib").mkdir(parents=True)
    return []


def _archive(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@case("python-valid-environment-archive", warnings=PY_WARN)
def _(repo: Path, name: str) -> list[str]:
    folder = python_model(repo, name, extra=_parameter("EXECUTION_ENV_PATH", f"{ENV}/env.tar.gz"))
    _archive(folder / "env.tar.gz", {"bin/activate": b"# nothing to activate\n"})
    return []


@case("python-environment-archive-without-activate", errors={"python-environment-invalid"})
def _(repo: Path, name: str) -> list[str]:
    folder = python_model(repo, name, extra=_parameter("EXECUTION_ENV_PATH", f"{ENV}/env.tar.gz"))
    _archive(folder / "env.tar.gz", {"lib/readme.txt": b"no activate here\n"})
    return []


# -- warmup: core r24.10 backend_model_instance.cc GenerateWarmupData + infer_request.cc ----


def _warmup(inputs: str, batch_size: int = 1) -> str:
    return f'model_warmup [ {{ name: "w" batch_size: {batch_size} {inputs} }} ]\n'


def _warmup_input(name: str, value: str) -> str:
    return f'inputs {{ key: "{name}" value {{ {value} }} }}'


X_ZERO = _warmup_input("x", "data_type: TYPE_FP32 dims: [ 4 ] zero_data: true")


@case("warmup-valid-zero-data")
def _(repo: Path, name: str) -> list[str]:
    return affine(repo, name, affine_batched(_warmup(X_ZERO)))


# "Skipping batch 0 warmup sample": nothing in the entry is looked at.
@case("warmup-valid-batch-size-zero-skips-entry")
def _(repo: Path, name: str) -> list[str]:
    bad = _warmup_input("x", "data_type: TYPE_INT8 dims: [ 9 ] zero_data: true")
    return affine(repo, name, affine_batched(_warmup(bad, batch_size=0)))


@case("warmup-without-inputs", errors={"warmup-input-missing"})
def _(repo: Path, name: str) -> list[str]:
    return affine(repo, name, affine_batched(_warmup("")))


@case("warmup-dtype-differs", errors={"warmup-invalid"})
def _(repo: Path, name: str) -> list[str]:
    value = _warmup_input("x", "data_type: TYPE_INT32 dims: [ 4 ] zero_data: true")
    return affine(repo, name, affine_batched(_warmup(value)))


@case("warmup-dims-differ", errors={"warmup-invalid"})
def _(repo: Path, name: str) -> list[str]:
    value = _warmup_input("x", "data_type: TYPE_FP32 dims: [ 5 ] random_data: true")
    return affine(repo, name, affine_batched(_warmup(value)))


@case("warmup-dims-include-batch", errors={"warmup-invalid"})
def _(repo: Path, name: str) -> list[str]:
    value = _warmup_input("x", "data_type: TYPE_FP32 dims: [ 1, 4 ] zero_data: true")
    return affine(repo, name, affine_batched(_warmup(value)))


@case("warmup-no-data-source", errors={"warmup-invalid"})
def _(repo: Path, name: str) -> list[str]:
    value = _warmup_input("x", "data_type: TYPE_FP32 dims: [ 4 ]")
    return affine(repo, name, affine_batched(_warmup(value)))


def _variable(repo: Path, name: str, warmup_dims: str) -> list[str]:
    make_identity_onnx(
        repo / name / "1" / "model.onnx", [("x", "y", TensorProto.FLOAT, ["N", "F"])]
    )
    value = _warmup_input("x", f"data_type: TYPE_FP32 dims: [ {warmup_dims} ] zero_data: true")
    write_config(
        repo,
        name,
        """max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
"""
        + _warmup(value),
    )
    return []


@case("warmup-variable-dim-left-open", errors={"warmup-invalid"})
def _(repo: Path, name: str) -> list[str]:
    return _variable(repo, name, "-1")


@case("warmup-valid-variable-dim-given")
def _(repo: Path, name: str) -> list[str]:
    return _variable(repo, name, "3")


@case("warmup-valid-unbatched-full-dims")
def _(repo: Path, name: str) -> list[str]:
    make_affine_onnx(repo / name / "1" / "model.onnx", batch=3)
    io = AFFINE_IO.replace("dims: [ 4 ]", "dims: [ 3, 4 ]").replace("dims: [ 1 ]", "dims: [ 3, 1 ]")
    value = _warmup_input("x", "data_type: TYPE_FP32 dims: [ 3, 4 ] zero_data: true")
    write_config(repo, name, "max_batch_size: 0\n" + io + _warmup(value))
    return []


def _string_warmup(repo: Path, name: str, elements: list[bytes]) -> list[str]:
    make_identity_onnx(repo / name / "1" / "model.onnx", [("t", "u", TensorProto.STRING, ["N", 1])])
    value = _warmup_input("t", 'data_type: TYPE_STRING dims: [ 1 ] input_data_file: "t.bin"')
    write_config(
        repo,
        name,
        """max_batch_size: 4
input [ { name: "t" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "u" data_type: TYPE_STRING dims: [ 1 ] } ]
"""
        + _warmup(value),
    )
    (repo / name / "warmup").mkdir()
    data = b"".join(len(e).to_bytes(4, "little") + e for e in elements)
    (repo / name / "warmup" / "t.bin").write_bytes(data)
    return []


@case("warmup-valid-string-file")
def _(repo: Path, name: str) -> list[str]:
    return _string_warmup(repo, name, [b"hello"])


@case("warmup-string-file-two-elements", errors={"warmup-data-invalid"})
def _(repo: Path, name: str) -> list[str]:
    return _string_warmup(repo, name, [b"hello", b"world"])


@case("warmup-python-model-lacks-input", errors={"warmup-input-missing"})
def _(repo: Path, name: str) -> list[str]:
    python_model(repo, name, extra=_warmup(""))
    return []


@case("warmup-valid-python-model", warnings=PY_WARN)
def _(repo: Path, name: str) -> list[str]:
    value = _warmup_input("x", "data_type: TYPE_FP32 dims: [ 1 ] zero_data: true")
    python_model(repo, name, extra=_warmup(value))
    return []


# An unknown name is an override input that core hands to the backend as it is: the python
# model here ignores it; the real onnxruntime backend feeds it to ONNX Runtime, which
# refuses it (onnxruntime.cc SetInputTensors), and the stand-in ignores it: offline only.
@case("warmup-valid-python-extra-input", warnings={"warmup-input-unknown", *PY_WARN})
def _(repo: Path, name: str) -> list[str]:
    value = _warmup_input("x", "data_type: TYPE_FP32 dims: [ 1 ] zero_data: true")
    extra = _warmup_input("extra", "data_type: TYPE_FP32 dims: [ 1 ] zero_data: true")
    python_model(repo, name, extra=_warmup(f"{value} {extra}"))
    return []


@case("warmup-onnx-extra-input", errors={"warmup-input-unknown"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    extra = _warmup_input("extra", "data_type: TYPE_FP32 dims: [ 4 ] zero_data: true")
    return affine(repo, name, affine_batched(_warmup(f"{X_ZERO} {extra}")))


# ValidateEnsembleSchedulingConfig: an ensemble has no instances to warm up.
@case("warmup-on-an-ensemble", errors={"ensemble-invalid"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble_config(repo, name, _map(step, {"x": "IN"}, {"s": "OUT"}))
    warmup = _warmup(_warmup_input("IN", "data_type: TYPE_FP32 dims: [ 4 ] zero_data: true"))
    path = repo / name / "config.pbtxt"
    path.write_text(path.read_text() + warmup)
    return [step]


# -- core: model_config_utils.cc ValidateModelConfig / ValidateInstanceGroup / ... ---------


def _core(repo: Path, name: str, extra: str, io: str = AFFINE_IO) -> list[str]:
    return affine(repo, name, affine_batched(extra, io=io))


@case("core-valid-priority-levels")
def _(repo: Path, name: str) -> list[str]:
    return _core(repo, name, "dynamic_batching { priority_levels: 2 default_priority_level: 1 }\n")


@case("core-default-priority-level-zero", errors={"priority-invalid"})
def _(repo: Path, name: str) -> list[str]:
    return _core(repo, name, "dynamic_batching { priority_levels: 2 }\n")


@case("core-queue-policy-level-out-of-range", errors={"priority-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = """dynamic_batching { priority_levels: 2 default_priority_level: 1
  priority_queue_policy { key: 3 value { max_queue_size: 4 } } }
"""
    return _core(repo, name, extra)


@case("core-preserve-ordering-with-priorities", errors={"preserve-ordering-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = "dynamic_batching { preserve_ordering: true priority_levels: 2 "
    extra += "default_priority_level: 1 }\n"
    return _core(repo, name, extra)


@case("core-preserve-ordering-delay-policy", errors={"preserve-ordering-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = """dynamic_batching { preserve_ordering: true
  default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 100 } }
"""
    return _core(repo, name, extra)


@case("core-valid-preserve-ordering-reject-policy")
def _(repo: Path, name: str) -> list[str]:
    extra = """dynamic_batching { preserve_ordering: true
  default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 100 } }
"""
    return _core(repo, name, extra)


@case("core-profile-on-onnx-model", errors={"instance-group-invalid"})
def _(repo: Path, name: str) -> list[str]:
    body = affine_batched().replace("count: 1 }", 'count: 1 profile: [ "0" ] }')
    return affine(repo, name, body)


@case("core-model-kind-lists-gpus", errors={"instance-group-gpus"})
def _(repo: Path, name: str) -> list[str]:
    body = affine_batched().replace(
        "{ kind: KIND_GPU count: 1 }", "{ kind: KIND_MODEL gpus: [ 0 ] }"
    )
    return affine(repo, name, body)


@case("core-nhwc-input-without-three-dims", errors={"io-format-invalid"})
def _(repo: Path, name: str) -> list[str]:
    io = AFFINE_IO.replace("dims: [ 4 ] } ]", "dims: [ 4 ] format: FORMAT_NHWC } ]", 1)
    return _core(repo, name, "", io=io)


@case("core-shape-tensor-on-onnx-model", errors={"io-flag-invalid"})
def _(repo: Path, name: str) -> list[str]:
    io = AFFINE_IO.replace("dims: [ 4 ] } ]", "dims: [ 4 ] is_shape_tensor: true } ]", 1)
    return _core(repo, name, "", io=io)


@case("core-batch-input-unknown-source", errors={"batch-io-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = """batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: "n" data_type: TYPE_FP32
  source_input: "nope" } ]
"""
    return _core(repo, name, extra)


@case("core-corrid-control-fp32", errors={"sequence-control-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = """sequence_batching { control_input [ { name: "CORRID"
  control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32 } ] } ] }
"""
    return _core(repo, name, extra)


@case("core-valid-sequence-batching-without-controls")
def _(repo: Path, name: str) -> list[str]:
    return _core(repo, name, "sequence_batching { }\n")


@case("core-oldest-preferred-size-above-max", errors={"preferred-batch-size"})
def _(repo: Path, name: str) -> list[str]:
    return _core(repo, name, "sequence_batching { oldest { preferred_batch_size: [ 16 ] } }\n")


@case("core-response-cache-with-sequence-batching", errors={"response-cache-invalid"})
def _(repo: Path, name: str) -> list[str]:
    return _core(repo, name, "sequence_batching { }\nresponse_cache { enable: true }\n")


@case("core-response-cache-with-decoupled-model", errors={"response-cache-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = "model_transaction_policy { decoupled: true }\nresponse_cache { enable: true }\n"
    return _core(repo, name, extra)


@case("core-direct-slot-utilization-above-one", errors={"sequence-batching-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = "sequence_batching { direct { minimum_slot_utilization: 1.5 } }\n"
    return _core(repo, name, extra)


@case("core-start-control-two-value-lists", errors={"sequence-control-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = """sequence_batching { control_input [ { name: "START" control [ {
  kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] fp32_false_true: [ 0, 1 ] } ] } ] }
"""
    return _core(repo, name, extra)


@case("core-batch-output-unknown-target", errors={"batch-io-invalid"})
def _(repo: Path, name: str) -> list[str]:
    extra = """batch_output [ { kind: BATCH_SCATTER_WITH_INPUT_SHAPE target_name: "nope"
  source_input: "x" } ]
"""
    return _core(repo, name, extra)


# -- ensemble: core r24.10 ensemble_utils.cc ValidateEnsembleConfig / ValidateTensorMapping --


def _ensemble_config(
    repo: Path,
    name: str,
    steps: str,
    inputs: str = '{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }',
    outputs: str = '{ name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] }',
    max_batch_size: int = 8,
) -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(
        f"""name: "{name}"
platform: "ensemble"
max_batch_size: {max_batch_size}
input [ {inputs} ]
output [ {outputs} ]
ensemble_scheduling {{ step [ {steps} ] }}
"""
    )


def _map(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    ins = " ".join(f'input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items())
    outs = " ".join(f'output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items())
    return f'{{ model_name: "{model}" model_version: -1 {ins} {outs} }}'


UNBATCHED_AFFINE = """max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 4 ] } ]
output [
  { name: "y" data_type: TYPE_FP32 dims: [ -1, 4 ] },
  { name: "s" data_type: TYPE_FP32 dims: [ -1, 1 ] }
]
instance_group [ { kind: KIND_GPU count: 1 } ]
"""


# "batchable ensemble can include non-batchable models as long as the expanded shapes are
# consistent": [-1, 4] for the step is [-1, 4] for the batching ensemble's [4].
@case("ensemble-valid-unbatched-step-in-batching-ensemble")
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, UNBATCHED_AFFINE)
    _ensemble_config(repo, name, _map(step, {"x": "IN"}, {"s": "OUT"}))
    return [step]


@case("ensemble-unbatched-ranks-differ", errors={"ensemble-dims-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, UNBATCHED_AFFINE)
    _ensemble_config(repo, name, _map(step, {"x": "IN"}, {"s": "OUT"}), max_batch_size=0)
    return [step]


# The ensemble's own tensors are compared by their reshape.
@case("ensemble-valid-reshaped-ensemble-input")
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    affine(repo, step, affine_batched())
    reshaped = '{ name: "IN" data_type: TYPE_FP32 dims: [ 2, 2 ] reshape { shape: [ 4 ] } }'
    _ensemble_config(repo, name, _map(step, {"x": "IN"}, {"s": "OUT"}), inputs=reshaped)
    return [step]


@case("ensemble-valid-two-steps")
def _(repo: Path, name: str) -> list[str]:
    first, second = f"{name}_a", f"{name}_b"
    affine(repo, first, affine_batched())
    affine(repo, second, affine_batched())
    steps = _map(first, {"x": "IN"}, {"y": "MID"}) + ", " + _map(second, {"x": "MID"}, {"s": "OUT"})
    _ensemble_config(repo, name, steps)
    return [first, second]


@case("ensemble-intermediate-dims-differ", errors={"ensemble-dims-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    first, second = f"{name}_a", f"{name}_b"
    affine(repo, first, affine_batched())
    affine(repo, second, affine_batched())
    steps = _map(first, {"x": "IN"}, {"s": "MID"}) + ", " + _map(second, {"x": "MID"}, {"s": "OUT"})
    _ensemble_config(repo, name, steps)
    return [first, second]


@case("ensemble-intermediate-dtype-differs", errors={"ensemble-dtype-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    first, second = f"{name}_a", f"{name}_b"
    affine(repo, first, affine_batched())
    make_identity_onnx(
        repo / second / "1" / "model.onnx", [("x", "s", TensorProto.INT64, ["N", 4])]
    )
    write_config(
        repo,
        second,
        """max_batch_size: 8
input [ { name: "x" data_type: TYPE_INT64 dims: [ 4 ] } ]
output [ { name: "s" data_type: TYPE_INT64 dims: [ 4 ] } ]
""",
    )
    steps = _map(first, {"x": "IN"}, {"y": "MID"}) + ", " + _map(second, {"x": "MID"}, {"s": "OUT"})
    _ensemble_config(repo, name, steps, outputs='{ name: "OUT" data_type: TYPE_INT64 dims: [ 4 ] }')
    return [first, second]


@case("ensemble-step-input-unmapped", errors={"ensemble-input-unmapped"})
def _(repo: Path, name: str) -> list[str]:
    step = f"{name}_step"
    make_identity_onnx(
        repo / step / "1" / "model.onnx",
        [("a", "b", TensorProto.FLOAT, ["N", 4]), ("c", "d", TensorProto.FLOAT, ["N", 1])],
    )
    write_config(
        repo,
        step,
        """max_batch_size: 8
input [ { name: "a" data_type: TYPE_FP32 dims: [ 4 ] },
        { name: "c" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "b" data_type: TYPE_FP32 dims: [ 4 ] },
         { name: "d" data_type: TYPE_FP32 dims: [ 1 ] } ]
""",
    )
    _ensemble_config(repo, name, _map(step, {"a": "IN"}, {"d": "OUT"}))
    return [step]


def _nested(repo: Path, name: str, outer_dims: str) -> list[str]:
    inner, step = f"{name}_inner", f"{name}_step"
    affine(repo, step, affine_batched())
    _ensemble_config(repo, inner, _map(step, {"x": "IN"}, {"s": "OUT"}))
    _ensemble_config(
        repo,
        name,
        _map(inner, {"IN": "A"}, {"OUT": "B"}),
        inputs=f'{{ name: "A" data_type: TYPE_FP32 dims: [ {outer_dims} ] }}',
        outputs='{ name: "B" data_type: TYPE_FP32 dims: [ 1 ] }',
    )
    return [step, inner]


@case("ensemble-valid-nested")
def _(repo: Path, name: str) -> list[str]:
    return _nested(repo, name, "4")


@case("ensemble-nested-dims-differ", errors={"ensemble-dims-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    return _nested(repo, name, "5")


# -- ort: onnxruntime_backend r24.10 src/onnxruntime.cc, backend r24.10 backend_common.cc --


def _ort(repo: Path, name: str, extra: str) -> list[str]:
    return affine(repo, name, affine_batched(extra))


def _accelerator(device: str, name: str) -> str:
    accelerators = f'{device}_execution_accelerator [ {{ name: "{name}" }} ]'
    return f"optimization {{ execution_accelerators {{ {accelerators} }} }}\n"


# ParseBoolValue (backend_common.cc) lower-cases: "ON" is true.
@case("ort-valid-mem-arena-upper-case-on")
def _(repo: Path, name: str) -> list[str]:
    return _ort(repo, name, _parameter("enable_mem_arena", "ON"))


@case("ort-mem-arena-yes", errors={"parameter-invalid"})
def _(repo: Path, name: str) -> list[str]:
    return _ort(repo, name, _parameter("enable_mem_arena", "yes"))


@case("ort-mem-pattern-empty", errors={"parameter-invalid"})
def _(repo: Path, name: str) -> list[str]:
    return _ort(repo, name, _parameter("enable_mem_pattern", ""))


@case("ort-cpu-accelerator-unknown", errors={"accelerator-unknown"})
def _(repo: Path, name: str) -> list[str]:
    return _ort(repo, name, _accelerator("cpu", "tensorrt"))


# Read for GPU instances only: the CPU-only local server never reads the list.
@case("ort-gpu-accelerator-unknown", errors={"accelerator-unknown"}, core=False)
def _(repo: Path, name: str) -> list[str]:
    return _ort(repo, name, _accelerator("gpu", "openvino"))


def _sequence(repo: Path, name: str, graph_start: int | None, control: str) -> list[str]:
    tensors: list[tuple[str, str, int, list[int | str | None]]] = [
        ("x", "y", TensorProto.FLOAT, ["N", 4])
    ]
    if graph_start is not None:
        tensors.append(("START", "start_out", graph_start, ["N", 1]))
    make_identity_onnx(repo / name / "1" / "model.onnx", tensors)
    write_config(
        repo,
        name,
        f"""max_batch_size: 8
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }} ]
output [ {{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] }} ]
sequence_batching {{ control_input [ {{ name: "START"
  control [ {{ kind: CONTROL_SEQUENCE_START {control} }} ] }} ] }}
""",
    )
    return []


# The control tensor is a graph input the config does not list: counted, not an extra.
@case("ort-valid-sequence-control-counted")
def _(repo: Path, name: str) -> list[str]:
    return _sequence(repo, name, TensorProto.INT32, "int32_false_true: [ 0, 1 ]")


@case("ort-sequence-control-not-in-graph", errors={"sequence-control-missing", "input-count"})
def _(repo: Path, name: str) -> list[str]:
    return _sequence(repo, name, None, "int32_false_true: [ 0, 1 ]")


@case("ort-sequence-control-dtype-differs", errors={"sequence-control-invalid"})
def _(repo: Path, name: str) -> list[str]:
    return _sequence(repo, name, TensorProto.INT32, "fp32_false_true: [ 0, 1 ]")


def _ragged(repo: Path, name: str, shape: list[int | str | None]) -> list[str]:
    make_identity_onnx(repo / name / "1" / "model.onnx", [("x", "y", TensorProto.FLOAT, shape)])
    write_config(
        repo,
        name,
        """max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] allow_ragged_batch: true } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [ ] } } ]
dynamic_batching { }
""",
    )
    return []


# ValidateInputs: a ragged input's graph shape must be [-1]; its config dims are not compared
# (without allow_ragged_batch, [-1] + [-1] against the graph's [N] is a dims mismatch).
@case("ort-valid-ragged-input-flat-in-graph")
def _(repo: Path, name: str) -> list[str]:
    return _ragged(repo, name, ["N"])


@case("ort-ragged-input-two-dims-in-graph", errors={"ragged-input-invalid", "dims-mismatch"})
def _(repo: Path, name: str) -> list[str]:
    return _ragged(repo, name, ["N", "F"])
