"""``make unit``, the quick loop: one switch, ``ORCHESTRATOR_UNIT=1``, and what it leaves out.

``make unit`` runs ``pytest -m "not integration"`` (no Triton) with the switch set; then the
fixtures and helpers that would start something slow skip their tests, each saying what it
did not start: the S3 and GCS servers (``tests/conftest.py``), model training with torch
(``tests/training``), the checkers of ``.venv-tools`` (``tests/manifests/manifests.py``).
The switch is read where the slow thing starts, so a new test that needs one is left out
of the loop without a marker to remember. ``make pytest`` (and CI) runs everything.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["UNIT_VARIABLE", "in_unit_loop", "skip_in_unit_loop"]

UNIT_VARIABLE = "ORCHESTRATOR_UNIT"


def in_unit_loop() -> bool:
    """Whether this run is the quick loop (``ORCHESTRATOR_UNIT`` set to a true value)."""
    return os.environ.get(UNIT_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def skip_in_unit_loop(what: str) -> None:
    """Skip the calling test in the quick loop; ``what`` it would start, e.g. "an S3 server"."""
    if in_unit_loop():
        pytest.skip(f"make unit starts no {what}; make pytest runs this test")
