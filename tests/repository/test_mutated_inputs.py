"""Property: a mutated config.pbtxt or bundle gets findings or a clear error, never a crash.

Hypothesis starts from a valid config (the one ``publish`` generates) and a valid
export bundle, and mutates them: bytes flipped, truncated, lines or JSON fields removed
or duplicated, numbers made huge or negative, garbage inserted. ``validate`` and
``publish`` run through the CLI and must end with exit 0 or 1, no exception but
``SystemExit``, and an ``Error:`` line whenever they fail. The runs are derandomized,
so CI sees the same examples every time.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.cli import cli
from tests.support.onnx_models import make_bundle

CONFIG_EXAMPLES = 150
BUNDLE_EXAMPLES = 150
PROPERTY = settings(
    max_examples=CONFIG_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HUGE = [b"99999999999999999999999", b"-1", b"9223372036854775808", b"0", b"1e400", b"-0"]


@pytest.fixture(scope="module")
def seeds() -> Iterator[tuple[Path, bytes]]:
    """A valid bundle, and the config.pbtxt that publishing it generates."""
    root = Path(tempfile.mkdtemp(prefix="mutated-seeds-"))
    bundle = make_bundle(root / "bundle", name="alpha")
    result = CliRunner().invoke(cli, ["publish", str(bundle), "--repo", str(root / "repo")])
    assert result.exit_code == 0, result.output
    yield bundle, (root / "repo" / "alpha" / "config.pbtxt").read_bytes()
    shutil.rmtree(root)


# -- mutations of bytes -------------------------------------------------------------------


def _flip(data: bytes, at: int, mask: int) -> bytes:
    if not data:
        return data
    i = at % len(data)
    return data[:i] + bytes([data[i] ^ mask]) + data[i + 1 :]


def _truncate(data: bytes, at: int, _: int) -> bytes:
    return data[: at % (len(data) + 1)]


def _lines(data: bytes, at: int, how: int) -> bytes:
    lines = data.splitlines(keepends=True)
    if not lines:
        return data
    i = at % len(lines)
    if how % 2:
        return b"".join(lines[:i] + lines[i + 1 :])  # a line removed
    return b"".join(lines[: i + 1] + lines[i:])  # a line duplicated


def _number(data: bytes, at: int, which: int) -> bytes:
    numbers = list(re.finditer(rb"-?\d+", data))
    if not numbers:
        return data
    found = numbers[at % len(numbers)]
    return data[: found.start()] + HUGE[which % len(HUGE)] + data[found.end() :]


def _insert(data: bytes, at: int, value: int) -> bytes:
    i = at % (len(data) + 1)
    garbage = [b"\x00", b"{", b"}", b"[", b'"', b"\xff\xfe", b"\n:\n", b"#", b"\\"]
    return data[:i] + garbage[value % len(garbage)] + data[i:]


MUTATIONS: list[Callable[[bytes, int, int], bytes]] = [_flip, _truncate, _lines, _number, _insert]
mutation = st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 1 << 20), st.integers(1, 255))


def _mutate(data: bytes, steps: list[tuple[Callable[[bytes, int, int], bytes], int, int]]) -> bytes:
    for step, at, value in steps:
        data = step(data, at, value)
    return data


# -- mutations of export.json (structure, not bytes) -------------------------------------


def _mutate_json(body: Any, path: list[int], action: int) -> Any:
    """Remove, duplicate into a list, retype or enlarge one value somewhere in ``body``."""
    if not isinstance(body, dict) or not body:
        return [body, body] if action % 2 else 10**30
    keys = sorted(body)
    key = keys[path[0] % len(keys)] if path else keys[0]
    changed = dict(body)
    if len(path) > 1 and isinstance(body[key], dict):
        changed[key] = _mutate_json(body[key], path[1:], action)
        return changed
    choice = action % 5
    if choice == 0:
        del changed[key]
    elif choice == 1:
        changed[key] = [body[key], body[key]]
    elif choice == 2:
        changed[key] = 10**30
    elif choice == 3:
        changed[key] = None
    else:
        changed[key] = "x" * 300
    return changed


def _check(result: Result, allowed: tuple[int, ...] = (0, 1)) -> None:
    shown = f"exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\n{result.exception!r}"
    )
    assert result.exit_code in allowed, shown
    if result.exit_code != 0:
        assert any(line.startswith("Error: ") for line in result.output.splitlines()), shown


@pytest.mark.timeout(600)
@PROPERTY
@given(steps=st.lists(mutation, min_size=1, max_size=3))
@example(steps=[(_insert, 8, 8)])  # name: "a\lpha": an escape Triton's parser refuses
def test_validate_and_publish_survive_a_mutated_config(
    seeds: tuple[Path, bytes], steps: list[Any]
) -> None:
    bundle, config = seeds
    with tempfile.TemporaryDirectory(prefix="mutated-config-") as folder:
        repo = Path(folder) / "repo"
        (repo / "alpha" / "1").mkdir(parents=True)
        shutil.copy(bundle / "model.onnx", repo / "alpha" / "1" / "model.onnx")
        (repo / "alpha" / "config.pbtxt").write_bytes(_mutate(config, steps))
        _check(CliRunner().invoke(cli, ["validate", "--repo", str(repo)]))
        _check(CliRunner().invoke(cli, ["publish", str(bundle), "--repo", str(repo)]))
        _check(CliRunner().invoke(cli, ["list", "--repo", str(repo)]))


@pytest.mark.timeout(600)
@settings(PROPERTY, max_examples=BUNDLE_EXAMPLES)
@given(
    target=st.sampled_from(["model.onnx", "golden.npz", "export.json", "export.json (fields)"]),
    steps=st.lists(mutation, min_size=1, max_size=3),
    path=st.lists(st.integers(0, 50), min_size=1, max_size=3),
    action=st.integers(0, 100),
)
def test_publish_survives_a_mutated_bundle(
    seeds: tuple[Path, bytes], target: str, steps: list[Any], path: list[int], action: int
) -> None:
    bundle, _ = seeds
    with tempfile.TemporaryDirectory(prefix="mutated-bundle-") as folder:
        copy = Path(folder) / "bundle"
        shutil.copytree(bundle, copy)
        if target == "export.json (fields)":
            body = json.loads((copy / "export.json").read_text())
            (copy / "export.json").write_text(json.dumps(_mutate_json(body, path, action)))
        else:
            (copy / target).write_bytes(_mutate((copy / target).read_bytes(), steps))
        repo = Path(folder) / "repo"
        _check(CliRunner().invoke(cli, ["publish", str(copy), "--repo", str(repo)]))
        if (repo / "alpha").is_dir():
            _check(CliRunner().invoke(cli, ["validate", "--repo", str(repo)]))
