"""Golden data checks: the smoke tolerances in a config, and every served version's golden.npz.

The startup probe in every pod refuses a tolerance that is not a number from 0 to its
maximum and golden data over its limits (``core.golden``, ``core.npz``); ``validate``
says so before a release is built, instead of a pod that never becomes Ready.
"""

from __future__ import annotations

from orchestrator.core import untrusted
from orchestrator.core.digest_cache import DigestCache
from orchestrator.core.findings import Finding, line_of, new_finding
from orchestrator.core.golden import (
    ATOL_PARAMETER,
    GOLDEN_FILENAME,
    RTOL_PARAMETER,
    check_golden,
    tolerance_for,
)
from orchestrator.errors import ConfigError, SmokeTestError, UnsafeFileError
from orchestrator.repository.layout import served_versions
from orchestrator.repository.validation.config_checks import LoadedModel
from orchestrator.repository.validation.versions import version_folders

__all__ = ["golden_findings"]


def golden_findings(model: LoadedModel, digests: DigestCache | None = None) -> list[Finding]:
    """A bad ``smoke_rtol`` / ``smoke_atol``, and golden files the probe would refuse.

    ``digests``: the repository's digest cache (an unchanged file that passed before is
    not read again); None reads every golden file.

    Example:
        >>> [f.code for f in golden_findings(model)]  # doctest: +SKIP
        ['golden-tolerance']
    """
    found = []
    try:
        tolerance_for(model.config)
    except ConfigError as exc:
        found.append(
            new_finding(
                "golden-tolerance",
                "error",
                model.config_path,
                str(exc),
                f'Set {RTOL_PARAMETER} / {ATOL_PARAMETER} to a number such as "1e-3", or '
                "remove them for the default (rtol 1e-3, atol 1e-5).",
                line_of(model.text, RTOL_PARAMETER) or line_of(model.text, ATOL_PARAMETER),
            )
        )
    for version in served_versions(model.config, version_folders(model.folder)[0]):
        folder = model.folder / str(version)
        try:
            if untrusted.kind_of(folder, GOLDEN_FILENAME) is None:
                continue
            check_golden(folder / GOLDEN_FILENAME, within=model.folder, digests=digests)
        except (SmokeTestError, ConfigError, UnsafeFileError) as exc:
            found.append(
                new_finding(
                    "golden-unreadable",
                    "error",
                    folder / GOLDEN_FILENAME,
                    f"golden data the smoke test and every pod's startup probe would refuse: {exc}",
                    "Republish the version from an export bundle with a few plain samples "
                    "(`python -m training` writes one).",
                )
            )
    return found
