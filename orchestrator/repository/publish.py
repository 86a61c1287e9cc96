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
"""

from __future__ import annotations

import difflib
import errno
import logging
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.core.load_rules import config_problems
from orchestrator.core.model_config import (
    CONFIG_FILENAME,
    ModelConfig,
    config_as_dict,
    load_config,
    render_config,
)
from orchestrator.core.names import check_model_name
from orchestrator.core.onnx_signature import Signature, read_signature
from orchestrator.errors import ConfigError, RepositoryError
from orchestrator.repository.bundle import MODEL_FILENAME, Bundle, copy_bundle_file, read_bundle
from orchestrator.repository.compatibility import compatibility_problems
from orchestrator.repository.generate import GenerationOptions, generate_config
from orchestrator.repository.layout import (
    STAGING_PREFIX,
    read_manifest,
    version_dir,
    version_manifest,
    version_numbers,
    write_manifest,
)
from orchestrator.repository.model_lock import DEFAULT_LOCK_TIMEOUT_S, model_lock

__all__ = ["PublishResult", "publish"]

logger = logging.getLogger(__name__)

_MAX_CLAIMS = 1000
_TMP_INFIX = ".tmp-"
_NEW_MODEL_INFIX = ".publish-"


@dataclass(frozen=True)
class PublishResult:
    """What ``publish`` wrote.

    Attributes:
        model: the model name (its folder under the repository).
        version: the new version number.
        path: the new version folder.
        config_path: the model's config.pbtxt.
        config_written: whether this publish created or updated config.pbtxt.
        files: sha256 and size of every file in the version folder (its manifest).
    """

    model: str
    version: int
    path: Path
    config_path: Path
    config_written: bool = False
    files: Mapping[str, FileDigest] = field(default_factory=dict)


def publish(
    source: Path,
    repo: Path,
    model: str | None = None,
    *,
    update_config: bool = False,
    options: GenerationOptions | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> PublishResult:
    """Publish ``source`` as the next version of ``model`` in ``repo``.

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

    Returns:
        The model, its new version number and folder.

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
    try:
        repo.mkdir(parents=True, exist_ok=True)
        # One publish of a model at a time: the config decision, the version claim and
        # the config write must not interleave with another publish's.
        with model_lock(repo, name, timeout_s=lock_timeout_s):
            _remove_stale_staging(repo.parent, f".{repo.name}{_NEW_MODEL_INFIX}")
            version = None
            if not model_dir.exists():
                config = generate_config(name, signature, options)
                version = _publish_new_model(repo, name, bundle, config)
            if version is None:
                config = _config_for(name, signature, repo, update_config, options)
                _remove_stale_staging(model_dir, STAGING_PREFIX)
                _remove_stale_staging(model_dir, f"{CONFIG_FILENAME}{_TMP_INFIX}")
                staging = _stage(model_dir / f"{STAGING_PREFIX}{_owner()}", bundle)
                version = _claim_version(model_dir, staging)
                if config is not None:
                    _write_atomically(config_path, render_config(config))
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
) -> ModelConfig | None:
    """The config to write, or None when the existing one fits the new graph."""
    generated = generate_config(name, signature, options)
    config_path = repo / name / CONFIG_FILENAME
    if untrusted.kind_of(repo, f"{name}/{CONFIG_FILENAME}") is None:
        return generated
    existing = load_config(config_path, within=repo)
    problems = config_problems(config_as_dict(existing), *signature.backend_tensors())
    if not problems:
        return None
    if not update_config:
        raise ConfigError(
            f"{config_path} does not match the new graph: {problems[0]}.\n"
            f"{_io_diff(existing, generated, config_path)}\n"
            "Export the graph with the same inputs and outputs, or pass --update-config "
            "to regenerate the config's inputs, outputs and batching on purpose."
        )
    return _updated(existing, generated)


def _io_only(config: ModelConfig) -> str:
    io = ModelConfig(max_batch_size=config.max_batch_size)
    io.input.extend(config.input)
    io.output.extend(config.output)
    return render_config(io)


def _io_diff(
    existing: ModelConfig,
    generated: ModelConfig,
    path: Path,
) -> str:
    return "".join(
        difflib.unified_diff(
            _io_only(existing).splitlines(keepends=True),
            _io_only(generated).splitlines(keepends=True),
            fromfile=str(path),
            tofile="generated from the new graph",
        )
    )


def _updated(existing: ModelConfig, generated: ModelConfig) -> ModelConfig:
    """The existing config with the generated I/O, batching and warmup."""
    config = ModelConfig()
    config.CopyFrom(existing)
    config.max_batch_size = generated.max_batch_size
    for name in ("input", "output", "model_warmup"):
        config.ClearField(name)
    config.input.extend(generated.input)
    config.output.extend(generated.output)
    config.model_warmup.extend(generated.model_warmup)
    if generated.max_batch_size == 0:
        config.ClearField("dynamic_batching")
    elif config.HasField("dynamic_batching"):
        sizes = [s for s in config.dynamic_batching.preferred_batch_size]
        if any(s > generated.max_batch_size for s in sizes):
            config.dynamic_batching.CopyFrom(generated.dynamic_batching)
    return config


def _publish_new_model(repo: Path, name: str, bundle: Bundle, config: ModelConfig) -> int | None:
    """Assemble the whole model folder beside the repository and rename it in.

    Triton treats every folder of the repository root as a model (a staging folder there
    would break a server that loads them all), so a new model is staged in a sibling of
    the repository and appears with its config and version 1 at once. Returns None when
    the model appeared meanwhile (a concurrent publish) or the sibling is on another
    file system; the caller then publishes into the existing folder.
    """
    staging_root = repo.parent / f".{repo.name}{_NEW_MODEL_INFIX}{_owner()}"
    try:
        staging_root.mkdir()
        model_stage = staging_root / name
        model_stage.mkdir()
        _stage(model_stage / "1", bundle)
        _write_atomically(model_stage / CONFIG_FILENAME, render_config(config))
        _fsync(model_stage)
        try:
            os.rename(model_stage, repo / name)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EXDEV, errno.ENOTDIR):
                return None
            raise
        _fsync(repo)
        return 1
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def _owner() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _remove_stale_staging(folder: Path, prefix: str) -> None:
    """Remove what killed publishes left (``<prefix><pid>-<token>`` of dead processes)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue
        logger.info("Removing %s left by an interrupted publish", entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stage(staging: Path, bundle: Bundle) -> Path:
    staging.mkdir()
    targets = [(bundle.model_file, staging / MODEL_FILENAME)]
    targets += [(path, staging / path.name) for path in bundle.extra_files]
    for src, dst in targets:
        copy_bundle_file(src, dst)
        _fsync(dst)
    _fsync(write_manifest(staging, version_manifest(staging)))
    _fsync(staging)
    return staging


def _claim_version(model_dir: Path, staging: Path) -> int:
    """Rename ``staging`` to the next free version number; retry when another publish won."""
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
                _fsync(model_dir)
                return candidate
        candidate = max(candidate + 1, max(version_numbers(model_dir), default=0) + 1)
    raise RepositoryError(
        f"Could not claim a version number in {model_dir} after {_MAX_CLAIMS} tries. "
        "Something keeps creating version folders; check for a runaway publish loop."
    )


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}{_TMP_INFIX}{_owner()}")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
