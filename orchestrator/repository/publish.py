"""Publish an export bundle or a bare ONNX file as a new, immutable model version.

The version folder is assembled in a staging folder inside the model folder
(``<repo>/<model>/.staging-<pid>-<random>``, which Triton ignores because it is not a
number) and renamed into place in one ``rename(2)``: no reader ever sees half a version.
``rename`` onto an existing version folder fails, so two concurrent publishes never get
the same number: the loser takes the next one. The config is written after the version,
through a temporary file and ``os.replace``. A publish killed at any point leaves at most
a staging folder, which the next publish removes. Publishes of one model are serialized
by a lock per model (``model_lock``), so its config and versions always agree; bundle
files are read and copied under the untrusted-input rule (``core.untrusted``).

Publishing is idempotent by content: a source whose model files are byte-identical to an
existing version's (``identical.version_holding``) is not published again; the result
names that version, status ``unchanged``, and nothing is written (the check runs first
without the lock, which writes a lock file, and again under it before a new version is
claimed). ``new_version=True`` publishes it again under a new number.

A new version takes the next number after the repository's own, unless ``number`` is
given: then that function names it (``releases.version_registry``: the number the store
registers for these model files, so a fresh checkout never reuses one), and a folder
already holding that number with other files is refused.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.core.golden import tolerance_for
from orchestrator.core.load_rules import config_problems
from orchestrator.core.model_config import (
    CONFIG_FILENAME,
    ModelConfig,
    config_as_dict,
    parse_config,
    read_config_text,
    render_config,
)
from orchestrator.core.names import check_model_name
from orchestrator.core.onnx_signature import Signature, read_signature
from orchestrator.errors import ConfigError, RepositoryError
from orchestrator.repository.bundle import MODEL_FILENAME, Bundle, copy_bundle_file, read_bundle
from orchestrator.repository.compatibility import compatibility_problems
from orchestrator.repository.config_comment import batching_changed, leading_comment
from orchestrator.repository.generate import (
    GenerationOptions,
    generate_config,
    io_diff,
    updated_config,
)
from orchestrator.repository.identical import version_holding
from orchestrator.repository.layout import (
    STAGING_PREFIX,
    read_manifest,
    version_dir,
    version_manifest,
    version_numbers,
    write_manifest,
)
from orchestrator.repository.model_lock import DEFAULT_LOCK_TIMEOUT_S, model_lock
from orchestrator.repository.scratch import (
    TMP_INFIX,
    fsync_path,
    owner_token,
    remove_stale,
    write_atomically,
)

__all__ = ["NumberFor", "PublishResult", "publish"]

NumberFor = Callable[[str, Mapping[str, FileDigest]], int]
"""Names the version of new model files: ``number(model, {"model.onnx": digest, ...})``."""

logger = logging.getLogger(__name__)

_MAX_CLAIMS = 1000
_NEW_MODEL_INFIX = ".publish-"


@dataclass(frozen=True)
class PublishResult:
    """What ``publish`` wrote, or which version already held the model.

    Attributes:
        model: the model name (its folder under the repository).
        version: the new version number, or the one that already holds the model files.
        path: that version's folder.
        config_path: the model's config.pbtxt.
        config_written: whether this publish created or updated config.pbtxt.
        files: sha256 and size of every file in the version folder (its manifest).
        status: ``published`` (a new version), or ``unchanged``: ``version`` already
            held byte-identical model files, and nothing was written.
        model_file: the source's model file name (``model.onnx``, or a bare file's name).
        comment_kept: ``--update-config`` kept the ``#`` comment above the old config
            (``tune --write``'s measurement record): its dynamic batching is unchanged.
        comment_dropped: the comment ``--update-config`` dropped (cleaned and bounded,
            ``config_comment``) because it regenerated the batching that comment records.
    """

    model: str
    version: int
    path: Path
    config_path: Path
    config_written: bool = False
    files: Mapping[str, FileDigest] = field(default_factory=dict)
    status: Literal["published", "unchanged"] = "published"
    model_file: str = MODEL_FILENAME
    comment_kept: bool = False
    comment_dropped: str = ""

    @property
    def unchanged(self) -> bool:
        """Whether an existing version already held the model and nothing was written."""
        return self.status == "unchanged"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the version, its folder and config, the config comment, digests."""
        return {
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "path": str(self.path),
            "config": str(self.config_path),
            "config_written": self.config_written,
            "comment_kept": self.comment_kept,
            "comment_dropped": self.comment_dropped or None,
            "files": {
                name: {"sha256": digest.sha256, "size_bytes": digest.size_bytes}
                for name, digest in self.files.items()
            },
        }


def publish(
    source: Path,
    repo: Path,
    model: str | None = None,
    *,
    update_config: bool = False,
    options: GenerationOptions | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    new_version: bool = False,
    number: NumberFor | None = None,
) -> PublishResult:
    """Publish ``source`` as the next version of ``model`` in ``repo``, unless one holds it.

    A source whose model files (the model and its external weights) are byte-identical
    to an existing version of the model is not published again: the result has status
    ``unchanged`` and names that version, and nothing is written, config included.

    Args:
        source: an export bundle folder (``model.onnx``, ``export.json``, ``golden.npz``)
            or a bare ``.onnx`` file.
        repo: the model repository (created when missing).
        model: the model name; default: ``model_name`` of export.json, else the file stem.
        update_config: when the model's config does not fit the new graph, regenerate
            its inputs, outputs and batching instead of failing.
        options: generation options for a new (or updated) config.
        lock_timeout_s: how long to wait for another publish of the same model (they
            are serialized by a lock per model, ``repository.model_lock``).
        new_version: publish a new version even when one already holds the model files.
        number: names the version of model files no version holds (called under the
            model's lock); None: the next number after the repository's.

    Returns:
        The model, its new version number and folder; or, status ``unchanged``, the
        version that already holds the model files.

    Raises:
        ConfigError: the source is not a servable ONNX graph, its files differ from
            export.json, or the existing config does not match its signature.
        UnsafeFileError: a bundle file is a link, not a regular file, outside the bundle
            or too large (``core.untrusted``); nothing was copied.
        RepositoryError: the repository cannot be written, or another publish of the
            model held its lock for ``lock_timeout_s``.

    Example:
        >>> publish(Path("models/exports/digits"), Path("model_repository"))  # doctest: +SKIP
        PublishResult(model='digits', version=3, ...)
    """
    bundle = read_bundle(source)
    name = _model_name(model, bundle, source)
    signature = read_signature(bundle.model_file)
    _check_compatible(bundle.model_file, signature)
    bundle = _with_external_files(bundle, signature)
    model_dir = repo / name
    config_path = model_dir / CONFIG_FILENAME
    model_files = _model_digests(bundle, signature)
    # Versions appear whole (one rename) and never change, so a check without the lock
    # is sound when it finds one; it keeps an unchanged publish from writing anything.
    held = None if new_version else version_holding(model_dir, model_files)
    if held is not None and not _leftovers(model_dir):
        return _unchanged(name, held, repo, bundle)
    try:
        repo.mkdir(parents=True, exist_ok=True)
        # One publish of a model at a time: the config decision, the version claim and
        # the config write must not interleave with another publish's.
        with model_lock(repo, name, timeout_s=lock_timeout_s):
            held = None if new_version else version_holding(model_dir, model_files)
            if held is not None:
                # Nothing to publish, but what killed publishes left goes (a .staging-*
                # folder first in name order can break a config without backend).
                remove_stale(model_dir, STAGING_PREFIX)
                remove_stale(model_dir, f"{CONFIG_FILENAME}{TMP_INFIX}")
                return _unchanged(name, held, repo, bundle)
            remove_stale(repo.parent, f".{repo.name}{_NEW_MODEL_INFIX}")
            version = None
            wanted = None
            comment = dropped = ""
            if not model_dir.exists():
                config = generate_config(name, signature, options)
                wanted = None if number is None else number(name, model_files)
                version = _publish_new_model(repo, name, bundle, config, wanted or 1)
            if version is None:
                config, comment, dropped = _config_for(
                    name, signature, repo, update_config, options
                )
                # numbered once the bundle fits: a refused one takes no registered number
                if wanted is None and number is not None:
                    wanted = number(name, model_files)
                remove_stale(model_dir, STAGING_PREFIX)
                remove_stale(model_dir, f"{CONFIG_FILENAME}{TMP_INFIX}")
                staging = _stage(model_dir / f"{STAGING_PREFIX}{owner_token()}", bundle)
                version = _claim_version(model_dir, staging, wanted)
                if config is not None:
                    write_atomically(config_path, comment + render_config(config))
    except OSError as exc:
        raise RepositoryError(
            f"Cannot publish into {model_dir}: {exc.strerror or exc} ({exc.filename or ''}). "
            "Check that the repository is a writable folder with free space."
        ) from exc
    path = version_dir(repo, name, version)
    logger.info("Published %s version %d at %s", name, version, path)
    return PublishResult(
        model=name,
        version=version,
        path=path,
        config_path=config_path,
        config_written=config is not None,
        files=read_manifest(path) or {},
        model_file=bundle.model_file.name,
        comment_kept=bool(comment),
        comment_dropped=dropped,
    )


def _model_digests(bundle: Bundle, signature: Signature) -> dict[str, FileDigest]:
    """The model files' digests by the names they get in a version folder.

    A file export.json lists with its sha256 and size was just verified against them
    (``read_bundle``), so that digest is used; any other file is hashed.
    """
    folder = bundle.model_file.parent
    listed = bundle.export.get("files", {})
    files = {}
    for name, source in [(MODEL_FILENAME, bundle.model_file.name)] + [
        (location, location) for location in signature.external_files
    ]:
        entry = listed.get(source) if isinstance(listed, Mapping) else None
        if isinstance(entry, Mapping) and isinstance(entry.get("size_bytes"), int):
            files[name] = FileDigest(str(entry["sha256"]), entry["size_bytes"])
        else:
            files[name] = untrusted.digest(folder, source)
    return files


def _leftovers(model_dir: Path) -> bool:
    """Whether a killed publish left a staging folder or a config temp file here."""
    prefixes = (STAGING_PREFIX, f"{CONFIG_FILENAME}{TMP_INFIX}")
    try:
        with os.scandir(model_dir) as entries:
            return any(entry.name.startswith(prefixes) for entry in entries)
    except OSError:
        return False


def _unchanged(name: str, version: int, repo: Path, bundle: Bundle) -> PublishResult:
    path = version_dir(repo, name, version)
    logger.info(
        "%s version %d already holds %s; nothing published", name, version, bundle.model_file
    )
    try:
        files = read_manifest(path) or {}
    except RepositoryError:  # UnsafeFileError included: identity was checked by hashing
        files = {}
    return PublishResult(
        model=name,
        version=version,
        path=path,
        config_path=repo / name / CONFIG_FILENAME,
        files=files,
        status="unchanged",
        model_file=bundle.model_file.name,
    )


def _with_external_files(bundle: Bundle, signature: Signature) -> Bundle:
    """The bundle plus the files holding the graph's external weights."""
    extra = list(bundle.extra_files)
    for location in signature.external_files:
        path = bundle.model_file.parent / location
        if Path(location).is_absolute() or ".." in Path(location).parts or "/" in location:
            raise ConfigError(
                f"{bundle.model_file} keeps weights in {location!r}; expected a file name beside "
                "the model. Re-save it with onnx.save(..., location='weights.bin')."
            )
        kind = untrusted.kind_of(bundle.model_file.parent, location)
        if kind is None:
            raise ConfigError(
                f"{bundle.model_file} keeps weights in {location!r}, but {path} is missing. "
                "Copy the external data file beside the model."
            )
        untrusted.require_kind(bundle.model_file.parent, untrusted.Entry(location, kind), "file")
        if path not in extra:
            extra.append(path)
    return Bundle(bundle.model_file, tuple(extra), bundle.export)


def _check_compatible(path: Path, signature: Signature) -> None:
    problems = compatibility_problems(signature)
    if problems:
        details = "; ".join(f"{message}. {hint}" for _, message, hint in problems)
        raise ConfigError(f"Cannot publish {path}: {details}")


def _model_name(model: str | None, bundle: Bundle, source: Path) -> str:
    if model is not None:
        return check_model_name(model, "--model")
    name = str(bundle.export.get("model_name") or "") or bundle.model_file.stem
    return check_model_name(name, str(source))


def _config_for(
    name: str,
    signature: Signature,
    repo: Path,
    update_config: bool,
    options: GenerationOptions | None,
) -> tuple[ModelConfig | None, str, str]:
    """The config to write (None: the existing one fits), the comment kept, the comment dropped.

    The ``#`` comment above an updated config stays while its dynamic batching does; a
    regenerated batching no longer matches the measurement it records, so it goes.
    """
    generated = generate_config(name, signature, options)
    config_path = repo / name / CONFIG_FILENAME
    if untrusted.kind_of(repo, f"{name}/{CONFIG_FILENAME}") is None:
        return generated, "", ""
    text = read_config_text(config_path, within=repo)  # one read: the config and its comment
    existing = parse_config(text, config_path)
    tolerance_for(existing)  # a smoke tolerance the pods' probe would refuse stops here
    problems = config_problems(config_as_dict(existing), *signature.backend_tensors())
    if not problems:
        return None, "", ""
    if not update_config:
        raise ConfigError(
            f"{config_path} does not match the new graph: {problems[0]}.\n"
            f"{io_diff(existing, generated, config_path)}\n"
            "Export the graph with the same inputs and outputs, or pass --update-config "
            "to regenerate the config's inputs, outputs and batching on purpose."
        )
    updated = updated_config(existing, generated)
    comment = leading_comment(text)
    if comment and batching_changed(existing, updated):
        return updated, "", comment
    return updated, comment, ""


def _publish_new_model(
    repo: Path, name: str, bundle: Bundle, config: ModelConfig, version: int
) -> int | None:
    """Assemble the whole model folder beside the repository and rename it in.

    Triton treats every folder of the repository root as a model (a staging folder there
    would break a server that loads them all), so a new model is staged in a sibling of
    the repository and appears with its config and its first version at once. Returns None when
    the model appeared meanwhile (a concurrent publish) or the sibling is on another
    file system; the caller then publishes into the existing folder.
    """
    staging_root = repo.parent / f".{repo.name}{_NEW_MODEL_INFIX}{owner_token()}"
    try:
        staging_root.mkdir()
        model_stage = staging_root / name
        model_stage.mkdir()
        _stage(model_stage / str(version), bundle)
        write_atomically(model_stage / CONFIG_FILENAME, render_config(config))
        fsync_path(model_stage)
        try:
            os.rename(model_stage, repo / name)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EXDEV, errno.ENOTDIR):
                return None
            raise
        fsync_path(repo)
        return version
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def _stage(staging: Path, bundle: Bundle) -> Path:
    staging.mkdir()
    try:
        targets = [(bundle.model_file, staging / MODEL_FILENAME)]
        targets += [(path, staging / path.name) for path in bundle.extra_files]
        for src, dst in targets:
            # Hashed as copied, from one open file, and compared with export.json: the
            # version stored is exactly the one its export.json describes.
            copy_bundle_file(src, dst, bundle.export)
            fsync_path(dst)
        fsync_path(write_manifest(staging, version_manifest(staging)))
        fsync_path(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _claim_version(model_dir: Path, staging: Path, wanted: int | None = None) -> int:
    """Rename ``staging`` to the next free version number; retry when another publish won.

    With ``wanted``, to that number only: a folder holding it already is refused.
    """
    if wanted is not None:
        target = model_dir / str(wanted)
        try:
            if target.exists() or target.is_symlink():
                raise FileExistsError(errno.EEXIST, "exists", str(target))
            os.rename(staging, target)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise
            shutil.rmtree(staging, ignore_errors=True)
            raise RepositoryError(
                f"{target} exists with other model files, but this model file is version "
                f"{wanted} in the version registry: a version number names one model file. "
                f"Remove {target} (it is not the registered version {wanted}) and publish again."
            ) from exc
        fsync_path(model_dir)
        return wanted
    candidate = max(version_numbers(model_dir), default=0) + 1
    for _ in range(_MAX_CLAIMS):
        target = model_dir / str(candidate)
        if not target.exists() and not target.is_symlink():
            try:
                os.rename(staging, target)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise
            else:
                fsync_path(model_dir)
                return candidate
        candidate = max(candidate + 1, max(version_numbers(model_dir), default=0) + 1)
    raise RepositoryError(
        f"Could not claim a version number in {model_dir} after {_MAX_CLAIMS} tries. "
        "Something keeps creating version folders; check for a runaway publish loop."
    )
