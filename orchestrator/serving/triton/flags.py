"""Production's tritonserver flags, and the few that local serving must run differently.

The manifests (``deployment/k8s/base/deployment.yaml``) hold the list; ``PRODUCTION_FLAGS``
equals it and ``Dockerfile.triton`` runs it too (``tests/manifests`` renders the
overlays and compares all three). Local serving (``orchestrator serve``, ``TritonServer``)
starts from the same list through ``local_args``, which may change only the flags in
``LOCAL_OVERRIDES`` and add only those in ``LOCAL_ADDITIONS``, each with its reason, so
every difference between a laptop and a pod is written here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.errors import ServerError

__all__ = [
    "LOCAL_ADDITIONS",
    "LOCAL_OVERRIDES",
    "PRODUCTION_FLAGS",
    "PRODUCTION_PORTS",
    "flag_name",
    "local_args",
    "production_args",
]

PRODUCTION_PORTS: dict[str, int] = {"http": 8000, "grpc": 8001, "metrics": 8002}

PRODUCTION_FLAGS: tuple[str, ...] = (
    "--model-control-mode=none",
    "--strict-readiness=true",
    "--exit-on-error=true",
    "--disable-auto-complete-config",
    "--exit-timeout-secs=30",
    f"--http-port={PRODUCTION_PORTS['http']}",
    f"--grpc-port={PRODUCTION_PORTS['grpc']}",
    f"--metrics-port={PRODUCTION_PORTS['metrics']}",
)

# Production flags local serving may change (or drop), and why.
LOCAL_OVERRIDES: dict[str, str] = {
    "--model-control-mode": (
        "explicit by default: production configs say KIND_GPU, which cannot load on a CPU, "
        "and Triton takes a config override (the CPU instance kind) only through the load "
        "API; 'none' (as production) and 'poll' stay available"
    ),
    "--http-port": "a free port unless one is given: several servers share a workstation",
    "--grpc-port": "a free port unless one is given: several servers share a workstation",
    "--metrics-port": "a free port unless one is given: several servers share a workstation",
    "--exit-timeout-secs": (
        "the local stop timeout minus 1 s, so Ctrl-C or a test's stop ends in seconds; "
        "production's 30 s drain belongs to a pod's grace period"
    ),
    "--disable-auto-complete-config": (
        "dropped only when ServerOptions.strict_model_config is False (never by default)"
    ),
}

# Flags local serving adds to production's, and why.
LOCAL_ADDITIONS: dict[str, str] = {
    "--backend-directory": (
        "the assembled backends, with the CPU stand-in named onnxruntime (the image ships "
        "Triton's own backends in its default directory)"
    ),
    "--http-address": "loopback by default: a workstation, not a pod behind a NetworkPolicy",
    "--grpc-address": "loopback by default: a workstation, not a pod behind a NetworkPolicy",
    "--metrics-address": "loopback by default: a workstation, not a pod behind a NetworkPolicy",
    "--log-verbose": "the --verbose level asked for (Triton's default 0 otherwise)",
    "--repository-poll-secs": "only in poll mode, which production does not use",
}


def flag_name(argument: str) -> str:
    """``--http-port=8000`` -> ``--http-port``.

    Example:
        >>> flag_name("--http-port=8000")
        '--http-port'
    """
    return argument.split("=", 1)[0]


def production_args(model_repository: str) -> list[str]:
    """The full tritonserver argument list production runs for ``model_repository``.

    Example:
        >>> production_args("/models")[:2]
        ['--model-repository=/models', '--model-control-mode=none']
    """
    return [f"--model-repository={model_repository}", *PRODUCTION_FLAGS]


def local_args(
    model_repository: str,
    overrides: Mapping[str, str | None],
    additions: Sequence[str],
) -> list[str]:
    """Production's arguments with the local differences applied.

    Args:
        model_repository: the ``--model-repository`` value.
        overrides: flag name -> new value (None drops the flag); only ``LOCAL_OVERRIDES``.
        additions: whole arguments to append; only flags named in ``LOCAL_ADDITIONS``.

    Raises:
        ServerError: an override or addition that is not listed with its reason.

    Example:
        >>> local_args("/m", {"--model-control-mode": "explicit"}, ["--log-verbose=0"])[1]
        '--model-control-mode=explicit'
    """
    unlisted = sorted(set(overrides) - set(LOCAL_OVERRIDES)) + sorted(
        {flag_name(a) for a in additions} - set(LOCAL_ADDITIONS)
    )
    if unlisted:
        raise ServerError(
            f"Local serving would differ from production in {', '.join(unlisted)}, which "
            "orchestrator/serving/triton/flags.py does not list. Add it to LOCAL_OVERRIDES "
            "or LOCAL_ADDITIONS with the reason, or run production's value."
        )
    args = [f"--model-repository={model_repository}"]
    for argument in PRODUCTION_FLAGS:
        name = flag_name(argument)
        if name not in overrides:
            args.append(argument)
        elif overrides[name] is not None:
            args.append(f"{name}={overrides[name]}" if "=" in argument else name)
    return [*args, *additions]
