"""The deprecated spellings of the CLI, kept for one release (they go in the next).

* The repository was once a positional argument (``serve``, ``list``, ``validate``,
  ``release``) or the first of ``sync``'s ``[REPO] DEST``.
* Both still work: each use prints one deprecation line on stderr, and
  ``options.repository_option`` takes the value from here.
* To drop them, remove this module and the ``deprecated_*`` switches in ``options``.
"""

from __future__ import annotations

import click

__all__ = [
    "UnlistedArgument",
    "pop_positional_repository",
    "remember_positional_repository",
    "store_after_repository",
]

_POSITIONAL_REPOSITORY = "orchestrator.cli.positional_repository"


def _warn(ctx: click.Context, value: str) -> None:
    click.echo(
        f"Deprecated: pass the repository as --repo {value}; the positional form goes away "
        "in the next release.",
        err=True,
    )
    ctx.meta[_POSITIONAL_REPOSITORY] = value


class UnlistedArgument(click.Argument):
    """A positional argument left out of the usage line: a deprecated spelling."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        """Nothing: the deprecated form is not advertised."""
        return []


def remember_positional_repository(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> None:
    """Click callback of the unlisted positional repository: warn and remember it."""
    if value is not None:
        _warn(ctx, value)


def pop_positional_repository(ctx: click.Context) -> str | None:
    """The repository given in a deprecated positional form, if any (once)."""
    value = ctx.meta.pop(_POSITIONAL_REPOSITORY, None)
    return None if value is None else str(value)


def store_after_repository(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...] | None
) -> str:
    """Click callback of sync's ``STORE`` that also takes the old ``REPO DEST`` form.

    Example:
        ``orchestrator sync model_repository s3://b/p`` warns, then syncs
        ``model_repository`` to ``s3://b/p`` as ``sync s3://b/p --repo model_repository``.
    """
    values = values or ()
    if not values:
        raise click.MissingParameter(ctx=ctx, param=param)
    if len(values) > 2:
        from orchestrator.releases.stores.base import redact

        raise click.UsageError(
            f"Expected one STORE, got {len(values)} arguments "
            f"({' '.join(map(redact, values))}), e.g. "
            "`orchestrator sync s3://bucket/prefix --repo model_repository`.",
            ctx,
        )
    if len(values) == 2:
        _warn(ctx, values[0])
    return values[-1]
