"""publish --update-config and the comment ``tune --write`` leaves above a config.pbtxt."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.core.model_config import load_config, render_config
from orchestrator.performance.trials import Comparison, measurement_comment
from orchestrator.repository.config_comment import (
    COMMENT_LINE_MAX_CHARS,
    COMMENT_MAX_CHARS,
    COMMENT_MAX_LINES,
    leading_comment,
)
from orchestrator.repository.generate import GenerationOptions
from orchestrator.repository.publish import publish
from tests.support.onnx_models import make_affine_onnx

# What `orchestrator tune --write` writes above the config it chose (performance/tune.py).
TUNE_COMMENT = measurement_comment(
    (
        Comparison("chosen", "preferred 8/32, delay 100 us", 1480.0, 9120.0),
        Comparison("current", "dynamic_batching { }", 1510.0, 7300.0),
        Comparison("no batching", "no dynamic_batching", 1530.0, 2100.0),
    ),
    (1, 32),
    20.0,
    False,
    when=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
)


def tuned_repository(tmp_path: Path, comment: str = TUNE_COMMENT) -> Path:
    """A repository whose model ``affine`` (4 features) has a tuned config: the comment on top."""
    repo = tmp_path / "repo"
    options = GenerationOptions(preferred_batch_sizes=(8, 32), max_queue_delay_microseconds=100)
    result = publish(
        make_affine_onnx(tmp_path / "a4.onnx", features=4), repo, "affine", options=options
    )
    result.config_path.write_text(comment + render_config(load_config(result.config_path)))
    return repo


def test_update_config_keeps_the_tune_comment_when_batching_is_unchanged(tmp_path: Path) -> None:
    repo = tuned_repository(tmp_path)
    wider = make_affine_onnx(tmp_path / "a6.onnx", features=6)

    result = publish(wider, repo, "affine", update_config=True)

    text = result.config_path.read_text()
    assert text.startswith(TUNE_COMMENT)
    assert text[len(TUNE_COMMENT) :].lstrip().startswith('name: "affine"')
    assert (result.comment_kept, result.comment_dropped) == (True, "")
    config = load_config(result.config_path)
    assert list(config.input[0].dims) == [6]
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 32]


def test_update_config_drops_the_comment_when_batching_is_regenerated(tmp_path: Path) -> None:
    repo = tuned_repository(tmp_path)
    wider = make_affine_onnx(tmp_path / "a6.onnx", features=6)

    # max_batch_size 16 no longer takes the preferred size 32: batching is regenerated.
    result = publish(
        wider, repo, "affine", update_config=True, options=GenerationOptions(max_batch_size=16)
    )

    text = result.config_path.read_text()
    assert "#" not in text
    assert (result.comment_kept, result.comment_dropped) == (False, TUNE_COMMENT)
    config = load_config(result.config_path)
    assert config.max_batch_size == 16
    assert list(config.dynamic_batching.preferred_batch_size) == []


def test_publish_says_which_comment_it_kept_or_dropped(tmp_path: Path) -> None:
    repo = tuned_repository(tmp_path)
    config_path = repo / "affine" / "config.pbtxt"
    wider = make_affine_onnx(tmp_path / "a6.onnx", features=6)
    narrow = make_affine_onnx(tmp_path / "a5.onnx", features=5)
    base = ["publish", "--repo", str(repo), "--model", "affine", "--update-config"]

    kept = CliRunner().invoke(cli, [*base, str(wider)])
    assert kept.exception is None, kept.exception
    assert kept.stderr == (
        f"Wrote {config_path}\nKept the comment above {config_path} (its batching is unchanged).\n"
    )

    dropped = CliRunner().invoke(cli, [*base, str(narrow), "--max-batch-size", "16"])
    assert dropped.exception is None, dropped.exception
    assert dropped.stderr == (
        f"Wrote {config_path}\n"
        f"Dropped the comment above {config_path}: --update-config regenerated the "
        "dynamic_batching it records to fit the new graph, so the measurement no longer "
        "applies. Run `orchestrator tune --write` to measure the new batching. It read:\n"
        f"{TUNE_COMMENT}"
    )
    assert not config_path.read_text().startswith("#")


def test_publish_json_reports_the_comment(tmp_path: Path) -> None:
    repo = tuned_repository(tmp_path)
    wider = make_affine_onnx(tmp_path / "a6.onnx", features=6)
    args = ["publish", str(wider), "--repo", str(repo), "--model", "affine", "--update-config"]

    result = CliRunner().invoke(cli, [*args, "--max-batch-size", "16", "--format", "json"])

    assert result.exception is None, result.exception
    body = json.loads(result.stdout)
    assert (body["comment_kept"], body["comment_dropped"]) == (False, TUNE_COMMENT)


def test_a_hostile_comment_is_kept_bounded_and_without_control_characters(
    tmp_path: Path,
) -> None:
    hostile = "".join(
        f"# line {n} \x1b[2J\x1b]0;owned\x07 \u202etxt.exe\r\x00\u2028x\x85\t\n"
        for n in range(20_000)
    )
    repo = tuned_repository(tmp_path, comment="#" + "A" * 2_000_000 + "\n" + hostile)
    wider = make_affine_onnx(tmp_path / "a6.onnx", features=6)

    result = publish(wider, repo, "affine", update_config=True)

    text = result.config_path.read_text()
    comment = text[: text.index('name: "affine"')]
    assert comment.startswith("# (cut by orchestrator publish: 0 lines kept")
    assert list(load_config(result.config_path).input[0].dims) == [6]

    kept = leading_comment(hostile)
    lines = kept.splitlines()
    assert len(lines) == COMMENT_MAX_LINES + 1 and len(kept) <= COMMENT_MAX_CHARS + 200
    assert lines[0] == "# line 0 [2J]0;owned txt.exex"
    assert lines[-1].startswith(f"# (cut by orchestrator publish: {COMMENT_MAX_LINES} lines kept")
    assert all(len(line) <= COMMENT_LINE_MAX_CHARS for line in lines[:-1])
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in kept.replace("\n", ""))
    assert "\u202e" not in kept and "\u2028" not in kept
