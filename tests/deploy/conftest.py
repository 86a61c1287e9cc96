"""Releases in a real store, and the manifests fixture, for the deploy and promote tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.deploy.kubectl import Completed
from orchestrator.releases.environments import set_environment
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import Store, open_store
from orchestrator.releases.sync import sync_release
from rehearsal.recording import Outcome, deployment_json
from tests.support.golden_versions import write_affine_version

MANIFESTS = Path(__file__).parent / "fixtures" / "k8s"


@dataclass(frozen=True)
class Releases:
    """A file:// store with releases ``old`` and ``new``; staging points at ``old``."""

    url: str
    store: Store
    old: str
    new: str


def make_release(repo: Path, store: Store, model: str, *, offset: float = 1.0) -> str:
    """Sync a one-model release (y = 2x + offset, its own golden data) and return its id."""
    write_affine_version(repo, model, 1, offset=offset)
    release = build_release(repo)
    sync_release(release, store)
    return release.id


@pytest.fixture
def releases(tmp_path: Path) -> Releases:
    url = (tmp_path / "store").as_uri()
    store = open_store(url)
    old = make_release(tmp_path / "old", store, "deploy_ok", offset=1.0)
    new = make_release(tmp_path / "new", store, "deploy_ok", offset=1.0 + 2**-4)
    set_environment(store, "staging", old)
    return Releases(url, store, old, new)


def deploy_args(releases: Releases, release: str, *extra: str) -> list[str]:
    """``orchestrator deploy`` of ``release`` to staging with the fixture manifests."""
    return [
        "deploy",
        releases.url,
        "--env",
        "staging",
        "--release",
        release,
        "--manifests",
        str(MANIFESTS),
        "--timeout-s",
        "30",
        *extra,
    ]


@dataclass(frozen=True)
class Promotion:
    """A store with releases ``old`` and ``new``: production runs ``old``, staging ``new``."""

    url: str
    endpoint_url: str | None
    store: Store
    old: str
    new: str
    gates: Path

    def args(self, *extra: str) -> list[str]:
        """``orchestrator promote`` staging -> production with the fixture manifests.

        With a short gates file that fits the release (a later ``--gates`` wins): promote
        checks it against the release before deploying.
        """
        endpoint = ["--endpoint-url", self.endpoint_url] if self.endpoint_url else []
        return [
            "promote",
            self.url,
            "--from",
            "staging",
            "--to",
            "production",
            "--manifests",
            str(MANIFESTS),
            "--gates",
            str(self.gates),
            "--timeout-s",
            "30",
            *endpoint,
            *extra,
        ]


def make_promotion(
    tmp_path: Path,
    url: str,
    model: str,
    *,
    endpoint_url: str | None = None,
    production: bool = True,
) -> Promotion:
    """Sync ``old`` (model ``<model>_old``) and ``new`` (``model``); point the environments.

    Staging points at ``new``; production at ``old`` unless ``production`` is false (then
    it has no pointer). No gate record is written.
    """
    store = open_store(url, endpoint_url=endpoint_url)
    old = make_release(tmp_path / "old", store, f"{model}_old")
    new = make_release(tmp_path / "new", store, model)
    set_environment(store, "staging", new)
    if production:
        set_environment(store, "production", old)
    gates = tmp_path / "promote-gates.yaml"
    gates.write_text("defaults:\n  concurrency: [1]\n  window_s: 0.3\n  warmup_s: 0.1\n")
    return Promotion(url, endpoint_url, store, old, new, gates)


def rolled(releases: Releases, **more: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    """kubectl's answers to a deploy: staging runs ``old`` (revision 3), then ``new``
    (revision 4) once applied; ``more`` adds or replaces answers by command."""
    return {
        "get deployment/triton": [
            Completed((), 0, deployment_json(releases.old, 3)),
            Completed((), 0, deployment_json(releases.new, 4)),
        ],
        "apply": [(0, "deployment.apps/triton configured")],
        "rollout status": [(0, 'deployment "triton" successfully rolled out')],
        "rollout undo": [(0, "deployment.apps/triton rolled back")],
        **{key: list(outcomes) for key, outcomes in more.items()},
    }
