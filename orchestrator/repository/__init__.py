"""Repository: the model repository on disk, offline.

- ``layout``: paths, versions, manifests, the staging prefix.
- ``bundle``: export bundles; ``generate``: config generation from a graph.
- ``publish``: atomic, idempotent publishing, with its file-system steps in ``scratch``,
  the content check in ``identical``, serialized per model by ``model_lock``.
- ``exports``: publishing a folder of bundles.
- ``listing``: what the repository holds.
- ``compatibility``: the runtime compatibility table.
- ``validation/``: the validator.

May import: ``core``, ``client``, ``errors``. No server is started here.
"""

__all__: list[str] = []
