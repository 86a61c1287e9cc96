"""An S3 endpoint that is not a URL: a usage error from the option, a message from the env."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.release_repos import make_repository

AWS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("nan", "it does not start with http:// or https://"),
        ("http://[::1", "it does not parse"),
        ("http://127.0.0.1:99999", "it does not parse"),
        ("http://", "it has no host, or a space in it"),
        ("http://a b:9000", "it has no host, or a space in it"),
    ],
)
@pytest.mark.parametrize("command", ["sync", "releases list"])
def test_an_endpoint_option_that_is_not_a_url_is_a_usage_error(
    tmp_path: Path, endpoint: str, problem: str, command: str
) -> None:
    repo = make_repository(tmp_path / "repo", {"alpha": [1]})
    args = [*command.split(), "--endpoint-url", endpoint, "s3://bucket/prefix"]
    if command == "sync":
        args += ["--repo", str(repo)]
    result = CliRunner().invoke(cli, args, env=AWS)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.output
    assert f"'{endpoint}' is not an S3 endpoint URL: {problem}" in result.stderr


def test_an_endpoint_with_credentials_is_not_echoed() -> None:
    endpoint = "ftp://user:secret@host:9000"
    args = ["releases", "list", "--endpoint-url", endpoint, "s3://bucket/prefix"]
    result = CliRunner().invoke(cli, args, env=AWS)
    assert result.exit_code == 2
    assert "secret" not in result.output
    assert "(not shown: it carries credentials)" in result.stderr


def test_an_endpoint_variable_that_is_not_a_url_is_one_message(tmp_path: Path) -> None:
    env = {**AWS, "AWS_ENDPOINT_URL": "not a url"}
    result = CliRunner().invoke(cli, ["releases", "list", "s3://bucket/prefix"], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: The S3 endpoint (--endpoint-url or AWS_ENDPOINT_URL) is not a URL botocore "
        "accepts (not repeated here: it may carry credentials). Pass an http(s) URL such as "
        "http://127.0.0.1:9000, or leave both unset for AWS."
    )
