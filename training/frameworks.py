"""Check that the ``train`` extra (PyTorch, scikit-learn) is importable, with a clear message.

Everything else in ``training`` that needs torch is imported only after
``require_train_extra()`` has passed, so a missing framework is one readable error
instead of a traceback.
"""

from __future__ import annotations

import importlib

from orchestrator.errors import TorchMissingError

__all__ = ["require_train_extra"]

_INSTALL_HINT = (
    "Install the train extra: pip install -e '.[train]' (or 'make venv', which installs it)."
)


def require_train_extra() -> None:
    """Raise ``TorchMissingError`` unless torch and scikit-learn can be imported.

    Raises:
        TorchMissingError: a framework is missing; the message names the ``train`` extra.

    Example:
        >>> require_train_extra()  # silent where the train extra is installed
    """
    for module, package in (("torch", "torch"), ("sklearn", "scikit-learn")):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise TorchMissingError(
                f"Training needs {package}, which could not be imported ({exc}). {_INSTALL_HINT}"
            ) from exc
