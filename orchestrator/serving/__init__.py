"""Serving: a real Triton on this machine, and what is done against a running one.

- ``triton/``: the local runtime (binary, backend directory with the CPU stand-in,
  server process, loading with the CPU override) and ``RunningTriton``, the shape it
  shares with the Docker runtime.
- ``container/``: production's image in Docker.
- ``serve``: serve until interrupted.
- ``smoke``: golden smoke tests; ``golden_probe/``: the standard-library twin that runs
  in the pods.
- ``inference``: one-off inference.
- ``swap``: zero-downtime version swaps.

May import: ``repository``, ``core``, ``client``, ``errors``.
"""

__all__: list[str] = []
