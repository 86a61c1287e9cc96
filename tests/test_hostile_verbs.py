"""Every verb that reads hostile input ends in time, exit 1 or 2, no traceback, in 4 GB.

Issue 23's "done when": for every verb, hostile files, store objects, kubectl outputs and
HTTP answers of each class end within the verb's deadline plus a few seconds, with exit
1 or 2, a clear message and no traceback, under a 4 GB address-space limit. Each case
runs the CLI in a child process with ``RLIMIT_AS`` at 4 GB (a 1 KB file that makes the
tool allocate 10 GB is a MemoryError there, not a slow machine), and checks its exit
status, its stderr (the expected words, no traceback) and its time from the moment the
CLI starts (after the child's imports).

The classes: store objects (``file://``) nested deeply, holding ``1e400``, a FIFO, or
larger than any document the tool writes (sparse); gates files that are YAML alias bombs
or FIFOs; golden files whose array header declares billions of elements; HTTP answers
trickled a byte at a time by a real loopback server (tests/support/trickle_server.py); and
kubectl outputs that are not UTF-8, huge, nested deeply, or of the wrong shape, given by
the recording runner (rehearsal/recording.py, injected as the CLI's ``obj``) decoded
with replacement exactly as ``SubprocessKubectl._read`` decodes the real kubectl's bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from orchestrator.releases.environments import environment_key, set_environment
from orchestrator.releases.manifest import RELEASE_FILENAME, release_prefix
from orchestrator.releases.stores import open_store
from orchestrator.releases.version_registry import registry_key
from rehearsal.recording import deployment_json, pods_json
from tests.deploy.conftest import MANIFESTS, make_release
from tests.support.fork_server import ForkServer
from tests.support.trickle_server import HEAD, trickle

pytestmark = pytest.mark.timeout(600)

LIMIT_BYTES = 4 << 30
# On top of each verb's deadline: the real kubectl's kustomize and the verb's own work on
# a busy 2-core machine (a child's imports are not counted: its clock starts after them).
SLACK_S = 8.0
MODEL = "deploy_ok"

# -- hostile payloads ----------------------------------------------------------------------

DEEP_JSON = b'{"format": 1, "id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
HUGE_NUMBER_JSON = b'{"format": 2, "environment": "staging", "release": "x", "n": 1e400}'
REGISTRY_1E400 = (
    b'{"format": 1, "model": "deploy_ok", "versions": {"1": {"files": {"model.onnx": '
    b'{"sha256": "' + b"0" * 64 + b'", "size_bytes": 1e400}}}}}'
)
ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    + "defaults:\n  p99_ms: *i\n"
)
KUBECTL_OUTPUTS = {
    "not-utf8": b"\xff\xfe\x1b[31m\x07" * 4096,
    "huge": b'{"kind": "Deployment", "x": "' + b"a" * (40 << 20) + b'"}',
    "deep": b'{"kind": "Deployment", "status": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "1e400": json.dumps(
        {
            "kind": "Deployment",
            "metadata": {"name": "triton", "generation": 1e400},
            "spec": {"replicas": "1e400", "template": {"metadata": {"annotations": []}}},
            "status": {"replicas": 1e400, "readyReplicas": 1e400},
        }
    ).encode(),
    "wrong-shape": json.dumps(
        {
            "kind": "Deployment",
            "metadata": ["triton"],
            "spec": "x",
            "status": {"conditions": "Progressing", "replicas": [2], "observedGeneration": {}},
        }
    ).encode(),
}


def _npy_header_bomb() -> bytes:
    """A golden.npz of about 1 KB whose input array declares 50000 x 50000 float32."""
    import io
    import struct
    import zipfile

    text = repr({"descr": "<f4", "fortran_order": False, "shape": (50_000, 50_000)}).encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + b"\0" * 64
    ok = io.BytesIO()
    np.save(ok, np.ones((1, 4), np.float32))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("inputs/x.npy", member)
        out.writestr("outputs/y.npy", ok.getvalue())
    return buffer.getvalue()


# -- the world each case starts from ---------------------------------------------------------


@dataclass
class World:
    """A store with releases old and new (staging runs old, production none), and files."""

    root: Path
    old: str
    new: str

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def store(self) -> str:
        return self.store_dir.as_uri()

    def release_file(self, release: str) -> Path:
        return self.store_dir / (release_prefix(release) + RELEASE_FILENAME)

    def pointer(self, environment: str = "staging") -> Path:
        return self.store_dir / environment_key(environment)

    def put(self, path: Path, data: bytes | str) -> None:
        """Replace ``path`` with ``data``, or with a FIFO / a sparse 8 GiB file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            path.chmod(0o644)
            path.unlink()
        if data == "fifo":
            os.mkfifo(path)
        elif data == "sparse":
            with path.open("wb") as handle:
                handle.truncate(8 << 30)
        else:
            path.write_bytes(data if isinstance(data, bytes) else data.encode())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("world")
    store = open_store((root / "store").as_uri())
    old = make_release(root / "old", store, MODEL, offset=1.0)
    new = make_release(root / "new", store, MODEL, offset=1.0 + 2**-4)
    set_environment(store, "staging", old)
    set_environment(store, "staging", new)
    set_environment(store, "staging", old)  # previous: new, so rollback has a target
    np.save(root / "x.npy", np.ones((1, 4), np.float32))
    (root / "gates-ok.yaml").write_text("defaults:\n  concurrency: [1]\n  max_windows: 3\n")
    (root / "bomb.npz").write_bytes(_npy_header_bomb())
    return World(root, old, new)


@pytest.fixture
def world(template: World, tmp_path: Path) -> World:
    root = tmp_path / "w"
    shutil.copytree(template.root, root, symlinks=True)
    return World(root, template.old, template.new)


# -- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One verb given one hostile input: what it must say, and by when."""

    args: tuple[str, ...]
    says: str
    within_s: float  # the verb's own deadline (0: it has nothing to wait for)
    setup: Callable[[World], None] = lambda world: None
    kubectl: dict[str, str] | None = None  # command -> hostile payload name or literal
    trickle: bytes | None = None  # {trickle} is a server trickling this answer
    # Seconds between its bytes (None: 0.05 for HEAD, else 0.3). A case whose verb has a
    # small deadline trickles for longer than that deadline plus SLACK_S, each byte inside
    # a per-read timeout, so only a per-call deadline ends it in time.
    every_s: float | None = None
    forward: bool = False  # port-forward goes to the trickling server
    codes: tuple[int, ...] = (1,)


S = "{store}"
GATES = ("--gates", "{root}/gates-ok.yaml")  # defaults only: the release serves deploy_ok
CLUSTER = ("--manifests", str(MANIFESTS))
STAGING = ("--env", "staging", *CLUSTER)
PROMOTE = ("promote", S, "--from", "staging", "--to", "production", *CLUSTER)
GATE = ("gate", S, *STAGING, *GATES)
RUNNING = {
    "get deployment/triton": "{deployment}",
    "get pods": "{pods}",
    "apply": "deployment.apps/triton configured",
    "rollout status": 'deployment "triton" successfully rolled out',
    "rollout undo": "deployment.apps/triton rolled back",
}


def _store(which: str, data: bytes | str) -> Callable[[World], None]:
    def setup(world: World) -> None:
        path = {
            "old": world.release_file(world.old),
            "new": world.release_file(world.new),
            "pointer": world.pointer(),
            "registry": world.store_dir / registry_key(MODEL),
        }[which]
        world.put(path, data)

    return setup


def _file(name: str, data: bytes | str) -> Callable[[World], None]:
    return lambda world: world.put(world.root / name, data)


def _golden_bomb(world: World) -> None:
    for golden in (world.root / "old").glob(f"{MODEL}/*/golden.npz"):
        world.put(golden, _npy_header_bomb())


CASES: dict[str, Case] = {
    # store objects
    "releases-list/deep": Case(("releases", "list", S), "nested", 0, _store("old", DEEP_JSON)),
    "releases-verify/1e400": Case(
        ("releases", "verify", S, "{old}"), "out of range", 0, _store("old", HUGE_NUMBER_JSON)
    ),
    "releases-diff/sparse-8GiB": Case(
        ("releases", "diff", S, "{old}", "{new}"), "byte limit", 0, _store("old", "sparse")
    ),
    "releases-gc/fifo": Case(
        ("releases", "gc", S, "--keep", "0", "--dry-run"), "FIFO", 0, _store("new", "fifo")
    ),
    "status/pointer-deep": Case(
        ("status", S, *STAGING), "nested", 0, _store("pointer", DEEP_JSON), kubectl={}
    ),
    "rollback/pointer-1e400": Case(
        ("rollback", S, *STAGING), "out of range", 0, _store("pointer", HUGE_NUMBER_JSON), {}
    ),
    "promote/pointer-fifo": Case(
        (*PROMOTE, *GATES, "--no-gate"), "FIFO", 0, _store("pointer", "fifo"), kubectl={}
    ),
    "deploy-dry-run/release-deep": Case(
        ("deploy", S, *STAGING, "--release", "{new}", "--dry-run"),
        "nested",
        0,
        _store("new", DEEP_JSON),
        kubectl={},
    ),
    "gate/pointer-sparse": Case(GATE, "byte limit", 0, _store("pointer", "sparse"), kubectl={}),
    "sync/registry-deep": Case(
        ("sync", S, "--repo", "{root}/old"),
        "not a valid version registry",
        0,
        _store("registry", DEEP_JSON),
    ),
    "validate/registry-1e400": Case(
        ("validate", "--repo", "{root}/old", "--store", S),
        "not a valid version registry",
        0,
        _store("registry", REGISTRY_1E400),
    ),
    # gates files
    "gate-check-config/alias-bomb": Case(
        ("gate", "--check-config", "--gates", "{root}/gates.yaml", *CLUSTER),
        "aliases are not accepted",
        0,
        _file("gates.yaml", ALIAS_BOMB),
        codes=(2,),
    ),
    "gate-check-config/fifo": Case(
        ("gate", "--check-config", "--gates", "{root}/gates.yaml", *CLUSTER),
        "FIFO",
        0,
        _file("gates.yaml", "fifo"),
        codes=(1, 2),
    ),
    "promote/gates-alias-bomb": Case(
        (*PROMOTE, "--gates", "{root}/gates.yaml"),
        "aliases are not accepted",
        0,
        _file("gates.yaml", ALIAS_BOMB),
        kubectl={},
        codes=(1, 2),
    ),
    # golden files
    "validate/golden-header-bomb": Case(
        ("validate", "--repo", "{root}/old"), "declares shape [50000, 50000]", 0, _golden_bomb
    ),
    "release/golden-header-bomb": Case(
        ("release", "--repo", "{root}/old"), "declares shape [50000, 50000]", 0, _golden_bomb
    ),
    # HTTP answers trickled a byte at a time
    "smoke/trickle": Case(
        ("smoke", "--url", "{trickle}", "--repo", "{root}/old", "--protocol", "http"),
        "",
        60,
        trickle=HEAD,
    ),
    "infer/trickle": Case(  # HEAD at 0.3 s a byte: 24 s of answer
        ("infer", "--url", "{trickle}", "--model", MODEL, "--input", "{root}/x.npy")
        + ("--timeout-s", "2"),
        "within 2 s",
        2,
        trickle=HEAD,
        every_s=0.3,
    ),
    "bench/trickle": Case(  # HEAD at 0.3 s a byte: 24 s of answer
        ("bench", "--url", "{trickle}", "--model", MODEL, "--repo", "{root}/old")
        + ("--request-timeout-s", "2"),
        "within 2 s",
        2,
        trickle=HEAD,
        every_s=0.3,
    ),
    "swap/trickle": Case(
        ("swap", "--url", "{trickle}", "--model", MODEL, "--to", "1", "--repo", "{root}/old"),
        "",
        60,
        trickle=HEAD,
    ),
    "status/url-trickle": Case(
        ("status", S, *STAGING, "--url", "{trickle}", "--timeout-s", "3"),
        "did not answer",
        3,
        kubectl=RUNNING,
        trickle=HEAD,
    ),
    "status/pods-trickle": Case(
        ("status", S, *STAGING, "--timeout-s", "3"),
        "did not answer",
        3,
        kubectl=RUNNING,
        trickle=b"",
        forward=True,
    ),
    "gate/url-trickle": Case(
        (*GATE, "--url", "{trickle}", "--metrics-url", "{trickle}") + ("--smoke-timeout-s", "2"),
        "",
        30,
        kubectl=RUNNING,
        trickle=HEAD,
    ),
    "deploy/smoke-trickle": Case(
        ("deploy", S, *STAGING, "--release", "{new}", "--url", "{trickle}")
        + ("--smoke-timeout-s", "2", "--timeout-s", "30"),
        "",
        30,
        kubectl=RUNNING,
        trickle=HEAD,
    ),
    "golden-probe/trickle": Case(
        ("-m", "orchestrator.serving.golden_probe", "--url", "{trickle}")
        + ("--repository", "{root}/old", "--timeout-s", "3"),
        "golden probe: FAILED",
        3,
        trickle=HEAD,
    ),
    "golden-probe/header-bomb": Case(
        ("-m", "orchestrator.serving.golden_probe", "--url", "{trickle}")
        + ("--repository", "{root}/old", "--timeout-s", "3"),
        "golden probe: FAILED",
        3,
        _golden_bomb,
        trickle=HEAD,
    ),
}
# kubectl's answers, each class, to every cluster verb.
for _payload in KUBECTL_OUTPUTS:
    CASES[f"status/kubectl-{_payload}"] = Case(
        ("status", S, *STAGING),
        "kubectl answered, but not with a Deployment status can read",
        0,
        kubectl={**RUNNING, "get deployment/triton": _payload},
    )
    CASES[f"rollback/kubectl-{_payload}"] = Case(
        ("rollback", S, *STAGING, "--timeout-s", "30"),
        "",
        0,
        kubectl={**RUNNING, "get deployment/triton": _payload},
    )
    CASES[f"deploy/kubectl-pods-{_payload}"] = Case(
        ("deploy", S, *STAGING, "--release", "{new}", "--timeout-s", "30")
        + ("--url", "127.0.0.1:1", "--smoke-timeout-s", "2"),
        "",
        2,
        kubectl={**RUNNING, "get pods": _payload},
    )
    CASES[f"gate/kubectl-pods-{_payload}"] = Case(
        (*GATE, "--smoke-timeout-s", "2"),
        "",
        0,
        kubectl={**RUNNING, "get pods": _payload},
    )
    CASES[f"promote/kubectl-{_payload}"] = Case(
        (*PROMOTE, *GATES, "--force", "--reason", "test", "--no-gate", "--timeout-s", "30"),
        "",
        0,
        kubectl={**RUNNING, "get deployment/triton": _payload},
    )


# The child: the 4 GB limit, the recording runner the spec asks for, the CLI.
CHILD = textwrap.dedent(
    f"""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({LIMIT_BYTES}, {LIMIT_BYTES}))
    spec = json.load(open(sys.argv[1]))
    obj = None
    if spec["kubectl"] is not None:
        from pathlib import Path
        from rehearsal.recording import RecordingRunner
        script = {{
            key: [(0, Path(path).read_bytes().decode(errors="replace"))]
            for key, path in spec["kubectl"].items()
        }}
        obj = {{"kubectl": RecordingRunner(script, forward_to=spec["forward"])}}
    from orchestrator.cli import cli
    import time
    with open(sys.argv[1] + ".started", "w") as out:  # the clock starts after the imports
        out.write(repr(time.monotonic()))
    cli.main(spec["args"], obj=obj, prog_name="orchestrator")
    """
)
# What the children import, imported once by the fork server (tests/support/fork_server.py)
# instead of by each child: the package's every module (the verbs import their libraries
# when they run) but the plot (matplotlib: no verb here draws) and the Triton backends'
# models (no verb imports them; onnxruntime's native thread would not survive the fork).
PRELOAD = """
import importlib, pkgutil
import orchestrator
import rehearsal.recording
for found in pkgutil.walk_packages(orchestrator.__path__, "orchestrator."):
    if not found.name.endswith(("__main__", ".plot")) and ".backends." not in found.name:
        importlib.import_module(found.name)
del importlib, pkgutil, orchestrator, rehearsal, found
"""


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}


@pytest.fixture(scope="module")
def children(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """The CLI's children, forked from one warm parent: each pays no imports of its own."""
    server = ForkServer(
        PRELOAD, CHILD, env=_child_env(), folder=tmp_path_factory.mktemp("children")
    )
    yield server
    server.close()


def _fill(text: str, world: World, trickling: str) -> str:
    return text.format(
        store=world.store, root=world.root, old=world.old, new=world.new, trickle=trickling
    )


def _kubectl_files(case: Case, world: World) -> dict[str, str] | None:
    if case.kubectl is None:
        return None
    files: dict[str, str] = {}
    for key, value in case.kubectl.items():
        if value in KUBECTL_OUTPUTS:
            data = KUBECTL_OUTPUTS[value]
        elif value == "{deployment}":
            data = deployment_json(world.old, 1).encode()
        elif value == "{pods}":
            data = pods_json(("triton-a", world.old, True, None, 0)).encode()
        else:
            data = value.encode()
        path = world.root / f"kubectl-{len(files)}.out"
        path.write_bytes(data)
        files[key] = str(path)
    return files


@contextmanager
def _server(answer: bytes | None, every_s: float | None = None) -> Iterator[str]:
    if answer is None:
        yield "127.0.0.1:1"
        return
    if every_s is None:
        every_s = 0.3 if not answer.startswith(HEAD) else 0.05
    yield from trickle(answer, every_s)


def run_case(
    case: Case, world: World, children: ForkServer
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Set the case up in ``world`` and run it under the 4 GB limit; the result and its time."""
    case.setup(world)
    with _server(case.trickle, case.every_s) as trickling:
        args = [_fill(a, world, trickling) for a in case.args]
        kubectl = _kubectl_files(case, world)
        forward = trickling if case.forward else None
        return run_limited(args, world.root, case.within_s + 60, kubectl, forward, children)


def run_limited(
    args: list[str],
    cwd: Path,
    timeout_s: float,
    kubectl: dict[str, str] | None = None,
    forward: str | None = None,
    children: ForkServer | None = None,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``orchestrator ARGS`` (or ``-m MODULE ARGS``) in a child limited to 4 GB.

    ``kubectl``: command -> file of its output, for the recording runner the child
    injects (None: the CLI's own runner). ``children``: a fork server to run the CLI's
    child from (None: a new interpreter). Returns the result and how long it took.
    """
    spec = cwd / "spec.json"
    started_file = cwd / "spec.json.started"
    started_file.unlink(missing_ok=True)
    forked = children is not None and args[0] != "-m"
    if args[0] == "-m":  # a module's own command line (the golden probe: stdlib only)
        command = [sys.executable, "-c", _limited_module(args)]
    else:
        spec.write_text(json.dumps({"args": args, "kubectl": kubectl, "forward": forward}))
        command = [sys.executable, "-c", CHILD, str(spec)]
    env = _child_env()
    started = time.monotonic()
    if forked:
        assert children is not None
        done = children.run(command[3:], cwd=cwd, env=env, timeout=timeout_s)
    else:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    ended = time.monotonic()
    # CLOCK_MONOTONIC is one clock for the whole machine: the child's reading is comparable.
    if started_file.exists():
        started = float(started_file.read_text())
    return done, ended - started


def _limited_module(args: list[str]) -> str:
    return textwrap.dedent(
        f"""
        import resource, runpy, sys
        resource.setrlimit(resource.RLIMIT_AS, ({LIMIT_BYTES}, {LIMIT_BYTES}))
        sys.argv = [{args[1]!r}, *{args[2:]!r}]
        runpy.run_module({args[1]!r}, run_name="__main__")
        """
    )


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_input_ends_in_time_with_a_clear_error(
    world: World, name: str, children: ForkServer
) -> None:
    case = CASES[name]
    done, elapsed = run_case(case, world, children)
    output = done.stdout + done.stderr
    assert done.returncode in case.codes, f"exit {done.returncode}\n{output[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "MemoryError" not in output
    assert case.says in output, output[-3000:]
    error_lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert error_lines, "a failure must say why on stderr"
    assert elapsed < case.within_s + SLACK_S, f"{elapsed:.1f} s: {output[-2000:]}"
