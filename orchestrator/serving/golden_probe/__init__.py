"""No traffic before golden answers: check every served version against its golden.npz.

This package runs in two places, so it uses the standard library only:

- inside the production image (``Dockerfile.triton`` copies this folder to
  ``/opt/triton-orchestrator/golden_probe/``), as the pod's exec **startup probe**:
  ``python3 /opt/triton-orchestrator/golden_probe --url 127.0.0.1:8000 --timeout-s 8``.
  The orchestrator package is not installed there, and numpy may not be either;
- in ``orchestrator deploy``, as the post-rollout smoke test through the Service, with
  the release's files fetched into a temporary folder (``probe(url, folder, timeout_s=...)``).

What a run does:

- waits for ``/v2/health/ready`` and asks Triton which model versions it serves
  (``POST /v2/repository/index``);
- for each one reads ``<repo>/<model>/<version>/golden.npz`` (a zip of ``.npy`` files,
  parsed without pickle: ``npz``), sends the inputs over HTTP (KServe v2 with Triton's
  binary tensor extension, so floats travel exactly: ``wire``);
- compares the answers with the stored outputs by ``orchestrator.core.golden``'s rule
  (``check``), with the model's own ``smoke_rtol`` / ``smoke_atol`` from its config;
- inside the pod, finds the files where Triton put them (``pods``).

Everything read here (golden files, Triton's answers) is untrusted and size-capped.
"""

from .check import DEFAULT_ATOL, DEFAULT_RTOL, ProbeReport, probe
from .command import main
from .errors import ProbeError
from .npz import read_npz
from .pods import find_model_dirs
from .tensor import Tensor

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "ProbeError",
    "ProbeReport",
    "Tensor",
    "find_model_dirs",
    "main",
    "probe",
    "read_npz",
]
