"""How ``orchestrator releases diff`` prints: lines for a terminal, or Markdown for a summary.

- The Markdown form is what the promote workflow appends to ``$GITHUB_STEP_SUMMARY``.
- The JSON form is the diff's own ``as_dict()``, printed by ``jsondata.echo_json``.
"""

from __future__ import annotations

import click

from orchestrator.releases.diff import ModelChange, ReleaseDiff

__all__ = ["markdown_text", "print_diff"]


def _versions(numbers: tuple[int, ...]) -> str:
    return ", ".join(str(n) for n in numbers)


def _which(change: ModelChange, numbers: tuple[int, ...]) -> str:
    """``2 (model.onnx 3f1c2a9b7e10)``: each version with the model files it names."""
    return ", ".join(
        f"{n} ({change.identities[str(n)]})" if str(n) in change.identities else str(n)
        for n in numbers
    )


def _change_text(change: ModelChange) -> str:
    parts = []
    if change.versions_added:
        parts.append(f"versions added {_which(change, change.versions_added)}")
    if change.versions_removed:
        parts.append(f"versions removed {_which(change, change.versions_removed)}")
    same_model = tuple(v for v in change.versions_changed if v not in change.versions_reused)
    if same_model:
        parts.append(f"versions with different files, same model files {_versions(same_model)}")
    if change.versions_reused:
        parts.append(
            f"REUSED version numbers {_which(change, change.versions_reused)}: each now names "
            "another model file than before (a store written before the version registry)"
        )
    if change.config_changed:
        parts.append("config changed")
    return "; ".join(parts)


def _baseline(diff: ReleaseDiff) -> str:
    if diff.against == "release":
        return f"release {diff.old_id}"
    unit = f" (deployed unit {diff.old_unit[:12]})" if diff.old_unit else ""
    return f"{diff.against}'s current release {diff.old_id}{unit}"


def print_diff(diff: ReleaseDiff) -> None:
    """Print one line per changed model on stdout, and the comparison made on stderr.

    Example:
        >>> print_diff(diff_releases(store, old, new))  # doctest: +SKIP
        added    cancer_mlp: versions added 1
    """
    if diff.first_release:
        click.echo(
            f"{diff.new_id} is a first release: {diff.against} runs no release yet, "
            "nothing to compare.",
            err=True,
        )
    else:
        click.echo(f"{diff.new_id} against {_baseline(diff)}", err=True)
    for change in diff.models:
        click.echo(f"{change.status:<8} {change.name}: {_change_text(change)}")
    if not diff.changed:
        click.echo("No model or version differs.", err=True)


def markdown_text(diff: ReleaseDiff) -> str:
    """The diff as a Markdown section (a heading, one table row per changed model).

    Example:
        >>> print(markdown_text(diff))  # doctest: +SKIP
        ### Release 9a0b...
    """
    lines = [f"### Release `{diff.new_id}`", ""]
    if diff.first_release:
        lines.append(
            f"First release: {diff.against} runs no release yet, so there is nothing to "
            "compare with. It serves:"
        )
    elif not diff.models:
        lines.append(f"No model or version differs from {_baseline(diff)}.")
    else:
        lines.append(f"Changes against {_baseline(diff)}:")
    if diff.models:
        lines += ["", "| model | change | details |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.status} | {_change_text(c)} |" for c in diff.models]
    if diff.unchanged_models:
        lines += ["", f"Unchanged: {', '.join(diff.unchanged_models)}."]
    return "\n".join(lines) + "\n"
