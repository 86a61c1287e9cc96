"""Serving: a real Triton on this machine, and what is done against a running one.

Owns the local runtime (``triton/``: binary, backend directory with the CPU stand-in,
server process, loading with the CPU override), ``serve``, golden smoke tests (``smoke``),
one-off inference (``inference``) and zero-downtime version swaps (``swap``).

May import: ``repository``, ``core``, ``client``, ``errors``.
"""

__all__: list[str] = []
