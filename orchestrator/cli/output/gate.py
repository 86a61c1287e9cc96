"""How ``orchestrator gate`` prints: a table of checks for people, a GitHub job-summary section.

- The table goes to stdout; the Markdown section is what a workflow appends to
  ``$GITHUB_STEP_SUMMARY``.
- The JSON form is the result's own ``as_dict()`` (the stored record plus its key),
  printed by ``jsondata.echo_json``.
"""

from __future__ import annotations

import click
from rich.table import Table

from orchestrator.cli.output.performance import wide_console
from orchestrator.deploy.gate import GateCheck, GateResult

__all__ = ["gate_markdown", "print_gate"]


# Checks whose measured value and budget are counts (requests, versions): printed whole.
_COUNTS = {"golden smoke", "measured requests", "failed requests", "failure counter"}


def _value(number: float | None, check: GateCheck | None = None) -> str:
    if number is None:
        return "-"
    if check is not None and check.name in _COUNTS and float(number).is_integer():
        return f"{int(number)}"
    return f"{number:.2f}"


def _where(check: GateCheck) -> str:
    parts = [check.model or "release"]
    if check.version:
        parts.append(f"v{check.version}")
    if check.concurrency is not None:
        parts.append(f"c{check.concurrency}")
    return " ".join(parts)


def print_gate(result: GateResult) -> None:
    """The release, what it replaced, the smoke, a table of checks (PASS/FAIL), the verdict."""
    smoke = result.body.get("smoke") or {}
    click.echo(f"environment  {result.environment}")
    click.echo(f"release      {result.release_id}")
    click.echo(f"replaces     {result.replaced_release_id or 'none'}")
    click.echo(f"smoke        {_smoke_line(smoke)}")
    console = wide_console()
    table = Table("check", "where", "measured", "budget", "result", "detail")
    for check in result.checks:
        table.add_row(
            check.name,
            _where(check),
            _value(check.measured, check),
            _value(check.budget, check),
            "PASS" if check.passed else "[bold red]FAIL[/]",
            check.detail,
        )
    console.print(table)
    for note in result.body.get("notes") or []:
        click.echo(f"Note: {note}", err=True)
    verdict = "PASSED" if result.passed else "FAILED"
    click.echo(f"gate         {verdict} (record {result.key})")


def _smoke_line(smoke: dict[str, object]) -> str:
    if not smoke:
        return "not run"
    checked = smoke.get("checked") or []
    failures = smoke.get("failures") or []
    if smoke.get("ok"):
        return f"ok ({', '.join(map(str, checked))})" if isinstance(checked, list) else "ok"
    shown = "; ".join(map(str, failures[:3])) if isinstance(failures, list) else ""
    return f"FAILED: {shown}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def gate_markdown(result: GateResult) -> str:
    """A GitHub job-summary section (``>> "$GITHUB_STEP_SUMMARY"``): ids, smoke, checks.

    Example:
        >>> print(gate_markdown(result))  # doctest: +SKIP
        ### Gate: staging PASSED
        ...
    """
    verdict = "PASSED" if result.passed else "FAILED"
    smoke = result.body.get("smoke") or {}
    lines = [
        f"### Gate: {result.environment} {verdict}",
        "",
        f"- release: `{result.release_id}`",
        f"- replaces: `{result.replaced_release_id}`"
        if result.replaced_release_id
        else "- replaces: none (first release here)",
        f"- golden smoke: {_cell(_smoke_line(smoke))}",
        f"- record: `{result.key}`",
    ]
    lines += [f"- note: {_cell(str(note))}" for note in result.body.get("notes") or []]
    lines += [
        "",
        "| check | where | measured | budget | result | detail |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for check in result.checks:
        mark = "PASS" if check.passed else "**FAIL**"
        lines.append(
            f"| {check.name} | {_where(check)} | {_value(check.measured, check)} | "
            f"{_value(check.budget, check)} | {mark} | {_cell(check.detail)} |"
        )
    return "\n".join(lines) + "\n"
