"""The release, sync and releases commands: data on stdout, messages on stderr, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from orchestrator.cli import cli
from orchestrator.cli.output.releases import print_releases
from orchestrator.releases import catalog
from orchestrator.releases.environments import set_environment
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import open_store
from rehearsal.s3_server import S3Server
from tests.support.release_repos import rewrite


def test_release_prints_the_id_and_models(release_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["release", "--repo", str(release_repo)])
    assert result.exit_code == 0, result.output
    release = build_release(release_repo)
    assert result.stdout.splitlines()[0] == f"release  {release.id}"
    assert "model    alpha: versions 2" in result.stdout


def test_release_json_is_the_manifest(release_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["release", "--repo", str(release_repo), "--format", "json"])
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["id"] == build_release(release_repo).id
    assert set(body["models"]) == {"alpha", "beta"}


def test_release_of_a_missing_repository_exits_1_without_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["release", "--repo", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Model repository")
    assert isinstance(result.exception, SystemExit)


def test_sync_to_file_then_resync_uploads_nothing(release_repo: Path, tmp_path: Path) -> None:
    dest = (tmp_path / "dest").as_uri()
    first = CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo), "--format", "json"])
    assert first.exit_code == 0, first.output
    body = json.loads(first.stdout)
    release = build_release(release_repo)
    assert body["release"] == release.id
    # where Triton serves it from: the local path (serving_url), not the file:// URL
    assert body["url"] == f"{tmp_path / 'dest'}/releases/{release.id}"
    assert body["upload"]["files"] == len(set(release.files.values()))  # distinct content
    assert body["upload"]["files"] + body["copy"]["files"] == len(release.files)
    assert body["wrote_manifest"] is True

    again = CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo)])
    assert again.exit_code == 0
    assert "upload     0 file(s), 0 B" in again.stdout
    assert "status     already complete: nothing written" in again.stdout


def test_sync_dry_run_prints_the_plan(release_repo: Path, tmp_path: Path) -> None:
    dest = (tmp_path / "dest").as_uri()
    result = CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo), "--dry-run"])
    assert result.exit_code == 0
    assert "upload     alpha/config.pbtxt" in result.stdout
    assert "status     dry run: nothing written" in result.stdout
    assert not (tmp_path / "dest").exists()


def test_sync_with_three_locations_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sync", "a", "b", "c"])
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Error: Expected one STORE, got 3 arguments (a b c), e.g. "
        "`orchestrator sync s3://bucket/prefix --repo model_repository`.\n"
    )


def test_a_usage_error_does_not_echo_credentials_in_a_url() -> None:
    result = CliRunner().invoke(cli, ["sync", "a", "b", "s3://key:hunter2@bucket/p"])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert "s3://***@bucket/p" in result.stderr


def test_sync_without_a_store_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["sync", "--repo", "model_repository"])
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: Missing argument 'STORE'.\n")


def test_sync_to_a_missing_bucket_exits_1_naming_it(
    release_repo: Path, s3_server: S3Server
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "sync",
            "s3://missing-bucket/prod",
            "--repo",
            str(release_repo),
            "--endpoint-url",
            s3_server.endpoint_url,
        ],
    )
    assert result.exit_code == 1
    assert "bucket 'missing-bucket' does not exist" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_releases_list_and_gc_on_s3(
    release_repo: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    dest = f"s3://{s3_bucket}/prod"
    endpoint = ["--endpoint-url", s3_server.endpoint_url]
    ids = []
    for text in ("one\n", "two\n"):
        # a new release: a model-level file changes (a version's files never do)
        rewrite(release_repo / "beta" / "labels.txt", text)
        result = CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo), *endpoint])
        assert result.exit_code == 0, result.output
        ids.append(build_release(release_repo).id)
    set_environment(open_store(dest, endpoint_url=s3_server.endpoint_url), "production", ids[0])

    listed = CliRunner().invoke(cli, ["releases", "list", dest, *endpoint, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == set(ids)
    assert rows[ids[0]]["environments"] == ["production"]
    assert rows[ids[1]]["models"] == {"alpha": [2], "beta": [1]}

    table = CliRunner().invoke(cli, ["releases", "list", dest, *endpoint])
    assert table.exit_code == 0 and "production" in table.stdout

    gc = CliRunner().invoke(cli, ["releases", "gc", dest, "--keep", "0", *endpoint])
    assert gc.exit_code == 0, gc.output
    assert gc.stdout.splitlines() == [
        f"deleted  {ids[1]}",
        f"kept     {ids[0]} (pointed at by production)",
    ]
    assert "1 release(s) deleted" in gc.stderr


def test_releases_subcommands_have_help_with_an_example() -> None:
    for name in ("list", "gc", "verify"):
        result = CliRunner().invoke(cli, ["releases", name, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output


def test_releases_verify_passes_then_names_a_tampered_file(
    release_repo: Path, tmp_path: Path
) -> None:
    dest = (tmp_path / "dest").as_uri()
    assert CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo)]).exit_code == 0
    release = build_release(release_repo)

    ok = CliRunner().invoke(cli, ["releases", "verify", dest, release.id])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == ""
    assert "verifies" in ok.stderr

    stored = tmp_path / "dest" / "releases" / release.id / "beta" / "1" / "notes.txt"
    stored.write_text(stored.read_text().upper())  # same size, other bytes
    bad = CliRunner().invoke(cli, ["releases", "verify", dest, release.id, "--format", "json"])
    assert bad.exit_code == 1
    body = json.loads(bad.stdout)
    assert body["ok"] is False
    assert len(body["problems"]) == 1 and body["problems"][0].startswith("beta/1/notes.txt: sha256")
    assert "does not match its manifest: 1 problem(s)" in bad.stderr


def test_sync_into_the_repository_exits_1_and_leaves_it_alone(release_repo: Path) -> None:
    before = sorted(p.relative_to(release_repo) for p in release_repo.rglob("*"))
    dest = (release_repo / "releases-out").as_uri()
    result = CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Refusing to sync into {dest}: it is inside the ")
    assert isinstance(result.exception, SystemExit)
    assert sorted(p.relative_to(release_repo) for p in release_repo.rglob("*")) == before
    # and every later command still works on the repository
    assert CliRunner().invoke(cli, ["release", "--repo", str(release_repo)]).exit_code == 0


def test_sync_prints_the_url_triton_serves_from_with_the_endpoint(
    release_repo: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    dest = f"s3://{s3_bucket}/prod"
    result = CliRunner().invoke(
        cli, ["sync", dest, "--repo", str(release_repo), "--endpoint-url", s3_server.endpoint_url]
    )
    assert result.exit_code == 0, result.output
    host = s3_server.endpoint_url.removeprefix("http://")
    release_id = build_release(release_repo).id
    assert f"url        s3://{host}/{s3_bucket}/prod/releases/{release_id}\n" in result.stdout


def test_sync_to_a_prefix_triton_cannot_serve_exits_1_before_uploading(
    release_repo: Path, s3_server: S3Server, s3_client: Any, s3_bucket: str
) -> None:
    dest = f"s3://{s3_bucket}/team a"
    result = CliRunner().invoke(
        cli, ["sync", dest, "--repo", str(release_repo), "--endpoint-url", s3_server.endpoint_url]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Triton cannot serve from {dest}: the path segment")
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0


@pytest.mark.parametrize("command", ["sync", "list", "gc"])
def test_an_endpoint_with_credentials_is_never_echoed(
    command: str, release_repo: Path, s3_server: S3Server
) -> None:
    host = s3_server.endpoint_url.removeprefix("http://")
    endpoint = ["--endpoint-url", f"http://user:secret@{host}"]
    args = {
        "sync": ["sync", "s3://missing-bucket/prod", "--repo", str(release_repo), *endpoint],
        "list": ["releases", "list", "s3://missing-bucket/prod", *endpoint],
        "gc": ["releases", "gc", "s3://missing-bucket/prod", "--keep", "1", *endpoint],
    }[command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "secret" not in result.output
    assert "http://***@" in result.stderr


def test_releases_list_of_a_prefix_with_nothing_says_so_and_exits_1(
    release_repo: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    endpoint = ["--endpoint-url", s3_server.endpoint_url]
    synced = CliRunner().invoke(
        cli, ["sync", f"s3://{s3_bucket}/prod", "--repo", str(release_repo), *endpoint]
    )
    assert synced.exit_code == 0, synced.output
    for output_format in ("table", "json"):
        result = CliRunner().invoke(
            cli,
            ["releases", "list", f"s3://{s3_bucket}/prdo", *endpoint, "--format", output_format],
        )
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == (
            f"Error: No releases under s3://{s3_bucket}/prdo/releases/; check the prefix (and "
            "--endpoint-url), or sync a release there first.\n"
        )
        assert isinstance(result.exception, SystemExit)
    # gc of it deletes nothing (a reachable, empty store is not failed work) but says so
    gc = CliRunner().invoke(
        cli, ["releases", "gc", f"s3://{s3_bucket}/prdo", "--keep", "1", *endpoint]
    )
    assert gc.exit_code == 0
    assert gc.stderr.startswith(f"Note: No releases under s3://{s3_bucket}/prdo/releases/;")


def test_releases_gc_names_the_pointer_that_keeps_a_rollback_target(
    release_repo: Path, tmp_path: Path
) -> None:
    dest = (tmp_path / "dest").as_uri()
    ids = []
    for text in ("one\n", "two\n", "three\n"):
        # a new release: a model-level file changes (a version's files never do)
        rewrite(release_repo / "beta" / "labels.txt", text)
        assert CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo)]).exit_code == 0
        ids.append(build_release(release_repo).id)
    store = open_store(dest)
    set_environment(store, "production", ids[0])
    set_environment(store, "production", ids[1])

    gc = CliRunner().invoke(cli, ["releases", "gc", dest, "--keep", "0"])

    assert gc.exit_code == 0, gc.output
    assert sorted(gc.stdout.splitlines()) == sorted(
        [
            f"deleted  {ids[2]}",
            f"kept     {ids[0]} (pointed at by production (previous))",
            f"kept     {ids[1]} (pointed at by production)",
        ]
    )


def test_releases_verify_latest_checks_the_newest_complete_release(
    release_repo: Path, tmp_path: Path
) -> None:
    dest = (tmp_path / "dest").as_uri()
    assert CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo)]).exit_code == 0
    release = build_release(release_repo)

    result = CliRunner().invoke(cli, ["releases", "verify", dest, "latest", "--format", "json"])
    assert result.exception is None, result.output
    assert json.loads(result.stdout) == {"release": release.id, "ok": True, "problems": []}
    assert result.stderr.startswith(f"latest is release {release.id}\n")


def test_releases_verify_latest_of_an_empty_store_exits_1_saying_sync_first(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(cli, ["releases", "verify", (tmp_path / "s").as_uri(), "latest"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "holds no complete release. Sync one first" in result.stderr


def test_releases_list_shows_the_whole_id_in_a_narrow_terminal(
    release_repo: Path, tmp_path: Path
) -> None:
    dest = (tmp_path / "dest").as_uri()
    assert CliRunner().invoke(cli, ["sync", dest, "--repo", str(release_repo)]).exit_code == 0
    release = build_release(release_repo)
    set_environment(open_store(dest), "production", release.id)
    infos = catalog.list_releases(open_store(dest))

    for columns in (80, 120):
        out = io.StringIO()
        print_releases(infos, Console(file=out, width=columns, force_terminal=True))
        assert release.id in out.getvalue(), out.getvalue()
    # in a pipe nothing is squeezed: every value whole, whatever COLUMNS says
    table = CliRunner().invoke(cli, ["releases", "list", dest], env={"COLUMNS": "80"})
    assert table.exception is None, table.output
    assert release.id in table.stdout and "production" in table.stdout
