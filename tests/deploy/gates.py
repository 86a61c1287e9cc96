"""What the gate tests share: the command line, and a short gates file for a test's load."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.conftest import MANIFESTS

ROOT = Path(__file__).resolve().parents[2]
# The committed gates file and model repository (what CI's build job checks).
GATES = ROOT / "deployment" / "gates.yaml"
REPOSITORY = ROOT / "model_repository"

# One level, three 0.3 s windows: about 1.2 s of load per model.
FAST = "defaults:\n  concurrency: [1]\n  window_s: 0.3\n  warmup_s: 0.1\n"


def write_gates(folder: Path, text: str = FAST) -> Path:
    """A gates file in ``folder`` holding ``text``."""
    path = folder / "gates.yaml"
    path.write_text(text)
    return path


def gate_args(store_url: str, gates: Path, *extra: str) -> list[str]:
    """``orchestrator gate`` of staging with the fixture manifests and ``gates``."""
    return [
        "gate",
        store_url,
        "--env",
        "staging",
        "--manifests",
        str(MANIFESTS),
        "--gates",
        str(gates),
        "--smoke-timeout-s",
        "20",
        *extra,
    ]
