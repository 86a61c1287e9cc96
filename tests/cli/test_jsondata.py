"""One JSON convention: every result has ``as_dict()``; ``echo_json`` only serializes and prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.cli.output import jsondata
from orchestrator.cli.output.jsondata import echo_json
from orchestrator.core.findings import Finding
from orchestrator.releases.catalog import GcReport


def test_echo_json_prints_a_result_as_its_own_as_dict(capsys: pytest.CaptureFixture[str]) -> None:
    finding = Finding("config-syntax", "error", Path("m/config.pbtxt"), 2, "bad", "fix it")
    echo_json(finding)
    assert json.loads(capsys.readouterr().out) == {
        "code": "config-syntax",
        "severity": "error",
        "path": "m/config.pbtxt",
        "line": 2,
        "message": "bad",
        "hint": "fix it",
    }


def test_a_value_without_a_json_form_is_a_bug_named_as_such() -> None:
    with pytest.raises(TypeError, match="Path has no JSON form. Give it an as_dict"):
        echo_json({"path": Path("m")})


def test_the_output_layer_knows_no_result_type() -> None:
    # Result types define their JSON forms themselves: nothing here imports a library stage.
    source = Path(jsondata.__file__).read_text(encoding="utf-8")
    assert "from orchestrator" not in source
    assert "import orchestrator" not in source


def test_echo_json_prints_results_inside_plain_data_as_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = GcReport(
        deleted=("a",),
        kept=("b", "c"),
        protected=("c",),
        deleted_objects=3,
        dry_run=True,
        pinned_by={"c": ("production (previous)",)},
    )
    echo_json({"reports": [report]})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "reports": [
            {
                "deleted": ["a"],
                "kept": ["b", "c"],
                "protected": ["c"],
                "deleted_objects": 3,
                "dry_run": True,
                "pinned_by": {"c": ["production (previous)"]},
            }
        ]
    }


def test_releases_gc_json_of_an_empty_store(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    result = CliRunner().invoke(cli, ["releases", "gc", store, "--keep", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '{"deleted": [], "kept": [], "protected": [], "deleted_objects": 0, "dry_run": false, '
        '"pinned_by": {}}\n'
    )
