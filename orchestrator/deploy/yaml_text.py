"""YAML text to Python objects: the project's one PyYAML user (manifests, gates.yaml).

Only PyYAML's safe loader is used (plain data, no Python objects); PyYAML's errors become
a ``ConfigError`` naming what was read. ``load_strict`` is for small hand-written files
(the gates file): it also refuses aliases (a few hundred bytes of nested aliases expand
to gigabytes), duplicate keys (the last one would silently win), nesting deeper than
``max_depth`` and numbers longer than ``MAX_NUMBER_CHARS`` characters.
"""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator.errors import ConfigError

__all__ = ["MAX_NUMBER_CHARS", "load_documents", "load_one", "load_strict"]

# No number a hand-written file needs is longer (a float with all its digits is ~25).
MAX_NUMBER_CHARS = 40


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


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, duplicate keys, deep nesting and huge numbers."""

    what = "the YAML text"
    max_depth = 16

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ConfigError(
                f"{self.what} uses the alias *{str(event.anchor)[:40]} "
                f"(line {event.start_mark.line + 1}); aliases are not accepted here. Write "
                "the value out."
            )
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise ConfigError(
                    f"{self.what} nests deeper than {self.max_depth} levels (line "
                    f"{event.start_mark.line + 1}); a file like this one is a few levels deep."
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeConstructor says so below
                continue
            if duplicate:
                raise ConfigError(
                    f"{self.what} has the key {str(key)[:80]!r} twice (line "
                    f"{key_node.start_mark.line + 1}); YAML would keep only the last one. "
                    "Remove one of them."
                )
        return super().construct_mapping(node, deep=deep)


def _number(kind: str) -> Any:
    base = getattr(yaml.SafeLoader, f"construct_yaml_{kind}")

    def construct(loader: _StrictLoader, node: Any) -> Any:
        if len(str(node.value)) > MAX_NUMBER_CHARS:
            raise ConfigError(
                f"{loader.what}: the number on line {node.start_mark.line + 1} has "
                f"{len(str(node.value))} characters (at most {MAX_NUMBER_CHARS}); write a "
                "number in range."
            )
        return base(loader, node)

    return construct


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _number("int"))
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _number("float"))


def load_strict(text: str, *, what: str, max_depth: int = 16) -> Any:
    """The one YAML document in ``text``, read strictly (None when it is empty).

    Raises:
        ConfigError: ``text`` is not valid YAML, holds an alias, a duplicate key, nesting
            deeper than ``max_depth`` or a number longer than ``MAX_NUMBER_CHARS``; the
            message names ``what``.

    Example:
        >>> load_strict("defaults: {p99_ms: 250}", what="gates.yaml")
        {'defaults': {'p99_ms': 250}}
    """
    loader_class = type("Loader", (_StrictLoader,), {"what": what, "max_depth": max_depth})
    loader = loader_class(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} is not valid YAML: {exc}") from exc
    except (RecursionError, ValueError) as exc:
        raise ConfigError(f"{what} cannot be read as YAML: {str(exc)[:200]}") from exc
    finally:
        loader.dispose()
