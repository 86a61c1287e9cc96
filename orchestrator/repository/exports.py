"""Publish every export bundle of a folder (``models/exports/``), in a fixed order.

The folder holds, besides hidden entries (``.gitkeep``, ``.DS_Store``, ``.git*``: every
name starting with a dot is ignored):

* ``<model>/``, itself a bundle (it has ``model.onnx``), published as ``<model>``;
* ``<model>/<name>/``, several bundles of one model (dated folders, say), each published
  as ``<model>``;
* bare ``<name>.onnx`` files, published as ``<name>``.

Anything else is an error, found before anything is published. Everything in the folder
is untrusted (``core.untrusted``): a link is refused, never followed. Bundles are
published in the order of their paths, compared folder level by folder level as the
bytes of their names, so one commit yields the same version numbers on every machine;
publishing is idempotent by content (``publish``), so running it again publishes only
what changed. Each bundle is published atomically; when one fails, those before it stay
published and those after it are not attempted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core import untrusted
from orchestrator.core.names import MODEL_NAME_RULE, is_model_name
from orchestrator.errors import ConfigError, OrchestratorError, RepositoryError
from orchestrator.repository.bundle import EXPORT_FILENAME, MODEL_FILENAME, read_export
from orchestrator.repository.generate import GenerationOptions
from orchestrator.repository.model_lock import DEFAULT_LOCK_TIMEOUT_S
from orchestrator.repository.publish import NumberFor, PublishResult, publish

__all__ = [
    "BundleResult",
    "ExportBundle",
    "ExportsReport",
    "find_bundles",
    "is_bundle",
    "publish_exports",
]

logger = logging.getLogger(__name__)

_LAYOUT = (
    "Expected <model>/ bundle folders (model.onnx, export.json, golden.npz), <model>/<name>/ "
    "bundle folders (several bundles of one model), or bare .onnx files; hidden entries "
    "such as .gitkeep are ignored."
)


@dataclass(frozen=True)
class ExportBundle:
    """One bundle found in an exports folder: its path and the model it is published as."""

    path: Path
    model: str


@dataclass(frozen=True)
class BundleResult:
    """What publishing one bundle of an exports folder did."""

    bundle: Path
    result: PublishResult

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the bundle, then its ``PublishResult.as_dict()`` fields."""
        return {"bundle": str(self.bundle), **self.result.as_dict()}


@dataclass(frozen=True)
class ExportsReport:
    """What ``publish_exports`` did, one result per bundle in publishing order."""

    folder: Path
    repository: Path
    results: tuple[BundleResult, ...]

    @property
    def published(self) -> int:
        """How many bundles became new versions."""
        return sum(not r.result.unchanged for r in self.results)

    @property
    def unchanged(self) -> int:
        """How many bundles an existing version already held."""
        return sum(r.result.unchanged for r in self.results)

    def summary(self) -> str:
        """``"2 bundles: 1 published, 1 unchanged"``."""
        count = len(self.results)
        return (
            f"{count} bundle{'' if count == 1 else 's'}: {self.published} published, "
            f"{self.unchanged} unchanged"
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the folders, every bundle's result, and the two counts."""
        return {
            "folder": str(self.folder),
            "repository": str(self.repository),
            "bundles": [result.as_dict() for result in self.results],
            "published": self.published,
            "unchanged": self.unchanged,
        }


def is_bundle(source: Path) -> bool:
    """Whether ``source`` is one bundle (a file, or a folder with model.onnx), not a folder of them.

    Example:
        >>> exports = Path("models/exports")
        >>> is_bundle(exports / "digits_cnn"), is_bundle(exports)  # doctest: +SKIP
        (True, False)
    """
    if not source.is_dir():
        return True
    return untrusted.kind_of(source, MODEL_FILENAME) is not None


def find_bundles(folder: Path) -> list[ExportBundle]:
    """The bundles of an exports folder, in publishing order (see the module docstring).

    Nothing is published, and only export.json of each bundle is read (for its
    model_name, which must be the model folder's name when it is given).

    Raises:
        ConfigError: the folder holds no bundle, something that is neither a bundle nor
            a folder of bundles, a name that is not a model name, or a bundle whose
            export.json names another model.
        UnsafeFileError: an entry is a link, a FIFO, socket or device.

    Example:
        >>> [(b.path.name, b.model) for b in find_bundles(Path("models/exports"))]  # doctest: +SKIP
        [('cancer_mlp', 'cancer_mlp'), ('digits_cnn', 'digits_cnn')]
    """
    found: list[ExportBundle] = []
    for entry in _visible(folder):
        path = folder / entry.name
        if entry.kind == "file" and entry.name.endswith(".onnx"):
            found.append(ExportBundle(path, _model_name(path.stem, path)))
        elif entry.kind == "folder":
            model = _model_name(entry.name, path)
            if _has_model_file(folder, entry.name):
                found.append(_bundle(path, model))
            else:
                found += _bundles_of_model(folder, entry.name, model)
        else:
            _refuse(folder, entry, "is neither an export bundle folder nor a .onnx file")
    if not found:
        raise ConfigError(f"{folder} holds no export bundle. {_LAYOUT}")
    return found


def publish_exports(
    folder: Path,
    repo: Path,
    *,
    new_version: bool = False,
    update_config: bool = False,
    options: GenerationOptions | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    on_result: Callable[[BundleResult], None] | None = None,
    number: NumberFor | None = None,
) -> ExportsReport:
    """Publish every bundle of ``folder`` into ``repo``, in order, each only when it is new.

    Args:
        folder: the exports folder (``models/exports``).
        repo: the model repository (created when missing).
        new_version: publish every bundle as a new version, even when one holds it.
        update_config: as ``publish``, for every bundle.
        options: generation options for new (or updated) configs.
        lock_timeout_s: as ``publish``.
        on_result: called after each bundle, with its result (to report progress).
        number: as ``publish``: names the version of new model files (the store's
            version registry); None numbers after the repository's versions.

    Returns:
        One result per bundle, in publishing order.

    Raises:
        ConfigError, UnsafeFileError: the folder's layout is wrong (``find_bundles``);
            nothing was published.
        RepositoryError: a bundle failed to publish; the message names it and the cause
            (``__cause__``); the bundles before it stay published, those after it were
            not attempted.

    Example:
        >>> repo = Path("model_repository")
        >>> publish_exports(Path("models/exports"), repo).summary()  # doctest: +SKIP
        '2 bundles: 0 published, 2 unchanged'
    """
    bundles = find_bundles(folder)
    results: list[BundleResult] = []
    for index, bundle in enumerate(bundles):
        try:
            result = publish(
                bundle.path,
                repo,
                bundle.model,
                update_config=update_config,
                options=options,
                lock_timeout_s=lock_timeout_s,
                new_version=new_version,
                number=number,
            )
        except OrchestratorError as exc:
            raise RepositoryError(_failure(bundles, index, results, exc)) from exc
        results.append(BundleResult(bundle.path, result))
        if on_result is not None:
            on_result(results[-1])
    report = ExportsReport(folder, repo, tuple(results))
    logger.info("Published %s from %s: %s", repo, folder, report.summary())
    return report


def _visible(folder: Path, relative: str = "") -> list[untrusted.Entry]:
    """The entries of a folder but the hidden ones, in byte order of their names."""
    shown = [e for e in untrusted.entries(folder, relative) if not e.name.startswith(".")]
    return sorted(shown, key=lambda e: os.fsencode(e.name))


def _model_name(name: str, path: Path) -> str:
    """The model a folder or bare file of the exports folder is published as."""
    if not is_model_name(name):
        raise ConfigError(
            f"{path} would be published as model {name!r}, which is not a model name: expected "
            f"{MODEL_NAME_RULE}. Rename it: its name is the model's name."
        )
    return name


def _has_model_file(folder: Path, relative: str) -> bool:
    return untrusted.kind_of(folder, f"{relative}/{MODEL_FILENAME}") is not None


def _bundles_of_model(folder: Path, name: str, model: str) -> list[ExportBundle]:
    inner = _visible(folder, name)
    if not inner:
        raise ConfigError(
            f"{folder / name} is neither an export bundle (it has no {MODEL_FILENAME}) nor a "
            f"folder of bundles (it is empty). {_LAYOUT}"
        )
    found = []
    for entry in inner:
        relative = f"{name}/{entry.name}"
        if entry.kind == "folder" and _has_model_file(folder, relative):
            found.append(_bundle(folder / relative, model))
        elif entry.kind == "folder":
            raise ConfigError(
                f"{folder / relative} has no {MODEL_FILENAME}: {folder / name} is neither an "
                f"export bundle nor a folder of bundles. {_LAYOUT}"
            )
        else:
            _refuse(
                folder,
                untrusted.Entry(relative, entry.kind),
                f"is not a bundle folder, and {folder / name} has no {MODEL_FILENAME}",
            )
    return found


def _bundle(path: Path, model: str) -> ExportBundle:
    """A bundle folder of ``model``; its export.json must not name another model."""
    if untrusted.kind_of(path, EXPORT_FILENAME) is not None:
        named = read_export(path).get("model_name")
        if named not in (None, "", model):
            raise ConfigError(
                f"Export bundle {path} is in the folder of model {model!r}, but its "
                f"{EXPORT_FILENAME} says model_name {named!r}. Move the bundle to the folder "
                f"of {named!r}, or publish it on its own with --model {model}."
            )
    return ExportBundle(path, model)


def _refuse(folder: Path, entry: untrusted.Entry, problem: str) -> None:
    """Raise for an entry that is no bundle: a link or special file is unsafe, else layout."""
    if entry.kind in ("link", "special"):
        untrusted.require_kind(folder, entry, "file")
    raise ConfigError(f"{folder / entry.name} {problem}. {_LAYOUT} Move it out of {folder}.")


def _failure(
    bundles: list[ExportBundle], index: int, done: list[BundleResult], exc: OrchestratorError
) -> str:
    count = len(bundles)
    rest = bundles[index + 1 :]
    before = (
        f"The {len(done)} bundle(s) before it are done ("
        + ", ".join(f"{r.result.model} {r.result.version}" for r in done)
        + "). "
        if done
        else ""
    )
    after = (
        f"The other {len(rest)} bundle(s) were not attempted: "
        + ", ".join(str(b.path) for b in rest)
        + ". "
        if rest
        else ""
    )
    return (
        f"Publishing {bundles[index].path} (bundle {index + 1} of {count}) failed: {exc} "
        f"{before}{after}Fix it and run the same command again: bundles already published "
        "are recognised as unchanged."
    )
