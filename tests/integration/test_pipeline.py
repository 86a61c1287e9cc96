"""The push pipeline end to end on this machine (issue: push-triggered promotion, point 4).

A new bundle appears in a scratch copy of ``models/exports/``; then promote.yml's
commands run in order (rehearsal/pipeline.py): publish, validate, local smoke, sync to the
moto S3 server, deploy to staging through the played cluster (the recording kubectl
runner whose pods are local Tritons serving the release from S3), gate, promote. And the
failure paths: a bad bundle stops before any sync, a failing gate leaves production's
pointer and Deployment untouched, a re-run of the same commit uploads nothing and gives
the same release id. Every build runs in a fresh checkout of its commit (issue 18), so
version numbers come from the store's registry, never from an earlier push's leftovers.

One passing rehearsal serves the module (``first_push``: the project as committed plus a
new ``affine`` bundle, through production): the tests that need a pipeline that already
passed continue from it (``after_first_push``) instead of running their own first push,
as a team's next pushes follow the last one. Each such test resets the developer's clone
to the first push's commit and states what it expects relative to what it found, so the
tests pass alone, in any selection and in file order.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from onnx import numpy_helper

from orchestrator.deploy.unit import UNIT_ANNOTATION, read_unit
from orchestrator.releases.catalog import read_releases
from orchestrator.releases.environments import EnvironmentPointer, read_environment
from orchestrator.releases.gate_records import gate_records, latest_passing, latest_record
from orchestrator.releases.version_registry import reused_versions
from rehearsal.pipeline import Rehearsal, StepResult, git, rehearsal
from rehearsal.s3_server import S3Server
from tests.support.onnx_models import affine_model, make_bundle
from training.bundle import write_bundle

pytestmark = pytest.mark.integration

STAGING, PRODUCTION = "triton-staging", "triton-production"
BUILD = [
    "publish",
    "validate",
    "gates config",
    "smoke",
    "sync",
    "release id",
    "diff against staging",
]
WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "promote.yml"


def _workflow_commands() -> list[str]:
    """promote.yml's orchestrator commands in order (``make release-id`` runs ``release``)."""
    commands = []
    for job in yaml.safe_load(WORKFLOW.read_text())["jobs"].values():
        for step in job["steps"]:
            words = str(step.get("run", "")).split()
            if words[:2] == ["make", "release-id"]:
                commands.append("release")
            elif words and words[0] == ".venv/bin/orchestrator":
                commands.append(" ".join(words[1:3]) if words[1] == "releases" else words[1])
    return commands


def _affine_bundle(folder: Path, *, offset: float = 1.0, trained: float = 1.0) -> Path:
    """A new model's export bundle, as training writes it (golden answers y = 2x + offset).

    ``trained``: the model's own offset (y = 2x + trained): another value is a retrain,
    another model file.
    """
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    model = affine_model(4)
    for initializer in model.graph.initializer:
        if initializer.name == "one":
            initializer.CopyFrom(
                numpy_helper.from_array(np.array(trained, dtype=np.float32), "one")
            )
    shutil.rmtree(folder, ignore_errors=True)  # the seed flow: the new bundle replaces the old
    write_bundle(
        folder,
        onnx_bytes=model.SerializeToString(),
        golden_inputs={"x": x},
        golden_outputs={"y": x * 2 + offset, "s": x.sum(axis=1, keepdims=True)},
        metadata={"model_name": "affine", "signature": {}, "metrics": {"acc": 0.9}},
    )
    return folder


def _quiet(line: str) -> None:
    del line


def _retrained(folder: Path) -> Path:
    """The affine bundle retrained: another model file (y = 2x + 3), its own golden answers."""
    return _affine_bundle(folder, trained=3.0, offset=3.0)


@pytest.fixture
def run(tmp_path: Path, s3_server: S3Server) -> Iterator[Rehearsal]:
    """A rehearsal of its own: nothing pushed, built or deployed yet."""
    with rehearsal(tmp_path, s3=s3_server, say=_quiet) as played:
        yield played


@dataclass(frozen=True)
class FirstPush:
    """The module's one passing push, and what it left as it finished."""

    played: Rehearsal
    passed: bool
    commit: str
    checkout: Path | None
    steps: tuple[StepResult, ...]
    pointers: dict[str, EnvironmentPointer | None]
    running: dict[str, str | None]

    @property
    def release(self) -> str:
        return str(self.view().step("sync").json()["release"])

    def view(self) -> Rehearsal:
        """The rehearsal as the first push left its steps (the store and cluster are shared)."""
        return dataclasses.replace(self.played, steps=list(self.steps))


@pytest.fixture(scope="module")
def first_push(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server
) -> Iterator[FirstPush]:
    """The project as committed plus a new ``affine`` bundle, through production."""
    with rehearsal(tmp_path_factory.mktemp("pipeline"), s3=s3_server, say=_quiet) as played:
        # The autouse user_cache_dir is per test: this push gets a fresh cache of its own.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
            _affine_bundle(played.exports / "affine")
            commit = played.push("affine: a new bundle")
            passed = played.pipeline(commit)
        yield FirstPush(
            played,
            passed,
            commit,
            played.checkout,
            tuple(played.steps),
            {e: read_environment(played.store, e) for e in ("staging", "production")},
            {ns: played.cluster.release_in(ns) for ns in (STAGING, PRODUCTION)},
        )


@pytest.fixture
def after_first_push(first_push: FirstPush) -> Rehearsal:
    """The shared rehearsal after the first push passed, the developer's clone back at its
    commit, no steps and the committed gates: the store and the cluster hold whatever the
    tests before this one left (their pushes came after the first one)."""
    if not first_push.passed:
        failed = [f"{s.command}\n{s.output}" for s in first_push.steps if not s.ok]
        pytest.fail("The module's first push failed:\n" + "\n".join(failed))
    played = first_push.played
    git(played.source, "reset", "-q", "--hard", first_push.commit)
    git(played.source, "clean", "-q", "-f", "-d", "-x")
    played.steps.clear()
    played.gates = None
    return played


def _names(played: Rehearsal) -> list[str]:
    return [step.name for step in played.steps]


def _strict_gates(tmp_path: Path) -> Path:
    """A gates.yaml no CPU can meet: p99 under a microsecond."""
    path = tmp_path / "strict-gates.yaml"
    path.write_text("defaults:\n  p99_ms: 0.001\n")
    return path


def test_a_new_bundle_goes_from_exports_to_production(first_push: FirstPush) -> None:
    run = first_push.view()

    assert first_push.passed, "\n".join(s.output for s in run.steps if not s.ok)

    assert _names(run) == [
        *BUILD,
        "deploy staging",
        "gate staging",
        "diff against production",
        "promote",
    ]
    # the same orchestrator commands as promote.yml, in its order (its rollback step
    # runs only when a gate fails)
    assert run.orchestrator_commands() == [c for c in _workflow_commands() if c != "rollback"]
    published = run.steps[0].output
    assert "affine 1" in published and "unchanged" in published  # the shipped ones
    release = run.step("sync").json()["release"]
    assert run.step("release id").stdout.strip() == release
    assert "| affine | added |" in run.step("diff against staging").stdout
    store = run.store
    staging, production = first_push.pointers["staging"], first_push.pointers["production"]
    assert staging is not None and staging.release_id == release
    assert production is not None and production.release_id == release
    assert first_push.running == {STAGING: release, PRODUCTION: release}
    assert latest_passing(store, release, "staging") is not None
    assert latest_passing(store, release, "production") is not None  # promote gated it
    served = run.step("deploy staging").output
    assert "affine/1" in served and "digits_cnn/1" in served and "cancer_mlp/1" in served


@pytest.mark.parametrize(
    ("fault", "stopped_at", "message"),
    [
        ("graph does not fit the config", "publish", "does not match the new graph"),
        ("golden answers wrong", "smoke", "affine"),
    ],
)
def test_a_bad_bundle_stops_the_build_before_any_sync(
    run: Rehearsal, fault: str, stopped_at: str, message: str
) -> None:
    if fault == "graph does not fit the config":
        # A retrained digits_cnn copied over the committed bundle, with other inputs.
        shutil.rmtree(run.exports / "digits_cnn")
        make_bundle(run.exports / "digits_cnn", name="digits_cnn")
    else:
        # A consistent bundle (export.json matches its files) whose golden answers are
        # not what the model computes: only serving it shows that.
        _affine_bundle(run.exports / "affine", offset=2.0)

    assert not run.pipeline()

    failed = run.steps[-1]
    assert (failed.name, failed.exit_code) == (stopped_at, 1)
    assert message in failed.output
    assert "sync" not in _names(run)
    # no release and no pointer (publish --store numbered the bundles in the registry only)
    stored = [o.key for o in run.store.list_objects("")]
    assert stored and all(key.startswith("models/") for key in stored)
    assert run.cluster.calls == []


def test_a_failing_gate_rolls_staging_back_and_leaves_production_untouched(
    after_first_push: Rehearsal, tmp_path: Path
) -> None:
    run = after_first_push  # staging and production run the first push's release
    store = run.store
    staging_before = read_environment(store, "staging")
    production_before = read_environment(store, "production")
    assert staging_before is not None and production_before is not None
    first = production_before.release_id
    production_calls = [c.line for c in run.cluster.calls if PRODUCTION in c.line]
    production_applies = run.cluster.applied(PRODUCTION)
    # The next push retrains a model; its gate cannot pass (p99 under a microsecond).
    _retrained(run.exports / "affine")
    run.gates = _strict_gates(tmp_path)

    assert not run.pipeline()

    assert _names(run) == [
        *BUILD,
        "deploy staging",
        "gate staging",
        "rollback staging (the gate failed)",
    ]
    assert run.step("rollback staging (the gate failed)").ok
    second = run.step("sync").json()["release"]
    assert second not in (first, staging_before.release_id)
    record = latest_record(store, second, "staging")
    assert record is not None and not record.passed
    assert latest_passing(store, second, "staging") is None
    # staging runs what it ran before again, its pointer says so; production never saw B
    staging = read_environment(store, "staging")
    assert staging is not None and (staging.release_id, staging.previous_release_id) == (
        staging_before.release_id,
        second,
    )
    assert run.cluster.release_in(STAGING) == staging_before.release_id
    assert read_environment(store, "production") == production_before
    assert run.cluster.release_in(PRODUCTION) == first
    # promoting it by hand anyway is refused: no passing gate record in staging
    assert not run.production(second)
    assert "gate" in run.step("promote").output
    assert read_environment(store, "production") == production_before
    assert run.cluster.applied(PRODUCTION) == production_applies
    assert [c.line for c in run.cluster.calls if PRODUCTION in c.line] == production_calls


def test_a_rerun_of_the_same_commit_uploads_nothing_and_gives_the_same_release(
    first_push: FirstPush, after_first_push: Rehearsal
) -> None:
    run = after_first_push
    # A re-run: another fresh checkout of the first push's commit, the store as the pushes
    # so far left it.
    second_release = run.build(first_push.commit)
    synced = run.step("sync").json()

    assert run.checkout not in (None, first_push.checkout)
    assert second_release == first_push.release
    assert synced["upload"]["files"] == 0 and synced["copy"]["files"] == 0
    assert synced["already_complete"] is True


def _served(played: Rehearsal, release: str | None, model: str) -> tuple[int, ...]:
    found = read_releases(played.store)[str(release)]
    assert found is not None
    return next(m.versions for m in found.models if m.name == model)


def test_retrain_retrain_revert_and_a_rebuild_keep_every_version_number_to_one_model_file(
    first_push: FirstPush, after_first_push: Rehearsal
) -> None:
    run = after_first_push
    # Four pushes as GitHub runs them, each built in a fresh checkout of its commit: the
    # committed model_repository never holds the versions earlier pushes published. The
    # first is the module's first push: affine trained (A).
    release_a = first_push.release
    _retrained(run.exports / "affine")
    commit_b = run.push("affine: retrained (B)")
    release_b = run.build()
    git(run.source, "revert", "--no-edit", "HEAD")  # back to A's bytes
    release_revert = run.build()
    release_b_again = run.build(commit_b)

    assert None not in (release_a, release_b, release_revert, release_b_again)
    # no (model, version) names two model files across the store's releases
    assert reused_versions(read_releases(run.store)) == []
    # B is a new number (not A's 1 again; the failing-gate test pushes the same bytes, so
    # the registry has at most this one other number); the revert gets A's number back
    assert _served(run, release_a, "affine") == (1,)
    assert _served(run, release_b, "affine") == (2,)
    assert _served(run, release_revert, "affine") == (1,)
    assert release_revert == release_a
    # the same commit gives the same release id, whenever it is built
    assert release_b_again == release_b
    published = run.step("publish").output
    assert "affine 2" in published


def _template(played: Rehearsal, namespace: str) -> dict[str, str]:
    """The pod template annotations of what the played cluster last applied there."""
    applied = played.cluster.namespaces[namespace].deployment
    assert applied is not None
    return dict(applied["spec"]["template"]["metadata"]["annotations"])


def test_a_manifest_only_push_reaches_production_and_rollback_returns_its_manifests(
    first_push: FirstPush, after_first_push: Rehearsal, tmp_path: Path
) -> None:
    run = after_first_push
    # push 1, the module's first push, runs in staging and production
    store = run.store
    staging_1, production_1 = (read_environment(store, e) for e in ("staging", "production"))
    assert staging_1 is not None and production_1 is not None
    release = production_1.release_id
    assert release == first_push.release
    assert staging_1.unit is not None and production_1.unit is not None
    assert read_unit(store, production_1.unit) is not None  # stored before the pointer moved
    assert _template(run, PRODUCTION)[UNIT_ANNOTATION] == production_1.unit
    production_gates = len(gate_records(store, release, "production"))

    # One level keeps it short; the throughput rule is the default one: push 2 changes no
    # model file and no pod spec, so its gates measure throughput and do not compare it.
    run.gates = tmp_path / "gates.yaml"
    run.gates.write_text("defaults:\n  concurrency: [1]\n")

    # push 2: only deployment/** changes (a pod template annotation): the same release
    base = run.source / "deployment" / "k8s" / "base" / "deployment.yaml"
    base.write_text(
        base.read_text().replace(
            "        triton-orchestrator/release: unset\n",
            '        triton-orchestrator/release: unset\n        example.com/revision: "2"\n',
        )
    )
    assert run.pipeline(), "\n".join(s.output for s in run.steps if not s.ok)

    assert run.step("sync").json()["release"] == release
    assert run.step("promote").ok and "already runs" not in run.step("promote").output
    production_2 = read_environment(store, "production")
    assert production_2 is not None and production_2.release_id == release
    assert production_2.unit not in (None, production_1.unit)
    assert (production_2.previous_release_id, production_2.previous_unit) == (
        release,
        production_1.unit,
    )
    assert _template(run, PRODUCTION)["example.com/revision"] == "2"
    # gated again: one more record, and it passed
    assert len(gate_records(store, release, "production")) == production_gates + 1
    assert latest_passing(store, release, "production") == latest_record(
        store, release, "production"
    )
    gated = latest_passing(store, release, "production")
    assert gated is not None
    served = read_releases(store)[release]
    assert served is not None
    assert gated.body["unchanged_models"] == sorted(m.name for m in served.models)

    # a redeploy of the same unit keeps the real rollback target
    assert run.staging(release)
    staging_again = read_environment(store, "staging")
    assert staging_again is not None and staging_again.previous_unit == staging_1.unit

    # rollback applies the previous unit's manifests as they were applied
    rolled = run.run(
        "rollback production",
        "rollback",
        run.store_url,
        "--env",
        "production",
        "--endpoint-url",
        run.endpoint_url,
        *run._manifests_option(),
    )
    assert rolled.ok, rolled.output
    production_3 = read_environment(store, "production")
    assert production_3 is not None
    assert (production_3.release_id, production_3.unit) == (release, production_1.unit)
    assert "example.com/revision" not in _template(run, PRODUCTION)
    assert _template(run, PRODUCTION)[UNIT_ANNOTATION] == production_1.unit
