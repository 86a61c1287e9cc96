"""Local serving runs production's flags; every difference is listed in flags.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ServerError
from orchestrator.serving.triton import ServerOptions, TritonInstall, TritonServer
from orchestrator.serving.triton.flags import (
    LOCAL_ADDITIONS,
    LOCAL_OVERRIDES,
    PRODUCTION_FLAGS,
    flag_name,
    local_args,
    production_args,
)


def _local_command(tmp_path: Path, **options: object) -> list[str]:
    server = TritonServer(ServerOptions(tmp_path, **options))  # type: ignore[arg-type]
    server.http_port, server.grpc_port, server.metrics_port = 1, 2, 3
    binary = tmp_path / "tritonserver"  # never run: only the command line is compared
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    install = TritonInstall(binary, tmp_path, (), "explicit")
    return server._command(install, tmp_path / "backends")


def _as_dict(args: list[str]) -> dict[str, str]:
    return {flag_name(a): a.partition("=")[2] for a in args}


@pytest.mark.parametrize(
    "options",
    [{}, {"model_control_mode": "none"}, {"model_control_mode": "poll", "log_verbose": 1}],
    ids=["serve-default", "control-none", "poll-verbose"],
)
def test_local_serving_differs_from_production_only_where_flags_py_says(
    tmp_path: Path, options: dict[str, object]
) -> None:
    command = _local_command(tmp_path, **options)
    local = _as_dict(command[1:])
    production = _as_dict(production_args(str(tmp_path.resolve())))
    differing = {k for k in production if local.get(k) != production[k]}
    added = set(local) - set(production)
    assert differing <= set(LOCAL_OVERRIDES)
    assert added <= set(LOCAL_ADDITIONS)
    # Everything production runs that local serving does not override is run as is.
    assert [a for a in PRODUCTION_FLAGS if flag_name(a) not in LOCAL_OVERRIDES] == [
        a for a in command if a in PRODUCTION_FLAGS and flag_name(a) not in LOCAL_OVERRIDES
    ]


def test_default_local_serving_keeps_production_readiness_exit_and_strict_config(
    tmp_path: Path,
) -> None:
    local = _as_dict(_local_command(tmp_path)[1:])
    assert local["--strict-readiness"] == "true"
    assert local["--exit-on-error"] == "true"
    assert "--disable-auto-complete-config" in local
    assert local["--model-control-mode"] == "explicit"
    assert local["--http-port"] == "1"


def test_control_mode_none_is_production_mode(tmp_path: Path) -> None:
    local = _as_dict(_local_command(tmp_path, model_control_mode="none")[1:])
    assert local["--model-control-mode"] == "none"


def test_an_unlisted_difference_is_refused_with_the_place_to_list_it() -> None:
    with pytest.raises(ServerError, match=r"--strict-readiness.*LOCAL_OVERRIDES"):
        local_args("/m", {"--strict-readiness": "false"}, [])
    with pytest.raises(ServerError, match=r"--pinned-memory-pool-byte-size.*LOCAL_ADDITIONS"):
        local_args("/m", {}, ["--pinned-memory-pool-byte-size=0"])


def test_every_listed_difference_says_why() -> None:
    for reason in [*LOCAL_OVERRIDES.values(), *LOCAL_ADDITIONS.values()]:
        assert len(reason.split()) >= 5
    assert set(LOCAL_OVERRIDES) <= {flag_name(a) for a in PRODUCTION_FLAGS}
    assert not set(LOCAL_ADDITIONS) & {flag_name(a) for a in PRODUCTION_FLAGS}
