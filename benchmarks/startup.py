"""How long the CLI takes before it starts working, and a warm no-change sync against hashing.

Measured side by side in one run, every command a fresh process (``python -m orchestrator``
with this checkout first on ``PYTHONPATH``, so the checkout's code runs whatever the
virtualenv's editable install points at), the commands alternating round by round so all
see the same machine load:

1. ``python -c pass``: the interpreter alone, the floor under every command;
2. ``orchestrator --help`` (goal: at most 0.3 s) and ``orchestrator deploy --help``;
3. ``orchestrator validate --repo model_repository`` (goal: at most 0.6 s);
4. a warm no-change ``orchestrator sync`` of a repository of about 1.1 GB (the one
   ``sync_vs_aws_s3_sync`` builds: 1,009 files, 4 of 256 MiB), with the digest cache
   warmed by two earlier syncs, to a ``file://`` store and to a moto S3 server on
   loopback (in this process), against hashing every file once in this process (goal:
   at most 1.0x the hash); this checkout's S3 sync also with ``--check-files`` (which
   lists the release's folder);
5. with ``--before REV``, the same commands from that git revision's ``orchestrator/``
   (extracted with ``git archive``), for the before/after ratio.

Medians of ``--repeats`` rounds; the results go to ``results/startup.json`` with the
machine, versions, command and load average.

    .venv/bin/python -m benchmarks.startup --repeats 7 --before e6a6ad4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, record
from benchmarks.sync_setup import (
    build_repository,
    new_bucket,
    repository_files,
    repository_size,
    s3_server,
)
from orchestrator.core.digest import file_digest
from orchestrator.core.digest_cache import SETTLE_NS

GOALS = {"help": 0.3, "validate": 0.6}
SYNC_GOAL = 1.0  # warm no-change sync / hashing every file once


def hash_repository(root: Path) -> float:
    """Seconds to hash every file once, in this process: the sync's baseline."""
    started = time.perf_counter()
    for path in repository_files(root):
        file_digest(path)
    return time.perf_counter() - started


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds one command takes as a fresh process; it must succeed.

    It runs in ``env["BENCH_CWD"]``, a folder holding no code: ``python -m`` puts the
    working folder first on ``sys.path``, which would shadow ``PYTHONPATH``.
    """
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=env["BENCH_CWD"], timeout=600
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def _timer(command: list[str], env: dict[str, str]) -> Callable[[], float]:
    return lambda: timed(command, env)


def checkout_of(revision: str, into: Path) -> Path:
    """``orchestrator/`` (and ``model_repository/`` is shared) of ``revision`` in ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", revision, "orchestrator"], capture_output=True, check=True, cwd=ROOT
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def commands(repo: Path, stores: dict[str, str], endpoint: str) -> dict[str, list[str]]:
    """The commands to time (each runs with its checkout first on ``PYTHONPATH``)."""
    cli = [sys.executable, "-m", "orchestrator"]
    sync = [*cli, "sync", "--repo", str(repo), "--jobs", "10"]
    found = {
        "help": [*cli, "--help"],
        "deploy_help": [*cli, "deploy", "--help"],
        "validate": [*cli, "validate", "--repo", str(ROOT / "model_repository")],
    }
    if "file" in stores:
        found["sync_file"] = [*sync, stores["file"]]
    if "s3" in stores:
        found["sync_s3"] = [*sync, stores["s3"], "--endpoint-url", endpoint]
    return found


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every measurement, round by round; medians and ratios."""
    repo = build_repository(work / "repo", args.large_files, args.large_mib)
    time.sleep(SETTLE_NS / 1e9)  # the digest cache remembers files last changed 2 s ago
    codes = {"after": ROOT}
    if args.before:
        codes["before"] = checkout_of(args.before, work / "before")
    with s3_server() as server:
        base_env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "BENCH_CWD": str(work),
        }
        base_env.pop("AWS_PROFILE", None)
        plans: dict[str, tuple[dict[str, str], dict[str, list[str]]]] = {}
        for name, code in codes.items():
            env = {
                **base_env,
                "PYTHONPATH": str(code),
                "XDG_CACHE_HOME": str(work / f"cache-{name}"),
            }
            stores = {}
            if "file" in args.stores:
                stores["file"] = (work / f"store-{name}").as_uri()
            if "s3" in args.stores:
                stores["s3"] = f"s3://{new_bucket(server, env)}/prod"
            plan = commands(repo, stores, server.endpoint_url)
            if name == "after" and "sync_s3" in plan:  # the listing the no-change path skips
                plan["sync_s3_check_files"] = [*plan["sync_s3"], "--check-files"]
            for key in ("sync_file", "sync_s3"):
                if key in plan:  # the first sync uploads, the second warms the cache
                    timed(plan[key], env)
                    timed(plan[key], env)
            plans[name] = (env, plan)
        floor_env = {**base_env, "PYTHONPATH": str(ROOT)}
        samples: dict[str, list[float]] = {"python": [], "hash": []}
        steps: list[tuple[str, Callable[[], float]]] = [
            ("python", lambda: timed([sys.executable, "-c", "pass"], floor_env)),
            ("hash", lambda: hash_repository(repo)),
        ]
        for name, (env, plan) in plans.items():
            for key, command in plan.items():
                label = f"{name}.{key}"
                samples[label] = []
                steps.append((label, _timer(command, env)))
        for index in range(args.repeats):
            shift = index % len(steps)  # rotate who goes first
            for label, step in steps[shift:] + steps[:shift]:
                samples[label].append(step())
    medians = {label: round(statistics.median(values), 3) for label, values in samples.items()}
    return {
        "repository": {
            "files": len(repository_files(repo)),
            "bytes": repository_size(repo),
        },
        "repeats": args.repeats,
        "before_revision": args.before,
        "medians_s": medians,
        "ratios": ratios(medians),
        "goals": goals(medians),
        "runs_s": {label: [round(v, 3) for v in values] for label, values in samples.items()},
    }


def ratios(medians: dict[str, float]) -> dict[str, float]:
    """Sync over the hash, and before over after for each command."""
    found: dict[str, float] = {}
    for label, value in medians.items():
        if ".sync_" in label:
            found[f"{label} / hash"] = round(value / medians["hash"], 2)
        name, _, key = label.partition(".")
        if name == "before" and f"after.{key}" in medians:
            found[f"{key} before / after"] = round(value / medians[f"after.{key}"], 2)
    return found


def goals(medians: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each goal of issue 24 against the median of this checkout."""
    found: dict[str, dict[str, Any]] = {}
    for key, goal in GOALS.items():
        value = medians[f"after.{key}"]
        found[key] = {"median_s": value, "goal_s": goal, "met": value <= goal}
    for key in ("sync_file", "sync_s3"):
        if f"after.{key}" in medians:
            ratio = medians[f"after.{key}"] / medians["hash"]
            found[key] = {"ratio_to_hash": round(ratio, 2), "goal": SYNC_GOAL, "met": ratio <= 1}
    return found


def main() -> None:
    """Run the benchmark and write ``results/startup.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds; medians are reported")
    parser.add_argument("--before", metavar="REV", help="also time this git revision's CLI")
    parser.add_argument(
        "--stores", default="file,s3", help="where the sync goes: file, s3 or both (file,s3)"
    )
    parser.add_argument("--large-files", type=int, default=4, help="how many large files")
    parser.add_argument("--large-mib", type=int, default=256, help="size of each large file")
    args = parser.parse_args()
    args.stores = tuple(s.strip() for s in args.stores.split(",") if s.strip())
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        data = run(args, Path(tmp))
    record("startup", load_before, data)


if __name__ == "__main__":
    main()
