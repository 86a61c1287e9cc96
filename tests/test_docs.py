"""The documentation: a short README in a fixed order, one page per task in docs/, and
every command they show parsed against the real CLI (as sqlite-utils' tests/test_docs.py
does for its own docs).

Each check is a function returning one line per problem, so a test can show it failing
on a doctored page.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from orchestrator.deploy.gate_config import load_gate_config
from tests.support.cli_reference import commands, render
from tests.support.command_lines import parse_orchestrator, parse_training

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 200

README_SECTIONS = [
    "Start here",
    "Ship a new model in four commands",
    "What happens after a push",
    "Documentation",
    "Layout",
    "Development",
]

# The sections each page must keep (more may come; none of these may go).
PAGES: dict[str, list[str]] = {
    "repository.md": [
        "Commands",
        "Publish",
        "Immutable versions",
        "Untrusted input",
        "Validate",
        "Finding codes",
        "Large model files: Git LFS",
    ],
    "training.md": ["Train a model", "The bundle and the parity gate", "From Python", "On Kaggle"],
    "serving.md": [
        "Serve locally",
        "Run the production image on a workstation",
        "Smoke tests",
        "Tolerances",
        "Inference by hand",
        "Zero-downtime swaps",
        "The shipped repository and the demo",
    ],
    "releases.md": [
        "Releases",
        "Where Triton serves it from",
        "List, verify, garbage-collect",
        "Layout under STORE",
        "How `sync` works",
        "Environment pointers",
    ],
    "deploy.md": [
        "Environments",
        "What deploy does",
        "When a step fails",
        "Dry run",
        "Rollback",
        "Status",
        "Promote",
        "Gate a release",
        "The manifests and the serving image",
    ],
    "pipeline.md": [
        "Rehearse the pipeline here: `make pipeline`",
        "What runs where",
        "Settings, once per copy",
        "Rules the workflows keep",
        "What changed between releases",
    ],
    "performance.md": ["bench", "Progress", "tune"],
    "troubleshooting.md": [
        "Training refuses the output folder",
        "validate finds what Triton would refuse",
        "status without a cluster",
        "A gate failed",
    ],
    "cli.md": ["`orchestrator`", "`python -m training`"],
}

# What a documented command may leave for the reader to fill in.
PLACEHOLDERS = {
    # a model repository, a bare ONNX file: stand-ins the pages name
    "repo": "model_repository",
    "other_tool.onnx": "model_repository/cancer_mlp/1/model.onnx",
    "<id>": "0123456789abcdef0123456789abcdef",
    "ID": "0123456789abcdef0123456789abcdef",
    "STORE": "s3://bucket/prefix",
}
PROGRAMS = (
    "orchestrator ",
    ".venv/bin/orchestrator ",
    "python -m training",
    ".venv/bin/python -m training",
    "make ",
)
SHELL_STOPS = {"|", ">", ">>", "&&", "||", ";", "&", "2>&1"}


# -- reading pages ------------------------------------------------------------------------


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def headings(text: str, level: int | None = None) -> list[str]:
    """The Markdown headings outside code blocks (of ``level`` only, when given)."""
    found = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"(#{1,6}) (.+)", line)
        if not fenced and match and (level is None or len(match.group(1)) == level):
            found.append(match.group(2).strip())
    return found


def code_blocks(text: str) -> Iterator[tuple[str, str]]:
    """``(language, body)`` of every fenced code block."""
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        yield match.group(1), match.group(2)


def command_lines(text: str) -> Iterator[tuple[str, str]]:
    """``(command, output shown)`` of the shell blocks (``sh``, ``bash``, plain, ``console``).

    In a ``console`` block a command is a ``$ `` line and its output the lines up to the
    next one; other blocks show commands only.
    """
    for language, body in code_blocks(text):
        if language not in ("", "sh", "bash", "console"):
            continue
        body = body.replace("\\\n", " ")
        if language != "console":
            for line in body.splitlines():
                yield line.strip(), ""
            continue
        for chunk in re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            yield command.strip(), output


def _words(line: str) -> list[str]:
    words = []
    for word in shlex.split(line, comments=True):
        if word in SHELL_STOPS:
            break
        words.append(PLACEHOLDERS.get(word, word.removeprefix("[").removesuffix("]")))
    return words


def documented_commands(text: str) -> Iterator[tuple[str, list[str], str]]:
    """``(program, arguments, output shown)`` of each orchestrator, training or make command."""
    for line, output in command_lines(text):
        if not line.startswith(PROGRAMS):
            continue  # other tools' commands (git, kubectl, aws, gcloud, ...)
        words = _words(line)
        program = words[0].removeprefix(".venv/bin/")
        if program == "orchestrator":
            yield "orchestrator", words[1:], output
        elif program == "python" and words[1:3] == ["-m", "training"]:
            yield "training", words[3:], output
        elif program == "make":
            yield "make", words[1:], output


# -- the checks ---------------------------------------------------------------------------


def readme_problems(text: str) -> list[str]:
    """Length, the first screen and the order of the README's sections."""
    problems = []
    lines = text.splitlines()
    if len(lines) > MAX_README_LINES:
        problems.append(f"README has {len(lines)} lines, more than {MAX_README_LINES}")
    first = " ".join(lines[:6])
    for needed in ("Triton", "Python 3.11", "make"):
        if needed not in first:
            problems.append(f"README's first lines do not say {needed!r}")
    found = headings(text, level=2)
    if found != README_SECTIONS:
        problems.append(f"README sections are {found}, expected {README_SECTIONS}")
    return problems


def missing_sections(text: str, required: list[str]) -> list[str]:
    """The required section headings the page lacks."""
    found = set(headings(text))
    return [f"no section {title!r}" for title in required if title not in found]


def _slug(title: str) -> str:
    # GitHub's anchors: lower case, punctuation dropped, spaces become hyphens.
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def broken_links(page: Path) -> list[str]:
    """Relative links (and their #anchors) that lead nowhere."""
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path_text, _, anchor = target.partition("#")
        path = (page.parent / path_text).resolve() if path_text else page
        if not path.is_file():
            problems.append(f"{page.name}: link to missing {target}")
        elif anchor and anchor not in {_slug(t) for t in headings(path.read_text())}:
            problems.append(f"{page.name}: no section #{anchor} in {path.name}")
    return problems


def _makefile_targets() -> set[str]:
    return {
        line.split(":", 1)[0]
        for line in (ROOT / "Makefile").read_text().splitlines()
        if line and not line[0].isspace() and ":" in line and "=" not in line.split(":", 1)[0]
    }


def _leaf_name(ctx: click.Context) -> str:
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


# -- the tests ----------------------------------------------------------------------------


def test_the_readme_is_short_and_in_order() -> None:
    assert readme_problems(README.read_text()) == []


def test_the_readme_check_fails_on_a_removed_section() -> None:
    text = README.read_text().replace("\n## Layout\n", "\n")
    assert readme_problems(text) == [
        f"README sections are {[s for s in README_SECTIONS if s != 'Layout']}, "
        f"expected {README_SECTIONS}"
    ]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_keeps_its_sections(page: str) -> None:
    assert missing_sections((DOCS / page).read_text(), PAGES[page]) == []


def test_the_section_check_fails_on_a_removed_section() -> None:
    text = (DOCS / "repository.md").read_text().replace("\n## Validate\n", "\n")
    assert missing_sections(text, PAGES["repository.md"]) == ["no section 'Validate'"]


def test_every_page_is_in_the_readmes_table_of_contents() -> None:
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", README.read_text()))
    assert linked == {p.name for p in DOCS.glob("*.md")} == set(PAGES)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert broken_links(page) == []


DOCUMENTED = [
    (page.name, program, args, output)
    for page in _pages()
    if page.name != "cli.md"
    for program, args, output in documented_commands(page.read_text())
]


@pytest.mark.parametrize(
    ("page", "program", "args", "output"),
    DOCUMENTED,
    ids=[f"{p}-{prog}-{'-'.join(a[:2])}" for p, prog, a, _ in DOCUMENTED],
)
def test_every_documented_command_parses_against_the_cli(
    page: str, program: str, args: list[str], output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # paths such as model_repository are checked from the root
    if program == "make":
        assert args and args[0] in _makefile_targets(), f"no make target {args[:1]}"
        return
    try:
        parse = parse_orchestrator if program == "orchestrator" else parse_training
        assert parse(args).command.name
    except click.UsageError as exc:
        # A usage error shown on purpose (troubleshooting): the CLI must say what the page says.
        assert "Usage:" in output and exc.format_message() in output, exc.format_message()


def test_a_misspelt_documented_option_fails_the_parse() -> None:
    text = "```sh\norchestrator deploy s3://b/p --environment staging --release latest\n```\n"
    (program, args, _), *_ = documented_commands(text)
    with pytest.raises(click.NoSuchOption):
        parse_orchestrator(args)


def test_every_command_has_an_example_in_the_docs() -> None:
    shown = set()
    for _, program, args, output in DOCUMENTED:
        if program == "orchestrator" and "Usage:" not in output:
            shown.add(_leaf_name(parse_orchestrator(args)))
    leaves = {
        name.removeprefix("orchestrator ")
        for name, ctx in commands()
        if name.startswith("orchestrator ") and not isinstance(ctx.command, click.Group)
    }
    assert leaves - shown == set(), "commands without an example in README or docs/"


def test_the_cli_reference_is_the_clis_own_help() -> None:
    # A new command or option, or a changed help text, fails here until the reference is
    # regenerated: python -m tests.support.cli_reference > docs/cli.md
    assert (DOCS / "cli.md").read_text() == render()


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    sections = dict(re.findall(r"^## `([^`]+)`\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    missing = []
    for name, ctx in commands():
        if name not in sections:
            missing.append(name)
            continue
        for param in ctx.command.params:
            if isinstance(param, click.Option) and not param.hidden:
                if not any(opt in sections[name] for opt in param.opts):
                    missing.append(f"{name} {param.opts[0]}")
    assert missing == []


def test_every_gates_file_example_loads(tmp_path: Path) -> None:
    examples = [
        body
        for page in _pages()
        for language, body in code_blocks(page.read_text())
        if language == "yaml" and body.startswith("defaults:")
    ]
    assert examples, "no gates file example in the docs"
    for number, body in enumerate(examples):
        path = tmp_path / f"gates-{number}.yaml"
        path.write_text(body)
        config = load_gate_config(path)  # an unknown key or a bad value raises
        assert config.models and config.budget(next(iter(config.models))) != config.defaults
