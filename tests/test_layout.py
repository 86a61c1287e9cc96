"""The package's shape: stages import downward only, no cycles, each library has one owner.

Read from the source with the standard library's ``ast`` (every import counts, those
inside functions and under ``TYPE_CHECKING`` included), and, for what is loaded at run
time, from ``sys.modules`` in a fresh interpreter.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "orchestrator"
STAND_IN = "orchestrator.serving.triton.backends.onnxruntime.model"

# Lower floors first. A module may import its own stage and any stage on a lower floor;
# stages on the same floor (core and client, serving and releases) do not import each other.
FLOORS: dict[str, int] = {
    "errors": 0,
    "core": 1,
    "client": 1,
    "repository": 2,
    "serving": 3,
    "releases": 3,
    "performance": 4,
    # deploy's gate measures a release under load (performance.bench); performance never
    # needs a cluster.
    "deploy": 5,
    "demo": 5,
    "cli": 6,
    "__main__": 7,
}

# Third-party import roots and the only modules (or packages) allowed to import them.
OWNERS: dict[str, tuple[str, ...]] = {
    "tritonclient": ("orchestrator.client", "orchestrator.core.model_config"),
    "gevent": ("orchestrator.client.connection",),
    "google.protobuf": ("orchestrator.core.model_config", "orchestrator.core.onnx_signature"),
    "onnx": ("orchestrator.core.onnx_signature",),
    "onnxruntime": (STAND_IN,),
    "boto3": ("orchestrator.releases.stores.s3",),
    "botocore": ("orchestrator.releases.stores.s3",),
    "google.cloud": ("orchestrator.releases.stores.gcs",),
    "google.api_core": ("orchestrator.releases.stores.gcs",),
    "google.auth": ("orchestrator.releases.stores.gcs",),
    "click": ("orchestrator.cli",),
    "rich": ("orchestrator.cli",),
    "matplotlib": ("orchestrator.performance.plot",),
    "docker": ("orchestrator.serving.container",),
    "training": ("orchestrator.demo",),
    "yaml": ("orchestrator.deploy.yaml_text",),
    "prometheus_client": ("orchestrator.client.metrics",),
}

# kubectl is a program, not a library: its owner is the one module that starts it.
KUBECTL_OWNER = "orchestrator.deploy.kubectl"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return _modules()[module].name == "__init__.py"


@cache  # parsed once: every parametrized case below reads the same graph
def _imports(module: str) -> list[str]:
    """Every name ``module`` imports, absolute, as ``pkg.mod`` or ``pkg.mod.attr``."""
    tree = ast.parse(_modules()[module].read_text())
    package = module if _is_package(module) else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import name``: the edge goes to the submodule ``pkg.name`` when
            # there is one, else to ``pkg`` (see ``_internal_target``).
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def _internal_target(name: str) -> str | None:
    """The orchestrator module an imported name lives in (a submodule when it is one)."""
    modules = _modules()
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


@cache  # read once: the stage test asks for it once per module
def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in _modules():
        targets = {_internal_target(n) for n in _imports(module) if n.startswith("orchestrator")}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_a_module_imports_only_its_own_stage_or_lower_ones(module: str) -> None:
    if module == "orchestrator":
        allowed = {"errors"}
    else:
        stage = _stage(module)
        assert stage in FLOORS, f"{module} is in no known stage; add it to FLOORS"
        allowed = {s for s, floor in FLOORS.items() if floor < FLOORS[stage]} | {stage}
    upward = sorted(
        target
        for target in _graph()[module]
        if target != "orchestrator" and _stage(target) not in allowed
    )
    assert upward == [], f"{module} imports a higher or sibling stage"


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_third_party_library_is_imported_by_its_owner_only(library: str) -> None:
    owners = OWNERS[library]
    offenders = sorted(
        module
        for module in _modules()
        if any(n == library or n.startswith(library + ".") for n in _imports(module))
        and not any(module == owner or module.startswith(owner + ".") for owner in owners)
    )
    assert offenders == []


def _top_level_imports(path: Path) -> set[str]:
    """The top-level packages a file imports (relative imports stay in its own package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # the rehearsal and the tests drive the library; it never knows them
        ("orchestrator", {"rehearsal", "tests"}),
        ("training", {"rehearsal", "tests"}),
        # the rehearsal (make pipeline) runs without the tests; the tests use its stand-ins
        ("rehearsal", {"tests"}),
    ],
)
def test_the_library_imports_neither_the_rehearsal_nor_the_tests(
    package: str, forbidden: set[str]
) -> None:
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if _top_level_imports(path) & forbidden
    )
    assert offenders == []


def _strings(module: str) -> set[str]:
    tree = ast.parse(_modules()[module].read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_only_the_kubectl_runner_starts_processes_that_could_be_kubectl() -> None:
    # Every kubectl call goes through deploy.kubectl's one runner (injected, so the tests
    # can record it): no other module that starts processes may name kubectl, and no
    # other deploy module starts processes at all.
    starters = {m for m in _modules() if any(n.split(".")[0] == "subprocess" for n in _imports(m))}
    naming = {m for m in starters if any("kubectl" in text for text in _strings(m))}
    deploy = {m for m in starters if m.startswith("orchestrator.deploy")}
    assert naming | deploy == {KUBECTL_OWNER}


@pytest.mark.parametrize("module", sorted(m for m in _modules() if m != "orchestrator.__main__"))
def test_all_names_only_what_the_module_defines(module: str) -> None:
    imported = importlib.import_module(module)
    if module.rpartition(".")[2].startswith("_") and not _is_package(module):
        return
    exported = getattr(imported, "__all__", None)
    assert exported is not None, f"{module} has no __all__"
    assert sorted(set(exported)) == sorted(exported), "__all__ repeats a name"
    missing = [name for name in exported if not hasattr(imported, name)]
    assert missing == []


def _loaded_after(code: str) -> set[str]:
    script = textwrap.dedent(
        """
        import atexit, sys
        atexit.register(lambda: print("LOADED", *sorted(sys.modules), flush=True))
        """
    ) + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("LOADED ")]
    assert lines, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return set(lines[-1].split()[1:])


def test_core_imports_no_onnxruntime() -> None:
    core = sorted(m for m in _modules() if m.startswith("orchestrator.core"))
    loaded = _loaded_after("\n".join(f"import {m}" for m in core))
    assert set(core) <= loaded
    assert "onnxruntime" not in loaded


def test_orchestrator_validate_does_not_load_onnxruntime() -> None:
    loaded = _loaded_after(
        f"""
        from orchestrator.cli import cli
        cli(["validate", "--repo", {str(ROOT / "model_repository")!r}])
        """
    )
    assert "orchestrator.repository.validation" in loaded
    assert "onnxruntime" not in loaded


def test_the_container_runtime_does_not_load_the_docker_sdk_until_it_runs() -> None:
    loaded = _loaded_after(
        """
        import orchestrator.serving.container
        """
    )
    assert "orchestrator.serving.container.run" in loaded
    assert "docker" not in loaded


# The command modules: the lazy group's table names them (orchestrator.cli.COMMANDS).
COMMAND_MODULES = sorted(
    {
        "orchestrator.cli.deploy",
        "orchestrator.cli.gate",
        "orchestrator.cli.image",
        "orchestrator.cli.performance",
        "orchestrator.cli.promote",
        "orchestrator.cli.releases",
        "orchestrator.cli.repository",
        "orchestrator.cli.serving",
    }
)


def test_the_command_modules_are_the_lazy_tables() -> None:
    from orchestrator.cli import COMMANDS

    assert sorted({entry.module for entry in COMMANDS.values()}) == COMMAND_MODULES


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_no_command_module_imports_another(module: str) -> None:
    # Shared pieces live in the options modules (cli.options, cli.server_options,
    # cli.cluster_options), cli.boundary, or the library: never in another command.
    others = sorted(set(COMMAND_MODULES) & _graph()[module])
    assert others == []


# What `--help` must never load: the heavy libraries, and every library stage (a
# command's library is imported when the command runs, not when its help is shown).
HEAVY = ("torch", "onnxruntime", "tritonclient", "boto3", "matplotlib")


def test_help_loads_no_heavy_library_and_no_library_stage() -> None:
    loaded = _loaded_after(
        """
        import contextlib, io
        from orchestrator.cli import COMMANDS, cli
        paths = [[], *([name] for name in COMMANDS)]
        paths += [["releases", name] for name in ("list", "verify", "gc", "diff")]
        paths.append(["image", "build"])
        with contextlib.redirect_stdout(io.StringIO()):
            for path in paths:
                cli.main([*path, "--help"], prog_name="orchestrator", standalone_mode=False)
        """
    )
    assert set(COMMAND_MODULES) <= loaded  # every command's help was built
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY) == []
    stages = sorted(
        m for m in loaded if m.startswith("orchestrator.") and _stage(m) not in ("cli", "errors")
    )
    assert stages == []
