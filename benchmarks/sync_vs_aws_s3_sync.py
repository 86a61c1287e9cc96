"""Compare ``orchestrator sync`` with ``aws s3 sync`` on the same S3 server and repository.

Both tools run as subprocesses (process start included) against one local moto server
(moto's own ``ThreadedMotoServer``, in this process), each into its own fresh bucket, from
the same 205-file repository (5 models x 10 versions x 4 files, plus 5 configs; every
version holds the shipped cancer_mlp model). Requests are counted from the server's
request log, uploads from each tool's own report. Scenarios:

1. full sync into an empty bucket (median of --repeat runs);
2. no-change re-sync (median of --repeat runs);
3. a touched-but-unchanged file (new mtime, same bytes): goal 0 uploads;
4. a same-size content change whose mtime is preserved (as ``cp -p``, ``rsync -t`` or
   unpacking an archive leave it): goal detected.

awscli pins its own botocore, which conflicts with the project's pinned boto3, so it
runs from a throwaway virtual environment::

    python3 -m venv /tmp/awscli-venv && /tmp/awscli-venv/bin/pip install awscli==1.46.2
    .venv/bin/python -m benchmarks.sync_vs_aws_s3_sync --aws /tmp/awscli-venv/bin/aws

Note what each tool writes: ``aws s3 sync`` mirrors into one prefix; ``orchestrator
sync`` writes an immutable ``releases/<id>/`` per distinct content, copying files it
already stored server side, so a change costs server-side copies plus the changed bytes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from benchmarks.common import ROOT
from orchestrator.core.model_config import load_config, render_config
from orchestrator.repository.layout import version_manifest, write_manifest

MODELS = 5
VERSIONS = 10
SHIPPED = ROOT / "model_repository" / "cancer_mlp"


@dataclass(frozen=True)
class Run:
    """One tool invocation: wall time, requests the server saw, uploads the tool reported."""

    seconds: float
    requests: int
    puts: int
    uploads: int
    copies: int
    uploaded: tuple[str, ...]


def build_repository(root: Path, seed: int = 0) -> Path:
    """5 models x 10 versions x (model.onnx, weights.bin, notes.txt, manifest.json)."""
    rng = random.Random(seed)
    for m in range(MODELS):
        name = f"model_{m}"
        model_dir = root / name
        model_dir.mkdir(parents=True)
        config = load_config(SHIPPED / "config.pbtxt")
        config.name = name
        config.version_policy.all.SetInParent()
        (model_dir / "config.pbtxt").write_text(render_config(config))
        for v in range(1, VERSIONS + 1):
            folder = model_dir / str(v)
            folder.mkdir()
            shutil.copyfile(SHIPPED / "1" / "model.onnx", folder / "model.onnx")
            (folder / "weights.bin").write_bytes(rng.randbytes(rng.randint(100, 400) * 1024))
            (folder / "notes.txt").write_text(f"{name} version {v}\n")
            write_manifest(folder, version_manifest(folder))
    return root


class Counter(logging.Handler):
    """Counts the requests the S3 server logs (werkzeug's one line each) between two marks."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.mark = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Keep a request line."""
        line = record.getMessage()
        if '" ' in line and "HTTP/1.1" in line:
            self.lines.append(line)

    def since_mark(self) -> tuple[int, int]:
        """(requests, PUT requests) logged since the last mark; then mark again."""
        lines = self.lines[self.mark :]
        requests = [line for line in lines if "/moto-api/" not in line]
        puts = [line for line in requests if '"PUT ' in line]
        self.mark += len(lines)
        return len(requests), len(puts)


@dataclass(frozen=True)
class S3Server:
    """The running server's endpoint and the request counter on its log."""

    endpoint_url: str
    counter: Counter


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """An S3 server (moto) on a free loopback port, in this process, counting requests."""
    counter = Counter()
    requests_log = logging.getLogger("werkzeug")
    requests_log.setLevel(logging.INFO)
    requests_log.addHandler(counter)
    requests_log.propagate = False
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}", counter)
    finally:
        server.stop()
        requests_log.removeHandler(counter)


def run_tool(
    tool: str,
    repo: Path,
    url: str,
    server: S3Server,
    aws: Path,
    counter: Counter,
    env: dict[str, str],
) -> Run:
    """Run one tool once; its time, the requests the server saw, its uploads."""
    if tool == "orchestrator":
        command = [
            str(Path(sys.executable).parent / "orchestrator"),
            "sync",
            str(repo),
            url,
            "--endpoint-url",
            server.endpoint_url,
            "--jobs",
            "10",
            "--format",
            "json",
        ]
    else:
        command = [
            str(aws),
            "s3",
            "sync",
            str(repo),
            url,
            "--endpoint-url",
            server.endpoint_url,
            "--no-progress",
        ]
    counter.since_mark()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - started
    time.sleep(0.2)  # let the server log the last requests
    requests, puts = counter.since_mark()
    if result.returncode != 0:
        raise SystemExit(f"{tool} failed ({result.returncode}): {result.stderr}")
    if tool == "orchestrator":
        body = json.loads(result.stdout)
        uploaded = tuple(body["upload"]["paths"])
        copies = body["copy"]["files"]
    else:
        # "upload: <local path> to s3://bucket/prefix/<path>"
        uploaded = tuple(
            Path(line.split(" to ", 1)[0].removeprefix("upload: "))
            .resolve()
            .relative_to(repo.resolve())
            .as_posix()
            for line in result.stdout.splitlines()
            if line.startswith("upload:")
        )
        copies = 0
    return Run(seconds, requests, puts, len(uploaded), copies, uploaded)


def new_bucket(server: S3Server, env: dict[str, str]) -> str:
    """Create an empty bucket."""
    import boto3

    name = f"bench-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    client.create_bucket(Bucket=name)
    return name


TOOLS = ("orchestrator", "aws")


def bench(
    work: Path, server: S3Server, aws: Path, counter: Counter, env: dict[str, str], repeat: int
) -> dict[str, dict[str, Any]]:
    """All four scenarios for both tools, interleaved so both see the same machine load."""
    repos = {tool: build_repository(work / tool / "repo") for tool in TOOLS}
    results: dict[str, dict[str, Any]] = {tool: {"full": [], "nochange": []} for tool in TOOLS}
    urls: dict[str, str] = {}
    for _ in range(repeat):
        for tool in TOOLS:
            urls[tool] = f"s3://{new_bucket(server, env)}/prod"
            args = (tool, repos[tool], urls[tool], server, aws, counter, env)
            results[tool]["full"].append(run_tool(*args))
            results[tool]["nochange"].append(run_tool(*args))
    for tool in TOOLS:
        os.utime(repos[tool] / "model_2" / "5" / "model.onnx")  # new mtime, same bytes
        results[tool]["touch"] = run_tool(tool, repos[tool], urls[tool], server, aws, counter, env)
    for tool in TOOLS:
        config = repos[tool] / "model_3" / "config.pbtxt"
        before = config.stat()
        text = config.read_text()
        changed = text.replace(
            "max_queue_delay_microseconds: 100", "max_queue_delay_microseconds: 200"
        )
        assert changed != text and len(changed) == len(text)
        config.write_text(changed)
        os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime preserved
        results[tool]["same_size"] = run_tool(
            tool, repos[tool], urls[tool], server, aws, counter, env
        )
    return results


def median(runs: list[Run], field: str) -> float:
    """The median of one field over runs."""
    return float(statistics.median(getattr(r, field) for r in runs))


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, aws_version: str) -> str:
    """The results as a Markdown file."""
    ours, theirs = results["orchestrator"], results["aws"]
    files = MODELS * (1 + VERSIONS * 4)
    lines = [
        "# orchestrator sync vs aws s3 sync",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs (shared with other jobs)",
        f"- python {platform.python_version()}; {aws_version}",
        f"- server: moto {metadata.version('moto')} (ThreadedMotoServer in the benchmark's "
        "process) on loopback; both tools run as subprocesses",
        f"- repository: {files} files ({MODELS} models x {VERSIONS} versions x 4 files + configs)",
        "- command: `.venv/bin/python -m benchmarks.sync_vs_aws_s3_sync "
        f"--aws {args.aws} --repeat {args.repeat}` (medians)",
        "- runs interleaved (orchestrator, aws, orchestrator, ...) so both see the same load",
        "- concurrency: 10 for both (aws s3 sync default max_concurrent_requests=10, "
        "orchestrator --jobs 10)",
        "",
        "| scenario | tool | seconds | requests | PUTs | uploads | server-side copies |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, key in (("full sync", "full"), ("no-change re-sync", "nochange")):
        for name, data in (("orchestrator", ours), ("aws s3 sync", theirs)):
            runs = data[key]
            lines.append(
                f"| {label} | {name} | {median(runs, 'seconds'):.2f} | "
                f"{median(runs, 'requests'):.0f} | {median(runs, 'puts'):.0f} | "
                f"{median(runs, 'uploads'):.0f} | {median(runs, 'copies'):.0f} |"
            )
    for label, key in (
        ("touched, unchanged file", "touch"),
        ("same-size change, mtime kept", "same_size"),
    ):
        for name, data in (("orchestrator", ours), ("aws s3 sync", theirs)):
            run = data[key]
            which = f" ({', '.join(run.uploaded)})" if run.uploaded else ""
            lines.append(
                f"| {label} | {name} | {run.seconds:.2f} | {run.requests} | {run.puts} | "
                f"{run.uploads}{which} | {run.copies} |"
            )

    def ratio(key: str, field: str) -> float:
        return median(theirs[key], field) / max(median(ours[key], field), 1e-9)

    lines += [
        "",
        "Ratios (aws s3 sync / orchestrator sync; above 1 means orchestrator is cheaper):",
        "",
        f"- full sync time: {ratio('full', 'seconds'):.2f}x",
        f"- no-change re-sync time: {ratio('nochange', 'seconds'):.2f}x; "
        f"requests: {ratio('nochange', 'requests'):.1f}x",
        f"- touched-but-unchanged file: orchestrator uploaded {ours['touch'].uploads}, "
        f"aws s3 sync uploaded {theirs['touch'].uploads}",
        f"- same-size change with kept mtime: orchestrator uploaded {ours['same_size'].uploads} "
        f"(new release, {ours['same_size'].copies} files copied server side), aws s3 sync "
        f"uploaded {theirs['same_size'].uploads}"
        + (
            " (model_3/config.pbtxt was not among them: the change was missed and the "
            "bucket no longer matches the repository)"
            if "model_3/config.pbtxt" not in theirs["same_size"].uploaded
            else ""
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the benchmark and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--aws",
        type=Path,
        default=Path("/tmp/awscli-venv/bin/aws"),
        help="the aws executable (awscli, in its own virtualenv)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timed scenario")
    parser.add_argument(
        "--output", type=Path, default=Path("benchmarks/results/sync_vs_aws_s3_sync.md")
    )
    args = parser.parse_args()
    aws_version = subprocess.run(
        [str(args.aws), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("AWS_PROFILE", None)
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp, s3_server() as server:
        results = bench(Path(tmp), server, args.aws, server.counter, env, args.repeat)
    text = report(results, args, aws_version)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
