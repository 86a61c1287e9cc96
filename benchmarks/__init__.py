"""Reproducible performance scripts; each records its machine, versions and command."""
