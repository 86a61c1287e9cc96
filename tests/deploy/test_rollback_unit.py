"""rollback returns to the previous *unit*: its stored manifests, not today's overlay."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.deploy.render import render
from orchestrator.deploy.unit import UNIT_ANNOTATION, store_unit, with_unit
from orchestrator.releases.environments import environment_key, set_environment
from orchestrator.releases.stores.serving_url import serving_url
from rehearsal.recording import RecordingRunner
from tests.deploy.conftest import MANIFESTS, Releases


def _rollback(runner: RecordingRunner, releases: Releases, *extra: str) -> Result:
    args = ["rollback", releases.url, "--env", "staging", "--manifests", str(MANIFESTS)]
    return CliRunner().invoke(cli, [*args, *extra], obj={"kubectl": runner})


def test_a_rollback_applies_the_previous_units_stored_manifests(releases: Releases) -> None:
    store = releases.store
    rendered = render(
        RecordingRunner(),
        MANIFESTS,
        "staging",
        release_id=releases.old,
        model_repository=serving_url(store.url, releases.old),
    )
    unit, applied = with_unit(rendered)
    store_unit(store, unit, applied)
    set_environment(store, "staging", releases.old, unit=unit)
    set_environment(store, "staging", releases.new, unit="f" * 64)
    runner = RecordingRunner()

    result = _rollback(runner, releases, "--dry-run")

    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert runner.calls == []  # nothing rendered: the stored text is applied as it was
    assert applied in result.stdout
    assert f'{UNIT_ANNOTATION}: "{unit}"' in result.stdout
    assert "Warning" not in result.stderr


def test_a_rollback_without_stored_manifests_renders_today_with_a_warning(
    releases: Releases,
) -> None:
    # a format-1 pointer: what was applied before units were recorded is unknown
    body = {"environment": "staging", "release": releases.new, "previous": releases.old}
    releases.store.replace(
        environment_key("staging"),
        json.dumps(body).encode(),
        releases.store.read(environment_key("staging")).token,  # type: ignore[union-attr]
    )
    runner = RecordingRunner()

    result = _rollback(runner, releases, "--dry-run")

    assert result.exit_code == 0, result.output
    assert "Note: Warning: the store keeps no manifests of staging's previous unit" in (
        result.stderr
    )
    assert f"triton-orchestrator/release: {releases.old}" in result.stdout
    assert len(runner.calls) == 1 and runner.calls[0].args[0] == "kustomize"
