"""Repository: the model repository on disk, offline.

Owns the layout (``layout``: paths, versions, manifests, the staging prefix), export
bundles (``bundle``), config generation from a graph (``generate``), atomic, idempotent
publishing (``publish``: its file-system steps in ``scratch``, the content check in
``identical``) serialized per model (``model_lock``), publishing a folder of bundles
(``exports``), listing (``listing``), the runtime compatibility table
(``compatibility``) and the validator (``validation/``).

May import: ``core``, ``client``, ``errors``. No server is started here.
"""

__all__: list[str] = []
