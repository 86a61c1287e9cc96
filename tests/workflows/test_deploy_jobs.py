"""The deploy jobs: a hash-locked install without torch, cluster credentials that work on a
stock runner, and a `kubectl version` check before the first orchestrator command."""

from __future__ import annotations

import re
import socket
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.manifests import kubectl
from tests.workflows.rules import ROOT, Workflow, load_workflows

GKE_CREDENTIALS = "google-github-actions/get-gke-credentials@"
# What a deploy job must not install: the train and dev extras' heavy or test-only parts.
FORBIDDEN = {"torch", "pytest", "ruff", "mypy", "moto", "jupyter", "ipykernel", "hypothesis"}
PIN = re.compile(r"^([a-z0-9][a-z0-9-]*)==([^\s\\]+) \\$")
HASH = re.compile(r"^    --hash=sha256:[0-9a-f]{64}( \\)?$")


def _deploy_jobs() -> list[tuple[str, dict[str, Any]]]:
    jobs = [(job_id, job) for w in load_workflows() for job_id, job in w.jobs.items()]
    return [(job_id, job) for job_id, job in jobs if job.get("environment")]


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")).strip() for step in job["steps"]]


def test_there_are_deploy_jobs() -> None:
    assert sorted(job_id for job_id, _ in _deploy_jobs()) == ["production", "staging"]


@pytest.mark.parametrize("job_id", ["staging", "production"])
def test_a_deploy_job_installs_the_locked_orchestrator_only(job_id: str) -> None:
    job = dict(_deploy_jobs())[job_id]
    runs = _runs(job)
    assert "make venv" not in runs, "make venv installs the dev and train extras (torch)"
    first_orchestrator = next(i for i, r in enumerate(runs) if r.startswith(".venv/bin/"))
    assert runs.index("make deploy-venv") < first_orchestrator


@pytest.mark.parametrize("job_id", ["staging", "production"])
def test_a_deploy_job_gets_cluster_credentials_per_cloud_then_checks_the_cluster(
    job_id: str,
) -> None:
    steps = dict(_deploy_jobs())[job_id]["steps"]
    gke = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith(GKE_CREDENTIALS)]
    eks = [i for i, s in enumerate(steps) if s.get("run") == "make kubeconfig"]
    check = [i for i, s in enumerate(steps) if s.get("run") == "make cluster-check"]
    assert len(gke) == len(eks) == len(check) == 1
    assert steps[gke[0]]["if"] == "vars.CLOUD == 'gcp'"
    assert steps[eks[0]]["if"] == "vars.CLOUD == 'aws'"
    assert set(steps[gke[0]]["with"]) == {"cluster_name", "location", "project_id"}
    first_orchestrator = next(
        i for i, s in enumerate(steps) if str(s.get("run", "")).startswith(".venv/bin/")
    )
    assert max(gke[0], eks[0]) < check[0] < first_orchestrator
    assert "if" not in steps[check[0]], "the check runs for every cloud"


def _locked() -> dict[str, str]:
    lines = (ROOT / "requirements" / "deploy.txt").read_text().splitlines()
    pins: dict[str, str] = {}
    for number, line in enumerate(lines):
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            assert HASH.match(lines[number + 1]), f"{line} has no sha256 hash below it"
            pins[match.group(1)] = match.group(2)
        else:
            assert HASH.match(line), f"requirements/deploy.txt: unexpected line {line!r}"
    return pins


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~ ;]", requirement, maxsplit=1)[0]).lower()


def test_the_lock_pins_every_dependency_as_pyproject_does_and_nothing_heavy() -> None:
    locked = _locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    # The gcs extra too: deploy reads the release from a gs:// store on GCP.
    for requirement in [*project["dependencies"], *extras["gcs"]]:
        version = requirement.rpartition("==")[2]
        assert locked.get(_name(requirement)) == version, (
            f"{requirement} is not locked at that version in requirements/deploy.txt "
            "(regenerate it: the file's header says how)"
        )
    assert not FORBIDDEN & set(locked)
    served = {_name(r) for r in [*project["dependencies"], *extras["gcs"]]}
    dev_and_train = {_name(r) for r in [*extras["dev"], *extras["train"]]} - served
    assert not dev_and_train & set(locked), sorted(dev_and_train & set(locked))
    assert {"setuptools", "wheel"} <= set(locked), "the orchestrator is built without isolation"


def test_deploy_venv_requires_hashes_and_installs_no_extras() -> None:
    text = (ROOT / "Makefile").read_text()
    recipe = text[text.index("$(DEPLOY_STAMP):") :].split("\n\n", 1)[0]
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert len(installs) == 3
    assert all("--no-deps" in line for line in installs)
    assert sum("--require-hashes" in line for line in installs) == 2
    assert "[" not in "".join(installs), "no extras"
    assert "pip check" in recipe


def test_the_lock_check_fails_on_a_missing_hash(tmp_path: Any, monkeypatch: Any) -> None:
    bad = tmp_path / "requirements"
    bad.mkdir()
    (bad / "deploy.txt").write_text("click==8.5.1 \\\n    --hash=sha256:abc\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    with pytest.raises(AssertionError, match="no sha256 hash"):
        _locked()


def test_workflow_parse_keeps_the_gke_step_pinned() -> None:
    (promote,) = [w for w in load_workflows() if w.name == "promote.yml"]
    assert isinstance(promote, Workflow)
    lines = [li for li in promote.text.splitlines() if GKE_CREDENTIALS in li]
    assert lines and all(re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", li) for li in lines)


# -- make cluster-check, with the real kubectl against a cluster that does not answer ----


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cluster_check(tmp_path: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "gone",
                        "cluster": {"server": f"https://127.0.0.1:{_closed_port()}"},
                    }
                ],
                "users": [{"name": "ci", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "triton-staging", "context": {"cluster": "gone", "user": "ci"}}
                ],
                "current-context": "triton-staging",
            }
        )
    )
    return subprocess.run(
        ["make", "--no-print-directory", "cluster-check", f"BIN={bin_dir}"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "KUBECONFIG": str(config), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cluster_check_fails_early_naming_the_context(tmp_path: Path) -> None:
    result = _cluster_check(tmp_path, kubectl().parent)
    assert result.returncode != 0
    assert "kubectl cannot reach the cluster of context 'triton-staging'" in result.stdout
    assert "Client Version: v1.37" in result.stdout  # the venv's kubectl ran


def test_cluster_check_says_how_to_get_kubectl(tmp_path: Path) -> None:
    result = _cluster_check(tmp_path, tmp_path / "no-venv" / "bin")
    assert result.returncode != 0
    assert "kubectl is missing: run make deploy-venv" in result.stdout
