"""The local Triton runtime: find the binary, assemble backends, start, load, stop.

``RunningTriton`` is the shape both runtimes share (this local server and
``serving.container``'s Docker one): addresses, start and stop, the log.
"""

from orchestrator.serving.triton.backends import assemble_backend_dir
from orchestrator.serving.triton.binary import TritonInstall, find_tritonserver
from orchestrator.serving.triton.loading import gpu_visible, load_models
from orchestrator.serving.triton.ports import free_port
from orchestrator.serving.triton.running import RunningTriton
from orchestrator.serving.triton.server import ServerOptions, TritonServer

__all__ = [
    "RunningTriton",
    "ServerOptions",
    "TritonInstall",
    "TritonServer",
    "assemble_backend_dir",
    "find_tritonserver",
    "free_port",
    "gpu_visible",
    "load_models",
]
