"""YAML text to Python objects: the project's one PyYAML user (manifests, gates.yaml).

Only ``safe_load`` is used (plain data, no Python objects); PyYAML's errors become a
``ConfigError`` naming what was read.
"""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator.errors import ConfigError

__all__ = ["load_documents", "load_one"]


def load_one(text: str, *, what: str) -> Any:
    """The one YAML document in ``text`` (None when it is empty).

    Raises:
        ConfigError: ``text`` is not valid YAML; the message names ``what``.

    Example:
        >>> load_one("defaults: {p99_ms: 250}", what="gates.yaml")
        {'defaults': {'p99_ms': 250}}
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} is not valid YAML: {exc}") from exc


def load_documents(text: str, *, what: str) -> list[Any]:
    r"""Every non-empty document of a multi-document YAML stream (``---`` separated).

    Raises:
        ConfigError: ``text`` is not valid YAML; the message names ``what``.

    Example:
        >>> load_documents("a: 1\n---\nb: 2", what="manifests")
        [{'a': 1}, {'b': 2}]
    """
    try:
        return [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} is not valid YAML: {exc}") from exc
