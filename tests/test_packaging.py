"""pyproject.toml as setuptools applies it on every install: no deprecation warning."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest
from setuptools import find_packages  # type: ignore[import-untyped]
from setuptools.config.pyprojecttoml import apply_configuration  # type: ignore[import-untyped]
from setuptools.dist import Distribution  # type: ignore[import-untyped]

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def test_setuptools_applies_the_project_table_without_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PYPROJECT.parent)  # readme = "README.md" is relative to it
    # A `license = {text = ...}` table warns on every install (and stops working in
    # setuptools releases from February 2027); an SPDX string does not.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = apply_configuration(Distribution(), PYPROJECT)
    assert dist.metadata.license_expression == "Apache-2.0"


def test_the_build_requires_a_setuptools_that_reads_an_spdx_license() -> None:
    requires = tomllib.loads(PYPROJECT.read_text())["build-system"]["requires"]
    assert requires == ["setuptools>=77"]


def test_the_wheel_ships_the_library_and_not_the_rehearsal_or_the_tests() -> None:
    # rehearsal/ (make pipeline's stand-ins), tests/ and benchmarks/ run from a checkout;
    # an installed orchestrator never imports them (tests/test_layout.py checks it).
    include = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"]["find"]
    shipped = set(find_packages(str(PYPROJECT.parent), include=include["include"]))
    assert {"orchestrator", "orchestrator.cli", "training"} <= shipped
    assert sorted(p for p in shipped if p.split(".")[0] not in {"orchestrator", "training"}) == []
