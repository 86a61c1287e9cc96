"""Releases: immutable, content-addressed snapshots of a repository in object storage.

- ``manifest``: release manifests and ids.
- ``sync``: plan, copy, verify, manifest last.
- ``catalog``: the stored releases; ``diff``: what changed between two.
- ``environments``: environment pointers.
- ``version_registry``: the store's record of which files a (model, version) names.
- ``gate_records``: the gate results kept with the releases.
- ``stores/``: the stores themselves (file, S3, GCS).

May import: ``repository``, ``core``, ``client``, ``errors``.
"""

__all__: list[str] = []
