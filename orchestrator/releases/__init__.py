"""Releases: immutable, content-addressed snapshots of a repository in object storage.

Owns release manifests and ids (``manifest``), ``sync`` (plan, copy, verify, manifest
last), the catalog of stored releases (``catalog``), what changed between two (``diff``),
environment pointers (``environments``) and the stores themselves (``stores/``: file, S3,
GCS).

May import: ``repository``, ``core``, ``client``, ``errors``.
"""

__all__: list[str] = []
