"""status says what was wrong with kubectl's answer, not that no cluster was reachable.

Before, a kubectl that answered with garbage (not UTF-8, too large, nested too deeply, of
the wrong shape) read as "No cluster reachable: kubectl could not read deployment/triton",
the real reason only under -v. Here the recording runner (rehearsal/recording.py) gives
each answer exactly as ``SubprocessKubectl._read`` hands the real kubectl's bytes on:
decoded with replacement.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.deploy.kubectl import MAX_OUTPUT_BYTES, SubprocessKubectl, UnreadableAnswer
from rehearsal.recording import RecordingRunner
from tests.deploy.conftest import MANIFESTS, Releases

ANSWERED = "Error: kubectl answered, but not with a Deployment status can read: "
GET = "kubectl get deployment/triton --namespace triton-staging --ignore-not-found --output=json"
# What a terminal must never receive: C0/C1 controls other than newline, bidi overrides.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

ANSWERS = {
    "not-utf8": (b"\xff\xfe\x1b[31m\x07\xe2\x80\xae" * 4096, "printed no JSON that can be read"),
    "huge": (
        b'{"kind": "Deployment", "x": "' + b"a" * (MAX_OUTPUT_BYTES + 1) + b'"}',
        f"printed {MAX_OUTPUT_BYTES + 32} characters: not an answer to read",
    ),
    "deep": (
        b'{"kind": "Deployment", "status": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "printed no JSON that can be read",
    ),
    "wrong-shape": (
        json.dumps({"kind": "Deployment", "metadata": ["triton"], "spec": {}}).encode(),
        "printed a Deployment whose metadata is a list, not an object",
    ),
    "a-list": (b"[1, 2]", "printed list, not an object"),
    "not-a-deployment": (b'{"kind": "Status", "message": "\\u001b[2Jhi"}', "printed no Deployment"),
}


def _status(releases: Releases, *extra: str) -> list[str]:
    return ["status", releases.url, "--env", "staging", "--manifests", str(MANIFESTS), *extra]


@pytest.mark.parametrize("name", list(ANSWERS))
def test_status_says_what_was_wrong_with_kubectls_answer(releases: Releases, name: str) -> None:
    answer, reason = ANSWERS[name]
    runner = RecordingRunner({"get deployment/triton": [(0, answer.decode(errors="replace"))]})
    result = CliRunner().invoke(cli, _status(releases), obj={"kubectl": runner})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"pointer      {releases.old}\n" in result.stdout  # the store's side still shows
    assert result.stderr.startswith(f"{ANSWERED}{GET} {reason}"), result.stderr[:600]
    assert "No cluster reachable" not in result.stderr
    assert result.stderr.endswith(
        "Check the kube context (kubectl config current-context): it may name a server that "
        "is not a Kubernetes API server.\n"
    )
    assert not CONTROL.search(result.stderr), ascii(result.stderr[:600])
    assert len(result.stderr) < 800


def test_status_json_carries_the_same_reason(releases: Releases) -> None:
    runner = RecordingRunner({"get deployment/triton": [(0, "[1, 2]")]})
    result = CliRunner().invoke(cli, _status(releases, "--format", "json"), obj={"kubectl": runner})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    body = json.loads(result.stdout)
    assert body["cluster_error"] == (
        f"kubectl answered, but not with a Deployment status can read: {GET} printed list, "
        "not an object. Check the kube context (kubectl config current-context): it may name "
        "a server that is not a Kubernetes API server."
    )
    assert body["rollout"]["state"] == "unknown" and body["pointer_release"] == releases.old


def test_an_answer_over_the_byte_limit_is_an_unreadable_answer(tmp_path: Path) -> None:
    # The real runner's size check (before reading): /bin/echo prints its arguments.
    runner = SubprocessKubectl(Path("/bin/echo"), max_output_bytes=8)
    with pytest.raises(UnreadableAnswer, match="printed 30 bytes on stdout, more than the 8"):
        runner.run(["get", "deployment/triton", "-o=json"], input_text=None, timeout_s=10)
