"""The options the commands share, each defined once: one spelling per concept.

* Repository: ``--repo DIRECTORY`` (parameter ``repository``, default
  ``model_repository``).
* Store: the positional ``STORE`` (parameter ``store_url``), and ``--endpoint-url URL``
  for S3-compatible servers.
* Output: ``--format`` (parameter ``output_format``).
* What is measured or served: ``--model``, ``--concurrency``, ``--batch-size``,
  ``--window-s``, ``--tritonserver``.
* Releases: ``--all-versions``, ``--dry-run``.
* The server's endpoints are in ``server_options``, the cluster's in ``cluster_options``.
* The positional repository of serve, list, validate and release and the ``[REPO] DEST``
  of sync still work for one release: one deprecation line on stderr, left out of the
  usage line (``deprecated``).
* Nothing here imports a library stage at import time, so ``COMMAND --help`` stays fast.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from orchestrator.cli import deprecated
from orchestrator.cli.defaults import MAX_WINDOW_S
from orchestrator.errors import ConfigError

__all__ = [
    "DEFAULT_REPOSITORY",
    "FiniteFloat",
    "all_versions_option",
    "batch_size_option",
    "concurrency_option",
    "dry_run_option",
    "endpoint_url_option",
    "format_option",
    "model_option",
    "models_option",
    "ready_timeout_option",
    "registry_option",
    "repository_option",
    "store_argument",
    "tritonserver_option",
    "window_s_option",
]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_REPOSITORY = Path("model_repository")


def format_option(help_text: str, choices: tuple[str, ...] = ("table", "json")) -> Callable[[F], F]:
    """The ``--format`` option (parameter ``output_format``, default "table") of a command.

    Example:
        >>> @format_option("A table, or JSON for machines.")  # doctest: +SKIP
        ... @click.command()
        ... def listing(output_format: str) -> None: ...
    """
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default="table",
        show_default=True,
        help=help_text,
    )


# --- the repository ---------------------------------------------------------------------


def repository_option(
    help_text: str,
    *,
    default: Path = DEFAULT_REPOSITORY,
    exists: bool = False,
    file_okay: bool = True,
    deprecated_positional: bool = False,
) -> Callable[[F], F]:
    """The ``--repo DIRECTORY`` option (parameter ``repository``).

    Args:
        help_text: what the repository is for in this command.
        default: the repository when ``--repo`` is not given.
        exists: whether the directory must exist.
        file_okay: whether a file is accepted (False: a directory or nothing).
        deprecated_positional: also accept the repository as a positional argument,
            with a deprecation line on stderr (the old spelling of the command).

    Example:
        >>> @repository_option("The model repository to list.")  # doctest: +SKIP
        ... @click.command()
        ... def listing(repository: Path) -> None: ...
    """
    # The checks run in the callback, after the deprecated positional form has had its
    # say: checking the default first would refuse `validate other/` whenever
    # ./model_repository is missing.
    checked = click.Path(exists=exists, file_okay=file_okay, path_type=Path)

    def callback(ctx: click.Context, param: click.Parameter, value: str) -> Path:
        legacy = deprecated.pop_positional_repository(ctx)
        if legacy is not None:
            if ctx.get_parameter_source("repository") is not ParameterSource.DEFAULT:
                raise click.UsageError(
                    f"The repository is given twice: --repo {value} and {legacy}. "
                    "Pass it once, as --repo.",
                    ctx,
                )
            value = legacy
        _check_path(value, param, ctx)
        return checked.convert(value, param, ctx)

    option = click.option(
        "--repo",
        "repository",
        type=click.Path(),  # a str: "" must stay visible to the callback
        metavar="DIRECTORY",
        default=str(default),
        show_default=True,
        callback=callback,
        help=help_text,
    )
    if not deprecated_positional:
        return option
    positional = click.argument(
        "positional_repository",
        cls=deprecated.UnlistedArgument,
        required=False,
        expose_value=False,
        is_eager=True,
        callback=deprecated.remember_positional_repository,
    )

    def decorator(f: F) -> F:
        return positional(option(f))

    return decorator


def _check_path(value: str, param: click.Parameter, ctx: click.Context) -> None:
    # Path("") is the current folder, and click.Path lets a name the system refuses (too
    # long, say) through when the path need not exist: refuse both here.
    if not value.strip():
        raise click.BadParameter(
            "the path is empty. Pass a folder, e.g. --repo model_repository.", ctx, param
        )
    try:
        os.stat(value)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise click.BadParameter(
                f"{os.fspath(value)[:80]!r}: {exc.strerror}. Pass an existing folder or a "
                "name the file system accepts.",
                ctx,
                param,
            ) from exc


# --- the object store -------------------------------------------------------------------


def store_argument(*, deprecated_repository: bool = False) -> Callable[[F], F]:
    """The positional ``STORE`` (parameter ``store_url``): ``file://``, ``s3://`` or ``gs://``.

    Args:
        deprecated_repository: also accept ``REPO STORE``, the old ``[REPO] DEST`` of
            sync, with a deprecation line on stderr; ``repository_option`` takes the
            repository from it.

    Example:
        >>> @store_argument()  # doctest: +SKIP
        ... @click.command()
        ... def listing(store_url: str) -> None: ...
    """
    if not deprecated_repository:
        return click.argument("store_url", metavar="STORE")
    return click.argument(
        "store_url",
        metavar="STORE",
        nargs=-1,
        is_eager=True,  # before --repo, which takes the deprecated repository
        callback=deprecated.store_after_repository,
    )


def registry_option(help_text: str) -> Callable[[F], F]:
    """``--store STORE``: the store whose version registry numbers versions (``store_url``)."""
    return click.option("--store", "store_url", metavar="STORE", help=help_text)


def _endpoint_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    problem = None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:
        problem = "it does not parse (a broken [IPv6] host, or a port outside 0-65535)"
    else:
        if parts.scheme not in ("http", "https"):
            problem = "it does not start with http:// or https://"
        elif not parts.hostname or any(c.isspace() for c in value):
            problem = "it has no host, or a space in it"
    if problem is None:
        return value
    shown = value if "@" not in value else "(not shown: it carries credentials)"
    raise click.BadParameter(
        f"{shown!r} is not an S3 endpoint URL: {problem}. Expected http(s)://HOST[:PORT], "
        "e.g. http://127.0.0.1:9000.",
        ctx,
        param,
    )


def endpoint_url_option() -> Callable[[F], F]:
    """``--endpoint-url URL``: an S3-compatible endpoint (parameter ``endpoint_url``)."""
    return click.option(
        "--endpoint-url",
        metavar="URL",
        callback=_endpoint_url,
        help="S3-compatible endpoint (MinIO, moto); AWS_ENDPOINT_URL also works.",
    )


# --- what is measured or served ----------------------------------------------------------


def _model_name(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # The one model name rule (core.names), matched in full: "" or "digits\n" is a usage
    # error (exit 2) naming the rule, never a blank or a different model later.
    from orchestrator.core.names import MODEL_NAME_RULE, is_model_name

    names = value if isinstance(value, tuple) else (value,)
    for name in names:
        if name is not None and not is_model_name(name):
            raise click.BadParameter(f"{name!r} is not a model name: expected {MODEL_NAME_RULE}.")
    return value


def model_option(help_text: str, *, required: bool = True) -> Callable[[F], F]:
    """``--model NAME``: the one model a command works on (parameter ``model``)."""
    return click.option("--model", required=required, help=help_text, callback=_model_name)


def models_option(help_text: str) -> Callable[[F], F]:
    """``--model NAME``, repeatable: only these models (parameter ``models``, () for all)."""
    return click.option("--model", "models", multiple=True, help=help_text, callback=_model_name)


def ready_timeout_option(help_text: str) -> Callable[[F], F]:
    """``--ready-timeout-s SECONDS``: a local Triton's start deadline (``ready_timeout_s``)."""
    return click.option(
        "--ready-timeout-s",
        type=FiniteFloat(min=0.0, min_open=True, max=86400.0),
        default=120.0,
        show_default=True,
        help=help_text,
    )


def tritonserver_option() -> Callable[[F], F]:
    """``--tritonserver PATH``: the binary to start (parameter ``tritonserver``)."""
    return click.option(
        "--tritonserver",
        type=click.Path(path_type=Path),
        envvar="TRITONSERVER",
        help="tritonserver binary (default: PATH, then the nvidia-pytriton wheel).",
    )


def _concurrency(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    from orchestrator.performance.options import parse_concurrency

    try:
        return parse_concurrency(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc


def concurrency_option(default: str, help_text: str) -> Callable[[F], F]:
    """``--concurrency 1,2,4``: the levels to measure (parameter ``concurrency``, a tuple)."""
    return click.option(
        "--concurrency",
        default=default,
        show_default=True,
        callback=_concurrency,
        help=help_text,
    )


def batch_size_option() -> Callable[[F], F]:
    """``--batch-size N``: rows per request, default 1 (parameter ``batch_size``)."""
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Rows per request.",
    )


class FiniteFloat(click.FloatRange):
    """A number in a range that is also finite: click's FloatRange lets nan and inf through.

    Example:
        >>> FiniteFloat(min=0.0, max=1.0).convert("0.5", None, None)
        0.5
    """

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """``value`` as a float in the range; nan, inf and -inf are usage errors."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; {self._describe_range()}.", param, ctx)
        return number


def window_s_option(default: float) -> Callable[[F], F]:
    """``--window-s SECONDS``: one measurement window (parameter ``window_s``)."""
    return click.option(
        "--window-s",
        type=FiniteFloat(min=0.1, max=MAX_WINDOW_S),
        default=default,
        show_default=True,
        help="Length of one measurement window.",
    )


# --- releases ---------------------------------------------------------------------------


def all_versions_option() -> Callable[[F], F]:
    """``--all-versions``: release every version, not only the served ones."""
    return click.option(
        "--all-versions",
        is_flag=True,
        help="Include every version, not only those the policy serves.",
    )


def dry_run_option(help_text: str) -> Callable[[F], F]:
    """``--dry-run``: say what would change, change nothing (parameter ``dry_run``)."""
    return click.option("--dry-run", is_flag=True, help=help_text)
