"""The one rule for reading untrusted trees: model repositories and export bundles.

Everything a repository or a bundle holds is untrusted (a bundle comes from a training
run anywhere; a repository from any pull request). Publish, validate, list, release and
sync read their files only through this module, which enforces:

* **Regular files only.** A file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked
  with ``fstat`` on the open descriptor (``S_ISREG``, and the same inode an ``lstat``
  saw): a FIFO, socket or device is never read, and a file swapped for something else
  between the check and the open is caught.
* **Only inside the folder it belongs to.** A name is relative, without ``..``, ``.``,
  empty parts, a NUL byte or a backslash, and every folder on the way is opened with
  ``O_NOFOLLOW`` relative to the one before (``openat``). **Symbolic links are refused
  everywhere**, also those that stay inside the tree: a release has always copied regular
  files only, and what a link names depends on the machine that reads it.
* **A size cap on everything parsed in memory** (``CONFIG_MAX_BYTES``,
  ``JSON_MAX_BYTES``, ``GOLDEN_MAX_BYTES``, ``ONNX_MAX_BYTES``): a larger file is
  refused before a byte of it is read, and no read returns more than the cap.
* **Bounded parsing** (``parse_json``): UTF-8 only, nesting at most ``JSON_MAX_DEPTH``,
  numbers finite and of at most ``JSON_MAX_DIGITS`` digits, no ``NaN``/``Infinity``,
  duplicate keys refused (a later value never hides an earlier one). Store objects
  (release.json, environment pointers, gate records) are parsed only this way.
* **Bounded walks.** Folders are listed with ``os.scandir`` on a descriptor, links are
  reported, never followed, and a walk stops at ``MAX_DEPTH`` and ``MAX_ENTRIES``.

Every breach is an ``UnsafeFileError`` naming the path and its ``reason``; ``validate``
turns it into a finding, the other verbs into one clear error.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from orchestrator.core.digest import FileDigest, stream_digest
from orchestrator.errors import UnsafeFileError

__all__ = [
    "CONFIG_MAX_BYTES",
    "GOLDEN_MAX_BYTES",
    "GOLDEN_MAX_ELEMENTS",
    "JSON_MAX_BYTES",
    "JSON_MAX_DEPTH",
    "JSON_MAX_DIGITS",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "ONNX_MAX_BYTES",
    "Entry",
    "Kind",
    "digest",
    "entries",
    "kind_of",
    "open_file",
    "parse_json",
    "read_bytes",
    "require_kind",
    "safe_parts",
    "split",
    "walk",
]

logger = logging.getLogger(__name__)

CONFIG_MAX_BYTES = 4 << 20
"""config.pbtxt: real ones are a few KiB; Triton reads the whole file too."""
JSON_MAX_BYTES = 16 << 20
"""export.json and manifest.json (a manifest of 100,000 files is about 12 MiB)."""
GOLDEN_MAX_BYTES = 64 << 20
"""golden.npz, on disk and uncompressed: a few real samples, not a data set. The startup
probe's limit too (``serving/golden_probe/npz.py``): publish refuses what no pod would pass."""
GOLDEN_MAX_ELEMENTS = 4_000_000
"""All arrays of one golden.npz together, in elements (the startup probe's limit)."""
ONNX_MAX_BYTES = (2 << 30) - 1
"""A serialized ONNX model: protobuf cannot parse more; bigger models keep external data."""
MAX_DEPTH = 16
MAX_ENTRIES = 200_000
JSON_MAX_DEPTH = 64
"""Nesting of a JSON document: ours are 4 deep; deeper is refused before it recurses."""
JSON_MAX_DIGITS = 40
"""Digits of one JSON number: sizes and counts have under 20."""

Kind = Literal["file", "folder", "link", "special"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One thing found in a folder: its path relative to the walk's root, kind and size."""

    name: str
    kind: Kind
    size_bytes: int = 0


def safe_parts(root: Path, relative: str) -> tuple[str, ...]:
    """The parts of ``relative`` when it names something inside ``root``; else raise.

    Raises:
        UnsafeFileError: reason ``outside``: empty, absolute, ``..``, ``.``, an empty
            part, a NUL byte or a backslash.

    Example:
        >>> safe_parts(Path("repo"), "digits/1/model.onnx")
        ('digits', '1', 'model.onnx')
    """
    problem = None
    if not relative:
        problem = "the name is empty"
    elif "\x00" in relative or "\\" in relative:
        problem = "it contains a NUL byte or a backslash"
    elif relative.startswith("/"):
        problem = "it is an absolute path"
    else:
        parts = tuple(relative.split("/"))
        if any(part in ("", ".", "..") for part in parts):
            problem = "it has an empty, '.' or '..' part"
        else:
            return parts
    raise UnsafeFileError(
        f"{relative!r} does not name a file inside {root} ({problem}). Files are read "
        "only inside the folder they belong to; expected a relative name such as "
        "'model.onnx'.",
        path=root,
        reason="outside",
    )


def require_kind(root: Path, entry: Entry, kind: Kind) -> None:
    """Raise unless ``entry`` (found under ``root``) is of ``kind``; a link never is.

    Raises:
        UnsafeFileError: reason ``link`` for a link, ``special`` for anything else.

    Example:
        >>> require_kind(Path("repo"), Entry("digits", "folder"), "folder")
    """
    if entry.kind != kind:
        raise _wrong_kind(root / entry.name, entry.kind, expected=kind)


def split(path: Path, within: Path | None = None) -> tuple[Path, str]:
    """``path`` as (folder it belongs to, relative name) for the functions of this module.

    With ``within``, ``path`` must lie under it and every folder in between is checked
    too (no links); without, the file's own folder is the one it belongs to.

    Raises:
        UnsafeFileError: ``path`` is not under ``within`` (reason ``outside``).

    Example:
        >>> split(Path("repo/digits/config.pbtxt"), Path("repo"))
        (PosixPath('repo'), 'digits/config.pbtxt')
    """
    if within is None:
        return path.parent, path.name
    try:
        relative = path.relative_to(within).as_posix()
    except ValueError:
        relative = ""
    if relative in ("", "."):
        raise UnsafeFileError(
            f"{path} is not inside {within}; files are read only inside the folder they belong to.",
            path=path,
            reason="outside",
        )
    return within, relative


def kind_of(root: Path, relative: str) -> Kind | None:
    """What ``root/relative`` is, without following links; None when it does not exist.

    Raises:
        UnsafeFileError: the name leaves ``root``, or a folder on the way is a link.

    Example:
        >>> kind_of(Path("model_repository"), "digits_cnn/config.pbtxt")  # doctest: +SKIP
        'file'
    """
    parts = safe_parts(root, relative)
    try:
        with _folder(root, parts[:-1]) as fd:
            info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    except UnsafeFileError as exc:
        if exc.reason == "missing":
            return None
        raise
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(root / relative, exc) from exc
    return _kind(info.st_mode)


@contextmanager
def open_file(root: Path, relative: str, *, max_bytes: int | None = None) -> Iterator[BinaryIO]:
    """Open ``root/relative`` for reading under the rule: a regular file inside ``root``.

    Raises:
        UnsafeFileError: the name leaves ``root``; the file or a folder on the way is a
            link; the file is not a regular file, is missing, unreadable, or larger than
            ``max_bytes``.

    Example:
        >>> with open_file(Path("bundle"), "model.onnx") as handle:  # doctest: +SKIP
        ...     head = handle.read(4)
    """
    parts = safe_parts(root, relative)
    path = root / relative
    with _folder(root, parts[:-1]) as folder_fd:
        try:
            seen = os.stat(parts[-1], dir_fd=folder_fd, follow_symlinks=False)
            if not stat.S_ISREG(seen.st_mode):
                raise _wrong_kind(path, _kind(seen.st_mode))
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=folder_fd)
        except UnsafeFileError:
            raise
        except OSError as exc:
            raise _os_error(path, exc) from exc
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
            seen.st_dev,
            seen.st_ino,
        ):
            raise UnsafeFileError(
                f"{path} was replaced while it was being opened (now a "
                f"{_kind(opened.st_mode)}); nothing was read. Something else is writing to "
                "this folder: stop it and try again.",
                path=path,
                reason="unreadable",
            )
        if max_bytes is not None and opened.st_size > max_bytes:
            raise _too_large(path, opened.st_size, max_bytes)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_bytes(root: Path, relative: str, *, max_bytes: int) -> bytes:
    """The bytes of ``root/relative``, a regular file inside ``root`` of ``max_bytes`` at most.

    A file that grows while it is read is still cut at ``max_bytes + 1`` and refused.

    Raises:
        UnsafeFileError: as ``open_file``.

    Example:
        >>> raw = read_bytes(Path("repo"), "m/config.pbtxt", max_bytes=1024)  # doctest: +SKIP
    """
    with open_file(root, relative, max_bytes=max_bytes) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise _unreadable(root / relative, exc) from exc
    if len(data) > max_bytes:
        raise _too_large(root / relative, len(data), max_bytes)
    return data


def digest(root: Path, relative: str) -> FileDigest:
    """sha256 and size of ``root/relative``, read in chunks under the rule.

    Raises:
        UnsafeFileError: as ``open_file``.

    Example:
        >>> digest(Path("repo"), "digits/1/model.onnx").size_bytes  # doctest: +SKIP
        155080
    """
    with open_file(root, relative) as handle:
        try:
            return stream_digest(handle)
        except OSError as exc:
            raise _unreadable(root / relative, exc) from exc


def entries(root: Path, relative: str = "") -> list[Entry]:
    """What one folder holds, sorted by name, links and special files reported as such.

    Raises:
        UnsafeFileError: the folder is missing, a link, unreadable, or holds more than
            ``MAX_ENTRIES`` entries.

    Example:
        >>> [e.name for e in entries(Path("model_repository"))]  # doctest: +SKIP
        ['cancer_mlp', 'digits_cnn']
    """
    parts = safe_parts(root, relative) if relative else ()
    with _folder(root, parts) as fd:
        return _scan(root / relative, fd, "", [0])


def walk(root: Path, relative: str = "", *, max_depth: int = MAX_DEPTH) -> list[Entry]:
    """Every entry under a folder, recursively, without following links; sorted by name.

    Names are relative to ``root/relative``. Folders are listed and descended; links and
    special files are listed, never followed or read.

    Raises:
        UnsafeFileError: the folder is missing, a link or unreadable; the tree is deeper
            than ``max_depth`` or holds more than ``MAX_ENTRIES`` entries (reason
            ``too-large``).

    Example:
        >>> [e.name for e in walk(Path("repo"), "digits/1")]  # doctest: +SKIP
        ['export.json', 'golden.npz', 'manifest.json', 'model.onnx']
    """
    parts = safe_parts(root, relative) if relative else ()
    found: list[Entry] = []
    count = [0]

    def descend(fd: int, prefix: str, depth: int) -> None:
        for entry in _scan(root / relative, fd, prefix, count):
            found.append(entry)
            if entry.kind != "folder":
                continue
            if depth >= max_depth:
                raise UnsafeFileError(
                    f"{root / relative / entry.name} is nested deeper than {max_depth} "
                    "folders; nothing below it is read. A model repository or bundle is a "
                    "shallow tree: flatten it.",
                    path=root / relative / entry.name,
                    reason="too-large",
                )
            try:
                child = os.open(
                    entry.name.rsplit("/", 1)[-1], _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd
                )
            except OSError as exc:
                raise _os_error(root / relative / entry.name, exc) from exc
            try:
                descend(child, f"{entry.name}/", depth + 1)
            finally:
                os.close(child)

    with _folder(root, parts) as fd:
        descend(fd, "", 1)
    return sorted(found, key=lambda e: e.name)


def parse_json(data: bytes, *, max_bytes: int = JSON_MAX_BYTES) -> Any:
    """A JSON document from untrusted bytes, parsed within bounds.

    Raises:
        ValueError: over ``max_bytes``, not UTF-8, not JSON, nested deeper than
            ``JSON_MAX_DEPTH``, a number that is not finite or has more than
            ``JSON_MAX_DIGITS`` digits, ``NaN``/``Infinity``, or a key given twice; the
            message says which, without quoting the document at length.

    Example:
        >>> parse_json(b'{"release": "abc", "format": 2}')
        {'release': 'abc', 'format': 2}
    """
    if len(data) > max_bytes:
        raise ValueError(f"{len(data)} bytes, over the {max_bytes} byte limit for a document")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
    depth = _json_depth_upper_bound(text)
    if depth > JSON_MAX_DEPTH:
        raise ValueError(f"nested {depth} deep, over the limit of {JSON_MAX_DEPTH}")
    try:
        return json.loads(
            text,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
            object_pairs_hook=_json_object,
        )
    except RecursionError:
        raise ValueError(f"nested over the limit of {JSON_MAX_DEPTH}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _json_depth_upper_bound(text: str) -> int:
    """The deepest bracket nesting, counting brackets inside strings too (an upper bound).

    Strings rarely hold brackets in our documents; one that makes the bound too high is
    refused, which is safe. Only the brackets are walked in Python.
    """
    if text.count("[") + text.count("{") <= JSON_MAX_DEPTH:
        return 0
    brackets = _NOT_A_BRACKET.sub("", text)
    depth = deepest = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_MAX_DIGITS:
        raise ValueError(f"a number of {len(text)} digits ({text[:20]}...)")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > JSON_MAX_DIGITS + 8:
        raise ValueError(f"a number of {len(text)} characters ({text[:20]}...)")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _json_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key[:60]!r} is given twice")
        result[key] = value
    return result


# -- internals ---------------------------------------------------------------------------


@contextmanager
def _folder(root: Path, parts: tuple[str, ...]) -> Iterator[int]:
    """A descriptor of ``root/parts``: ``root`` as given, every part without links."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise _os_error(root, exc) from exc
    try:
        for index, part in enumerate(parts):
            try:
                child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                path = root.joinpath(*parts[: index + 1])
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    try:
                        info = os.stat(part, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        raise _os_error(path, exc) from exc
                    if stat.S_ISLNK(info.st_mode):
                        raise _wrong_kind(path, "link") from exc
                    raise _not_a_folder(path) from exc
                raise _os_error(path, exc) from exc
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _scan(folder: Path, fd: int, prefix: str, count: list[int]) -> list[Entry]:
    found = []
    try:
        with os.scandir(fd) as listing:
            for item in listing:
                count[0] += 1
                if count[0] > MAX_ENTRIES:
                    raise UnsafeFileError(
                        f"{folder} holds more than {MAX_ENTRIES} entries; stopped reading it. "
                        "A model repository or bundle is not that large: check what was "
                        "copied into it.",
                        path=folder,
                        reason="too-large",
                    )
                info = item.stat(follow_symlinks=False)
                found.append(Entry(prefix + item.name, _kind(info.st_mode), info.st_size))
    except OSError as exc:
        raise _os_error(folder / prefix, exc) from exc
    return sorted(found, key=lambda e: e.name)


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        return "link"
    return "special"


def _wrong_kind(path: Path, kind: Kind, expected: Kind = "file") -> UnsafeFileError:
    if kind == "link":
        return UnsafeFileError(
            f"{path} is a symbolic link. Repositories and bundles hold regular files and "
            "folders only (links are refused, also those that stay inside); nothing was "
            "read through it. Replace the link with the file it points to.",
            path=path,
            reason="link",
        )
    what = {"folder": "a folder", "file": "a file"}.get(kind, "a FIFO, socket or device")
    wanted = "a folder" if expected == "folder" else "a regular file"
    return UnsafeFileError(
        f"{path} is {what}, not {wanted}; nothing was read from it. Expected {wanted} "
        "here: replace it.",
        path=path,
        reason="special",
    )


def _too_large(path: Path, size_bytes: int, max_bytes: int) -> UnsafeFileError:
    return UnsafeFileError(
        f"{path} is {size_bytes} bytes (or more), over the {max_bytes} byte limit for a "
        "file read into memory; it was not read. Check that it is the file it claims to be.",
        path=path,
        reason="too-large",
    )


def _os_error(path: Path, exc: OSError) -> UnsafeFileError:
    if exc.errno == errno.ENOENT:
        return UnsafeFileError(f"{path} does not exist.", path=path, reason="missing")
    if exc.errno == errno.ELOOP:
        return _wrong_kind(path, "link")
    if exc.errno == errno.ENOTDIR:
        return _not_a_folder(path)
    return _unreadable(path, exc)


def _not_a_folder(path: Path) -> UnsafeFileError:
    return UnsafeFileError(
        f"{path} is not a folder (a file is in the way).", path=path, reason="missing"
    )


def _unreadable(path: Path, exc: OSError) -> UnsafeFileError:
    return UnsafeFileError(
        f"Cannot read {path}: {exc.strerror or exc}. Check its permissions.",
        path=path,
        reason="unreadable",
    )
