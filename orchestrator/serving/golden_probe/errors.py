"""The probe's one exception: a golden check cannot run, or it failed.

The package runs without the orchestrator installed (in the pods), so this does not
derive from ``orchestrator.errors``; ``probe`` and the command line turn it into a
report line, and only ``read_npz`` lets it out to its callers.
"""

from __future__ import annotations

__all__ = ["ProbeError"]


class ProbeError(Exception):
    """A golden check cannot run or failed; the message is the one-line reason."""
