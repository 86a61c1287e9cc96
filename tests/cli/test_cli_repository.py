"""The publish, list and validate commands: exit codes, stdout data, stderr messages."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.onnx_models import make_affine_onnx


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_publish_prints_model_version_and_path(tmp_path: Path) -> None:
    source = make_affine_onnx(tmp_path / "affine.onnx")
    repo = tmp_path / "repo"
    code, out, err = run("publish", str(source), "--repo", str(repo))
    assert code == 0
    assert out == f"affine 1 {repo / 'affine' / '1'}\n"
    assert err == f"Wrote {repo / 'affine' / 'config.pbtxt'}\n"
    args = ("publish", str(source), "--repo", str(repo), "--format", "json", "--new-version")
    code, out, _ = run(*args)
    body = json.loads(out)
    assert (code, body["model"], body["version"], body["config_written"]) == (0, "affine", 2, False)
    assert body["status"] == "published" and set(body["files"]) == {"model.onnx"}


def test_publish_options_reach_the_generated_config(tmp_path: Path) -> None:
    source = make_affine_onnx(tmp_path / "affine.onnx")
    args = ["--max-batch-size", "8", "--preferred-batch-size", "4", "--instance-kind", "KIND_CPU"]
    code, _, _ = run("publish", str(source), "--repo", str(tmp_path / "r"), *args, "--no-warmup")
    text = (tmp_path / "r" / "affine" / "config.pbtxt").read_text()
    assert code == 0
    assert "max_batch_size: 8\n" in text and "preferred_batch_size: 4\n" in text
    assert "KIND_CPU" in text and "model_warmup" not in text


def test_publish_mismatch_is_exit_1_with_the_difference_and_no_traceback(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    run("publish", str(make_affine_onnx(tmp_path / "a.onnx")), "--repo", str(repo))
    wider = make_affine_onnx(tmp_path / "b.onnx", features=6)
    code, out, err = run("publish", str(wider), "--repo", str(repo), "--model", "a")
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "+  dims: 6" in err


def test_publish_of_a_missing_source_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("publish", str(tmp_path / "nope.onnx"), "--repo", str(tmp_path))
    assert code == 2 and "does not exist" in err


def test_validate_exit_codes_and_strict(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    run("publish", str(make_affine_onnx(tmp_path / "a.onnx")), "--repo", str(repo))
    code, out, err = run("validate", "--repo", str(repo))
    assert (code, out) == (0, "")
    assert err == f"{repo}: Triton would load every model (0 warning(s)).\n"

    (repo / "a" / "old").mkdir()
    code, out, _ = run("validate", "--repo", str(repo))
    assert code == 0 and "warning [version-folder-ignored]" in out
    code, _, err = run("validate", "--repo", str(repo), "--strict")
    assert (
        code == 1
        and err == f"Error: 0 error(s) and 1 warning(s) in {repo} (--strict: warnings count)\n"
    )

    (repo / "a" / "config.pbtxt").write_text('name: "a"\nmax_batch_size: eight\n')
    code, out, err = run("validate", "--repo", str(repo), "--format", "json")
    findings = json.loads(out)
    assert code == 1
    assert [
        (f["code"], f["severity"], f["line"]) for f in findings if f["severity"] == "error"
    ] == [("config-syntax", "error", 2)]
    assert err == f"Error: 1 error(s) and 0 warning(s) in {repo}\n"


def test_validate_auto_complete_judges_for_a_server_with_auto_complete_on(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_affine_onnx(repo / "bare" / "1" / "model.onnx")  # no config.pbtxt at all
    code, out, err = run("validate", "--repo", str(repo), "--format", "json")
    assert code == 1 and [f["code"] for f in json.loads(out)] == ["config-missing"]
    code, out, err = run("validate", "--repo", str(repo), "--auto-complete", "--format", "json")
    assert code == 0, err
    assert sorted(f["code"] for f in json.loads(out)) == [
        "autocomplete-backend",
        "autocomplete-config",
        "autocomplete-io",
    ]
    assert err == f"{repo}: Triton would load every model (3 warning(s)).\n"


def test_validate_of_a_missing_repository_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("validate", "--repo", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err


def test_list_reports_served_versions_sizes_and_metrics(tmp_path: Path) -> None:
    from tests.support.onnx_models import make_bundle

    repo = tmp_path / "repo"
    bundle = make_bundle(tmp_path / "bundle", name="digits")
    run("publish", str(bundle), "--repo", str(repo))
    run("publish", str(bundle), "--repo", str(repo), "--new-version")
    code, out, _ = run("list", "--repo", str(repo), "--format", "json")
    assert code == 0
    [model] = json.loads(out)
    assert model["model"] == "digits" and model["backend"] == "onnxruntime"
    assert [(v["version"], v["served"]) for v in model["versions"]] == [(1, False), (2, True)]
    version = model["versions"][1]
    assert version["metrics"] == {"acc": 0.9}
    files = sorted((repo / "digits" / "2").iterdir())
    assert version["size_bytes"] == sum(p.stat().st_size for p in files)
    code, out, _ = run("list", "--repo", str(repo))
    assert code == 0 and "digits" in out and "acc=0.9" in out and version["sha256"][:12] in out
