"""The library's defaults and limits that the options show in their help, copied once.

* Why copied: building a command's options (``orchestrator COMMAND --help``) imports no
  library stage, and the modules that own these values pull in numpy, onnx, tritonclient
  or yaml.
* ``tests/cli/test_defaults.py`` checks each value against its owner, so a change there
  fails until it is made here too.
* Repository: ``DEFAULT_TRITON_RELEASE``, ``TRITON_RELEASES``
  (``repository.compatibility``), the batching defaults and integer limits
  (``repository.generate``).
* Serving: ``DEFAULT_RTOL``, ``DEFAULT_ATOL`` (``core.golden``), ``DEFAULT_IMAGE``,
  ``DEFAULT_DOCKERFILE``, ``ALL_GPUS`` (``serving.container``),
  ``DEFAULT_INFER_TIMEOUT_S``, ``MAX_INFER_TIMEOUT_S`` (``serving.inference``).
* Measuring: ``MAX_WINDOW_S``, ``DEFAULT_REQUEST_TIMEOUT_S``, ``MAX_REQUEST_TIMEOUT_S``
  (``performance.options``).
* Cluster: ``DEFAULT_MANIFESTS`` (``deploy.render``), ``DEFAULT_GATES``
  (``deploy.gate_config``), ``LATEST`` (``deploy.release_files``),
  ``DEFAULT_STATUS_TIMEOUT_S``, ``MAX_STATUS_TIMEOUT_S`` (``deploy.status``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ALL_GPUS",
    "DEFAULT_ATOL",
    "DEFAULT_DOCKERFILE",
    "DEFAULT_GATES",
    "DEFAULT_IMAGE",
    "DEFAULT_INFER_TIMEOUT_S",
    "DEFAULT_MANIFESTS",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_QUEUE_DELAY_US",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "DEFAULT_RTOL",
    "DEFAULT_STATUS_TIMEOUT_S",
    "DEFAULT_TRITON_RELEASE",
    "INT32_MAX",
    "LATEST",
    "MAX_INFER_TIMEOUT_S",
    "MAX_REQUEST_TIMEOUT_S",
    "MAX_STATUS_TIMEOUT_S",
    "MAX_WINDOW_S",
    "TRITON_RELEASES",
    "UINT64_MAX",
]

DEFAULT_TRITON_RELEASE = "24.10"
TRITON_RELEASES = ("24.10",)
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_QUEUE_DELAY_US = 0
INT32_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1

DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5
DEFAULT_IMAGE = "triton-orchestrator/triton:24.10"
DEFAULT_DOCKERFILE = "Dockerfile.triton"
ALL_GPUS = -1
DEFAULT_INFER_TIMEOUT_S = 60.0
MAX_INFER_TIMEOUT_S = 3600.0

MAX_WINDOW_S = 3600.0
DEFAULT_REQUEST_TIMEOUT_S = 30.0
MAX_REQUEST_TIMEOUT_S = 3600.0

DEFAULT_MANIFESTS = Path("deployment/k8s")
DEFAULT_GATES = Path("deployment/gates.yaml")
LATEST = "latest"
DEFAULT_STATUS_TIMEOUT_S = 120.0
MAX_STATUS_TIMEOUT_S = 1800.0
