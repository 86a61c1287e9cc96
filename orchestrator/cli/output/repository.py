"""How the repository commands print for people: publish lines and the listing table.

- One line per published version or bundle; a rich table of every model version for ``list``.
- The JSON forms are the results' own ``as_dict()`` (``PublishResult``, ``ExportsReport``,
  ``ModelListing``, ``Finding``), printed by ``jsondata.echo_json``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.cli.output.releases import size_text
from orchestrator.repository.listing import ModelListing
from orchestrator.repository.publish import PublishResult

__all__ = ["print_listing", "publish_line"]


def publish_line(result: PublishResult) -> str:
    """``model version folder``, and why nothing was written when an old version holds it.

    Example:
        >>> print(publish_line(result))  # doctest: +SKIP
        digits_cnn 1 model_repository/digits_cnn/1 (unchanged: version 1 already holds this
        model.onnx)
    """
    line = f"{result.model} {result.version} {result.path}"
    if result.unchanged:
        line += f" (unchanged: version {result.version} already holds this {result.model_file})"
    return line


def print_listing(models: Sequence[ModelListing]) -> None:
    """One table row per model version: served, size, sha256 prefix, metrics."""
    table = Table("model", "version", "served", "size", "sha256", "metrics")
    for model in models:
        if model.error:
            table.add_row(model.name, "", "", "", "", f"[red]{model.error}[/red]")
        for version in model.versions:
            metrics = ", ".join(f"{k}={_short(v)}" for k, v in sorted(version.metrics.items()))
            table.add_row(
                model.name,
                str(version.version),
                "yes" if version.served else "",
                size_text(version.size_bytes),
                version.sha256[:12],
                metrics,
            )
    Console(soft_wrap=True).print(table)


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
