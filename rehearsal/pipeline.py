"""The push pipeline rehearsed on one machine: promote.yml's commands, in order, for real.

``make pipeline`` runs this module; tests/integration/test_pipeline.py drives the same
``Rehearsal`` and checks what each step did. Each step is the orchestrator command the
workflow runs (invoked in-process through the CLI, exactly as typed on a laptop).

A push is played as GitHub runs it: ``models/exports/``, ``model_repository/`` and
``deployment/`` are copied into a scratch Git repository (the project's working tree is
never changed), a push is a commit there, and every build runs in a fresh ``git clone``
of its commit, so nothing of an earlier push's scratch repository leaks into the next
(the store is the only thing pushes share, as on GitHub); the deploy, gate, rollback and
promote steps use that checkout's ``deployment/k8s``. What a laptop lacks is played,
each stand-in named:

- object storage: ``moto_server`` on loopback (a real S3 API; rehearsal/s3_server.py);
- Kubernetes: ``PlayedCluster`` (rehearsal/played_cluster.py), the recording kubectl runner
  with a memory, whose "pods" are local Tritons serving the applied release straight
  from the S3 server (``kubectl port-forward`` reaches them);
- GitHub's environments: the staging job's failure step (``rollback``) runs when deploy
  or gate fails, and production's step only when staging passed, as the jobs' ``needs``
  and ``if: failure()`` say.

Usage: ``python -m rehearsal [--exports DIR] [--repo DIR] [--gates FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.releases.stores import Store, open_store
from rehearsal.loopback_server import stop_process_group
from rehearsal.played_cluster import PlayedCluster, describe
from rehearsal.s3_server import S3Server, start_s3_server

__all__ = ["Rehearsal", "StepResult", "main", "rehearsal"]

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "pipeline"
STORE_PREFIX = "models/prod"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class StepResult:
    """One step: its name, the command as typed, exit code and output."""

    name: str
    argv: tuple[str, ...]
    exit_code: int
    output: str
    stdout: str
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def command(self) -> str:
        return "orchestrator " + " ".join(self.argv)

    def json(self) -> Any:
        return json.loads(self.stdout)


def git(folder: Path, *args: str) -> str:
    """Run git in ``folder`` with a fixed identity (the scratch repository's commits)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "pipeline rehearsal",
        "GIT_AUTHOR_EMAIL": "rehearsal@localhost",
        "GIT_COMMITTER_NAME": "pipeline rehearsal",
        "GIT_COMMITTER_EMAIL": "rehearsal@localhost",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-C", str(folder), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {folder} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@dataclass
class Rehearsal:
    """A scratch Git repository, the S3 store and the played cluster; one method per step.

    ``source`` is the developer's clone: copy bundles into ``exports`` (its
    ``models/exports``), then ``push``; ``build``/``pipeline`` run a commit (default: push
    what changed, then the new head) in a fresh checkout, ``checkout``.
    """

    source: Path
    store_url: str
    endpoint_url: str
    cluster: PlayedCluster
    gates: Path | None = None
    say: Callable[[str], None] = _say
    steps: list[StepResult] = field(default_factory=list)
    checkout: Path | None = None
    checkouts: int = 0

    @property
    def store(self) -> Store:
        return open_store(self.store_url, endpoint_url=self.endpoint_url)

    @property
    def exports(self) -> Path:
        """The developer clone's ``models/exports``: where the seed flow copies a bundle."""
        return self.source / "models" / "exports"

    @property
    def repo(self) -> Path:
        """The model repository of the last fresh checkout (what the build job published)."""
        if self.checkout is None:
            raise RuntimeError("Nothing was built yet: no checkout.")
        return self.checkout / "model_repository"

    def push(self, message: str = "push") -> str:
        """Commit what changed in ``source`` (git add -A); the commit pushed (HEAD)."""
        git(self.source, "add", "-A")
        if git(self.source, "status", "--porcelain"):
            git(self.source, "commit", "-q", "-m", message)
        return git(self.source, "rev-parse", "HEAD")

    def fresh_checkout(self, commit: str) -> Path:
        """A new clone of ``source`` at ``commit``, as a runner's actions/checkout makes."""
        self.checkouts += 1
        folder = self.source.parent / f"checkout-{self.checkouts}"
        git(self.source.parent, "clone", "-q", "--no-hardlinks", str(self.source), folder.name)
        git(folder, "checkout", "-q", "--detach", commit)
        self.checkout = folder
        self.say(f"\n== fresh checkout of {commit[:12]} in {folder}")
        return folder

    def step(self, name: str) -> StepResult:
        """The last step run under ``name``."""
        return next(step for step in reversed(self.steps) if step.name == name)

    def run(self, name: str, *argv: str) -> StepResult:
        """Run one orchestrator command as the workflow step ``name`` would, and print it."""
        self.say(f"\n== {name}: {'orchestrator ' + ' '.join(argv)}")
        started = time.monotonic()
        result = CliRunner().invoke(
            cli, list(argv), obj={"kubectl": self.cluster}, prog_name="orchestrator"
        )
        exception = result.exception
        if exception is not None and not isinstance(exception, SystemExit):
            raise exception  # a bug, not a failed step: keep the traceback
        elapsed_s = time.monotonic() - started
        step = StepResult(
            name, tuple(argv), result.exit_code, result.output, result.stdout, elapsed_s
        )
        self.steps.append(step)
        self.say(step.output.rstrip() or "(no output)")
        self.say(step_end(step))
        return step

    # -- the build job ---------------------------------------------------------------------

    def build(self, commit: str | None = None) -> str | None:
        """publish, validate, local smoke, sync, the release id, the diff: the id, or None.

        ``commit``: the commit to build (default: ``push`` first, then build the head),
        always in a fresh checkout.
        """
        checkout = self.fresh_checkout(commit or self.push())
        repo = ["--repo", str(checkout / "model_repository")]
        store = [self.store_url, *self._store_options()]
        exports = str(checkout / "models" / "exports")
        for step in (
            ("publish", "publish", exports, *repo, "--store", *store),
            ("validate", "validate", *repo),
            (
                "gates config",
                "gate",
                "--check-config",
                "--gates",
                str(self._gates(checkout)),
                *repo,
            ),
            ("smoke", "smoke", "--serve", *repo, "--format", "markdown"),
            ("sync", "sync", self.store_url, *repo, *self._store_options(), "--format", "json"),
        ):
            if not self.run(step[0], *step[1:]).ok:
                return None
        found = self.run("release id", "release", *repo, "--format", "id")  # make release-id
        if not found.ok:
            return None
        release = found.stdout.strip()
        self.run("diff against staging", *self._diff_args("staging", release))
        return release

    # -- the staging and production jobs ----------------------------------------------------

    def staging(self, release: str) -> bool:
        """deploy to staging, then gate it; rollback when the gate failed (deploy undoes itself)."""
        deployed = self.run(
            "deploy staging",
            "deploy",
            self.store_url,
            "--env",
            "staging",
            "--release",
            release,
            *self._store_options(),
            *self._manifests_option(),
        )
        if not deployed.ok:
            return False
        # The step's outputs file ($GITHUB_OUTPUT): the rollback step runs on verdict=failed
        # only, never on a usage or gates-file error (exit 2, no verdict written).
        outputs = self.source.parent / f"github-output-{len(self.steps)}"
        gate = self.run("gate staging", *self._gate_args("staging"), "--verdict-file", str(outputs))
        if gate.ok:
            return True
        verdict = outputs.read_text() if outputs.is_file() else ""
        if "verdict=failed" not in verdict.splitlines():
            return False
        self.run(
            "rollback staging (the gate failed)",
            "rollback",
            self.store_url,
            "--env",
            "staging",
            *self._store_options(),
            *self._manifests_option(),
        )
        return False

    def production(self, release: str) -> bool:
        """promote the release staging passed (the build job's id); it gates production too."""
        self.run("diff against production", *self._diff_args("production", release))
        promoted = self.run(
            "promote",
            "promote",
            self.store_url,
            "--from",
            "staging",
            "--to",
            "production",
            "--release",
            release,
            *self._store_options(),
            *self._gates_option(),
            *self._manifests_option(),
            "--format",
            "markdown",
        )
        return promoted.ok

    def pipeline(self, commit: str | None = None) -> bool:
        """The whole push: build, then staging, then production; stops at the first failure."""
        release = self.build(commit)
        if release is None:
            self.say("\nThe build job failed: nothing was deployed.")
            return False
        ok = self.staging(release)
        if not ok:
            self.say("\nStaging failed: production was not touched.")
        else:
            ok = self.production(release)
        self.say(f"\nCluster:\n{describe(self.cluster)}")
        return ok

    def orchestrator_commands(self) -> list[str]:
        """The commands run so far, as ``verb`` or ``group verb`` (to compare with the workflow)."""
        return [
            " ".join(step.argv[:2]) if step.argv[0] == "releases" else step.argv[0]
            for step in self.steps
        ]

    def _store_options(self) -> list[str]:
        return ["--endpoint-url", self.endpoint_url]

    def _manifests_option(self) -> list[str]:
        """The checkout's deployment/k8s: the staging and production jobs check out the
        same commit, so a change to deployment/** is deployed with it."""
        if self.checkout is None:
            return []
        return ["--manifests", str(self.checkout / "deployment" / "k8s")]

    def _gates(self, checkout: Path) -> Path:
        """--gates as the workflow gives it: the checkout's deployment/gates.yaml by default."""
        return self.gates if self.gates is not None else checkout / "deployment" / "gates.yaml"

    def _gates_option(self) -> list[str]:
        return ["--gates", str(self.gates)] if self.gates is not None else []

    def _gate_args(self, environment: str) -> list[str]:
        store = [self.store_url, *self._store_options()]
        return [
            "gate",
            *store,
            "--env",
            environment,
            *self._gates_option(),
            *self._manifests_option(),
            "--format",
            "markdown",
        ]

    def _diff_args(self, environment: str, release: str) -> list[str]:
        store = [self.store_url, *self._store_options()]
        return [
            "releases",
            "diff",
            *store,
            "--from-env",
            environment,
            release,
            "--format",
            "markdown",
        ]


# -- timing and the summary (make pipeline's terminal view) ---------------------------------

_RED, _BOLD, _RESET = "\033[31m", "\033[1m", "\033[0m"


def step_end(step: StepResult) -> str:
    """The line closing a step's output: its exit status and how long it took."""
    return f"-> exit {step.exit_code} in {step.elapsed_s:.1f} s"


def summary(steps: Sequence[StepResult], *, color: bool = False) -> str:
    """One aligned row per step (name, exit status, seconds), failing rows marked FAILED.

    ``color``: also paint failing rows red (for a terminal). A step that failed on
    purpose later undone (the gate, then its rollback) still shows as failed: it did.
    """
    width = max([len("step"), *(len(step.name) for step in steps)])
    lines = ["", "Summary:", f"    {'step':<{width}}  exit  seconds"]
    for step in steps:
        mark, note = ("  ", "") if step.ok else ("!!", "  FAILED")
        row = f"{mark}  {step.name:<{width}}  {step.exit_code:>4}  {step.elapsed_s:7.1f}{note}"
        lines.append(f"{_RED}{_BOLD}{row}{_RESET}" if color and not step.ok else row)
    total = sum(step.elapsed_s for step in steps)
    failed = sum(1 for step in steps if not step.ok)
    lines.append(f"    {len(steps)} step(s), {failed} failed, {total:.1f} s in all")
    return "\n".join(lines)


@contextmanager
def rehearsal(
    workdir: Path,
    *,
    exports: Path = ROOT / "models" / "exports",
    repo: Path = ROOT / "model_repository",
    gates: Path | None = None,
    s3: S3Server | None = None,
    say: Callable[[str], None] = _say,
) -> Iterator[Rehearsal]:
    """A scratch Git repository of ``exports`` and ``repo``, an S3 bucket, a played cluster.

    ``s3``: a running moto server to use (the tests' session one); else one is started
    and stopped here. The S3 keys go into this process's environment for the duration.
    """
    source = workdir / "source"
    shutil.copytree(exports, source / "models" / "exports", symlinks=True)
    shutil.copytree(repo, source / "model_repository", symlinks=True)
    shutil.copytree(ROOT / "deployment", source / "deployment", symlinks=True)
    git(workdir, "init", "-q", "-b", "main", source.name)
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "the project as committed")
    own = s3 is None
    server = s3 or start_s3_server(log=workdir / "moto_server.log")
    saved = {name: os.environ.get(name) for name in server.credentials_env()}
    os.environ.update(server.credentials_env())
    cluster = PlayedCluster(env=server.credentials_env(), workdir=workdir)
    try:
        import boto3

        bucket = f"{BUCKET}-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=server.endpoint_url).create_bucket(Bucket=bucket)
        store_url = f"s3://{bucket}/{STORE_PREFIX}"
        cluster.store = open_store(store_url, endpoint_url=server.endpoint_url)
        yield Rehearsal(
            source,
            store_url,
            server.endpoint_url,
            cluster,
            gates=gates,
            say=say,
        )
    finally:
        cluster.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if own:
            stop_process_group(server.process)


def main(argv: Sequence[str] | None = None) -> int:
    """``make pipeline``: the whole push on this machine, printing every step.

    With ``--next BUNDLE``: two pushes, each built in a fresh checkout of its commit. The
    first runs the exports as they are with the default gates; the second adds BUNDLE to
    the exports (``models/exports/<its name>``) and runs with ``--gates``, so a failing
    gate shows staging rolled back to the first push's release and production untouched.
    """
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__)
    parser.add_argument("--exports", type=Path, default=ROOT / "models" / "exports")
    parser.add_argument("--repo", type=Path, default=ROOT / "model_repository")
    parser.add_argument("--gates", type=Path, help="gates.yaml (default: deployment/gates.yaml)")
    parser.add_argument("--next", type=Path, metavar="BUNDLE", help="a second push adding it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="orchestrator-pipeline-") as temp:
        with rehearsal(Path(temp), exports=args.exports, repo=args.repo) as run:
            _say(f"Scratch Git repository {run.source}; store {run.store_url}")
            if args.next is not None:
                _say("\n#### push 1: the exports as committed")
                if not run.pipeline():
                    _say(summary(run.steps, color=sys.stdout.isatty()))
                    _say("\nPipeline failed (see the step above).")
                    return 1
                # as the README's seed flow does: the new bundle over the one of its name,
                # committed and pushed; the build runs in a fresh checkout of that commit
                shutil.copytree(args.next, run.exports / args.next.name, dirs_exist_ok=True)
                commit = run.push(f"{args.next.name}: the next bundle")
                _say(
                    f"\n#### push 2: {args.next} copied into models/exports/{args.next.name}, "
                    f"committed ({commit[:12]})"
                )
            run.gates = args.gates
            ok = run.pipeline()
            _say(summary(run.steps, color=sys.stdout.isatty()))
    _say("\nPipeline passed." if ok else "\nPipeline failed (see the step above).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
