"""No traceback from any verb: every option of every command, given bad values.

The commands and their parameters are read from the click tree, so a new command or
option is covered the moment it is registered. Each case starts from a baseline
invocation that runs quickly without a server (URLs point at a closed port on
loopback, ``TRITONSERVER`` at a fake binary, stores are ``file://``) and replaces one
parameter with a bad value of its type. Every case must end with exit 0, 1 or 2 and no
exception but ``SystemExit``; a failure must say why on one ``Error:`` line; a value
that can never be right must fail (exit 1 or 2).

``make unit`` (the quick loop) runs one bad value per option, taking each type's values in
turn, so every option and every bad value of every type still runs; ``make pytest`` runs
every pair.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.cli.server_options import HostPort
from tests.cli.test_cli import subcommands
from tests.support.onnx_models import make_affine_onnx, make_bundle
from tests.support.release_repos import make_repository
from tests.support.unit_loop import in_unit_loop
from tests.support.unprivileged import unprivileged

# Always-wrong values must fail; "maybe" values (0, -1, an odd but legal string) may be
# accepted by an option where they make sense, and must then simply not crash.
ALWAYS, MAYBE = True, False


@dataclass(frozen=True)
class Bad:
    """One bad value: its text (placeholders filled per case), and whether it must fail."""

    text: str
    must_fail: bool
    label: str


def _numbers(is_float: bool) -> list[Bad]:
    values = [
        Bad("abc", ALWAYS, "word"),
        Bad("", ALWAYS, "empty"),
        Bad("-1", MAYBE, "negative"),
        Bad("0", MAYBE, "zero"),
        Bad("99999999999999999999999", MAYBE, "huge"),
    ]
    if is_float:
        values += [
            Bad("nan", ALWAYS, "nan"),
            Bad("inf", ALWAYS, "inf"),
            Bad("-inf", ALWAYS, "-inf"),
            Bad("1e308", MAYBE, "1e308"),
        ]
    else:
        values.append(Bad("1.5", ALWAYS, "fraction"))
    return values


PATHS = [
    Bad("", ALWAYS, "empty"),
    Bad("{missing}", MAYBE, "missing"),  # an output path may not exist yet
    Bad("{file}", MAYBE, "a-file"),
    Bad("{folder}", MAYBE, "a-folder"),
    Bad("{unreadable}", MAYBE, "unreadable"),
    Bad("/dev/null", MAYBE, "device"),
    Bad("x" * 5000, MAYBE, "name-too-long"),
    Bad("{loop}", MAYBE, "symlink-loop"),
    Bad("{missing}\nx", MAYBE, "newline"),
]
HOST_PORTS = [
    Bad("", ALWAYS, "empty"),
    Bad("nohost", ALWAYS, "no-port"),
    Bad("127.0.0.1:99999", ALWAYS, "port-out-of-range"),
    Bad("127.0.0.1:0", ALWAYS, "port-zero"),
    Bad("http://", ALWAYS, "scheme-only"),
    Bad("[::1", ALWAYS, "broken-ipv6"),
    Bad("{closed}", ALWAYS, "closed-port"),
]
STRINGS = [
    Bad("", MAYBE, "empty"),
    Bad(" ", MAYBE, "space"),
    Bad("a\nb", MAYBE, "newline"),
    Bad("../../x", MAYBE, "traversal"),
    Bad("x" * 5000, MAYBE, "long"),
    Bad("\u00fc\u00df", MAYBE, "non-ascii"),
    Bad("nan", MAYBE, "nan"),
    Bad("-1", MAYBE, "negative"),
    Bad("not a url", MAYBE, "not-a-url"),
    Bad("http://", MAYBE, "scheme-only"),
    Bad("ftp://h/x", MAYBE, "ftp"),
    Bad("http://[::1", MAYBE, "broken-ipv6"),
    Bad("http://127.0.0.1:99999", MAYBE, "port-out-of-range"),
    Bad("s3://", MAYBE, "s3-no-bucket"),
    Bad("file://", MAYBE, "file-no-path"),
    Bad("nothing://x", MAYBE, "unknown-scheme"),
]
CHOICES = [Bad("bogus", ALWAYS, "bogus"), Bad("", ALWAYS, "empty")]

# Values that cannot be right for one parameter whatever its type says (e.g. an S3
# endpoint that is not a URL); keyed by parameter name.
ALWAYS_WRONG_FOR = {
    "endpoint_url": {"", " ", "not a url", "http://", "ftp://h/x", "http://[::1"}
    | {"http://127.0.0.1:99999", "s3://", "file://", "nothing://x", "a\nb", "../../x"},
    "store_url": {"", " ", "not a url", "http://", "ftp://h/x", "s3://", "file://"}
    | {"nothing://x", "a\nb", "nan", "-1", "../../x"},
}


def bad_values(param: click.Parameter) -> list[Bad]:
    """The bad values for ``param``, chosen by its type."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return CHOICES
    if isinstance(kind, click.Path):
        return PATHS
    if isinstance(kind, HostPort):
        return HOST_PORTS
    if isinstance(kind, click.types.FloatParamType):
        return _numbers(is_float=True)
    if isinstance(kind, click.types.IntParamType):
        return _numbers(is_float=False)
    always = ALWAYS_WRONG_FOR.get(param.name or "", set())
    return [Bad(b.text, b.text in always, b.label) for b in STRINGS]


def every_command() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every leaf command of the CLI with its path, read from the click tree."""
    stack: list[tuple[tuple[str, ...], click.Command]] = [((), cli)]
    while stack:
        path, command = stack.pop()
        if isinstance(command, click.Group):
            stack.extend((path + (name,), sub) for name, sub in subcommands(command).items())
        else:
            yield path, command


def mutable(param: click.Parameter) -> bool:
    """Whether the parameter takes a value (flags, help and version do not)."""
    if isinstance(param, click.Option) and (param.is_flag or param.count):
        return False
    return param.expose_value or param.name == "positional_repository"


@dataclass
class World:
    """What a case runs against: a repository, a bundle, a store, a closed port ..."""

    root: Path
    repo: Path
    bundle: Path
    store: Path
    closed: str
    fake_triton: Path
    inputs: Path

    def fill(self, text: str) -> str:
        return text.format(
            missing=self.root / "missing" / "x",
            file=self.inputs,
            folder=self.root / "folder",
            unreadable=self.root / "unreadable",
            loop=self.root / "loop",
            closed=self.closed,
            fake=self.fake_triton,
            repo=self.repo,
            bundle=self.bundle,
            store=self.store.as_uri(),
        )


# How each command is started when all its values are fine (placeholders as in World).
# A command without an entry gets its required parameters from its types (`auto_baseline`).
BASELINES: dict[tuple[str, ...], dict[str, Any]] = {
    ("serve",): {"repository": "{repo}", "tritonserver": "{fake}"},
    ("publish",): {"source": "{bundle}", "repository": "{repo}"},
    ("list",): {"repository": "{repo}"},
    ("validate",): {"repository": "{repo}"},
    ("release",): {"repository": "{repo}"},
    ("sync",): {"store_url": ["{store}"], "repository": "{repo}"},
    ("releases", "list"): {"store_url": "{store}"},
    ("releases", "verify"): {"store_url": "{store}", "release_id": "0" * 12},
    ("releases", "gc"): {"store_url": "{store}", "keep": "1", "dry_run": True},
    ("smoke",): {"url": "{closed}", "repository": "{repo}"},
    ("infer",): {"url": "{closed}", "model": "alpha", "input_path": "{file}"},
    ("swap",): {"url": "{closed}", "model": "alpha", "to_version": "1", "repository": "{repo}"},
    ("bench",): {"url": "{closed}", "model": "alpha", "repository": "{repo}"},
    ("tune",): {"model": "alpha", "repository": "{repo}"},
    ("promote",): {
        "store_url": "{store}",
        "source": "staging",
        "target": "production",
        "manifests": str(Path(__file__).parents[1] / "deploy" / "fixtures" / "k8s"),
    },
    ("demo",): {"repository": "{missing}"},  # the real demo trains and serves: never here
}
# A parameter that only means something with another value beside it.
WITH: dict[str, dict[str, Any]] = {"endpoint_url": {"store_url": "s3://bucket/prefix"}}


def auto_baseline(command: click.Command) -> dict[str, Any]:
    """Required parameters filled by type, for a command added after this test."""
    values: dict[str, Any] = {}
    for param in command.params:
        if not param.required:
            continue
        if isinstance(param.type, HostPort):
            values[param.name or ""] = "{closed}"
        elif isinstance(param.type, click.Path):
            values[param.name or ""] = "{missing}"
        elif isinstance(param.type, click.Choice):
            values[param.name or ""] = str(param.type.choices[0])
        else:
            values[param.name or ""] = "1"
    return values


def argv(command: click.Command, path: tuple[str, ...], values: dict[str, Any]) -> list[str]:
    """The command line for ``values`` (parameter name -> text, list, or True for a flag)."""
    options: list[str] = []
    positionals: list[str] = []
    for param in command.params:
        if param.name not in values:
            continue
        value = values[param.name]
        if isinstance(param, click.Option):
            if value is True:
                options.append(param.opts[0])
            else:
                options.extend([param.opts[0], value])
        else:
            positionals.extend(value if isinstance(value, list) else [value])
    return [*path, *options, "--", *positionals] if positionals else [*path, *options]


def cases(*, every_value: bool = True) -> Iterator[Any]:
    """(path, parameter name, bad value) for every parameter of every command.

    ``every_value`` False: one bad value per parameter, each type's values in turn.
    """
    turn: Counter[tuple[str, ...]] = Counter()
    for path, command in sorted(every_command(), key=lambda item: item[0]):
        for param in command.params:
            if not mutable(param):
                continue
            values = bad_values(param)
            if not every_value:
                kind = tuple(b.label for b in values)
                values = [values[turn[kind] % len(values)]]
                turn[kind] += 1
            for bad in values:
                yield pytest.param(
                    path, param.name, bad, id=f"{' '.join(path)}--{param.name}--{bad.label}"
                )


CASES = list(cases(every_value=not in_unit_loop()))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Under a world-readable folder: the unreadable cases run with an unprivileged uid.
    root = Path(tempfile.mkdtemp(prefix="no-traceback-"))
    root.chmod(0o755)
    onnx = make_affine_onnx(root / "cache" / "affine.onnx")
    repo = make_repository(root / "repo", {"alpha": [1, 2], "beta": [1]}, onnx_cache=onnx)
    bundle = make_bundle(root / "bundle")
    (root / "folder").mkdir()
    (root / "loop").symlink_to(root / "loop")
    (root / "unreadable").mkdir()
    (root / "unreadable" / "config.pbtxt").write_text("name: 'x'\n")
    (root / "unreadable").chmod(0)
    inputs = root / "x.json"
    inputs.write_text('{"x": [[1, 2, 3, 4]]}')
    fake = root / "fake-tritonserver"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    for folder in root.rglob("*"):
        if folder.is_symlink():
            continue
        if folder.is_dir() and folder.name != "unreadable":
            folder.chmod(0o777)
        elif folder.is_file():
            folder.chmod(folder.stat().st_mode | stat.S_IROTH | stat.S_IWOTH)
    yield World(root, repo, bundle, root / "store", closed, fake, inputs)
    (root / "unreadable").chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("path", "name", "bad"), CASES)
def test_a_bad_value_is_a_message_never_a_traceback(
    world: World,
    path: tuple[str, ...],
    name: str,
    bad: Bad,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command: click.Command = cli
    for part in path:
        assert isinstance(command, click.Group)
        command = subcommands(command)[part]
    values = dict(BASELINES.get(path) or auto_baseline(command))
    values.update(WITH.get(name, {}))
    values[name] = bad.text
    if name == "positional_repository":
        values.pop("repository", None)
    filled = {
        key: [world.fill(v) for v in value] if isinstance(value, list) else value
        for key, value in values.items()
    }
    filled = {k: (world.fill(v) if isinstance(v, str) else v) for k, v in filled.items()}
    args = argv(command, path, filled)
    env = {
        "TRITONSERVER": str(world.fake_triton),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    runner = CliRunner()
    cwd = os.getcwd()
    work = world.root / "cwd" / tmp_path.name
    work.mkdir(parents=True)
    work.chmod(0o777)
    env["TMPDIR"] = str(work)
    monkeypatch.setattr(tempfile, "tempdir", str(work))  # tempfile caches TMPDIR
    os.chdir(work)
    try:
        with unprivileged() if bad.label == "unreadable" else contextlib.nullcontext():
            result = runner.invoke(cli, args, env=env, catch_exceptions=True)
    finally:
        os.chdir(cwd)
    shown = f"{args!r} -> exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\n{result.exception!r}"
    )
    assert result.exit_code in (0, 1, 2), shown
    if bad.must_fail:
        assert result.exit_code in (1, 2), shown
    if result.exit_code != 0:
        errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
        assert errors, shown
        assert len(errors[0]) > len("Error: ") + 10, shown
    # Whatever happened, no temporary folder of ours is left behind.
    assert [p.name for p in work.iterdir() if p.name.startswith("orchestrator-")] == [], shown


def test_the_table_covers_every_command_and_its_options() -> None:
    full = list(cases())
    covered = {(path, name) for path, name, _ in (c.values for c in full)}
    for path, command in every_command():
        for param in command.params:
            if mutable(param):
                assert (path, param.name) in covered
    assert len(full) > 300


def test_the_quick_loops_table_runs_every_option_and_every_bad_value_of_each_type() -> None:
    def classes(table: list[Any]) -> tuple[set[Any], set[Any]]:
        options = {(path, name) for path, name, _ in (c.values for c in table)}
        labels = {(kind[path, name], bad.label) for path, name, bad in (c.values for c in table)}
        return options, labels

    kind = {
        (path, param.name): tuple(b.label for b in bad_values(param))
        for path, command in every_command()
        for param in command.params
        if mutable(param)
    }
    full, quick = list(cases()), list(cases(every_value=False))
    assert len(quick) < len(full) / 5
    assert classes(quick) == classes(full)
