"""Production's tritonserver flags: what the Kubernetes manifests and the image run.

The manifests (``deployment/k8s/base``) and ``Dockerfile.triton`` pass exactly these,
plus ``--model-repository=$(MODEL_REPOSITORY)``; a test renders the manifests and
compares their container args with this list, so local serving and the Docker runtime
can run what production runs.
"""

from __future__ import annotations

__all__ = ["PRODUCTION_FLAGS", "PRODUCTION_PORTS", "production_args"]

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


def production_args(model_repository: str) -> list[str]:
    """The full tritonserver argument list production runs for ``model_repository``.

    Example:
        >>> production_args("/models")[:2]
        ['--model-repository=/models', '--model-control-mode=none']
    """
    return [f"--model-repository={model_repository}", *PRODUCTION_FLAGS]
