"""Deploy: a verified release onto a Kubernetes cluster, and back.

Owns the one kubectl runner (``kubectl``: the protocol every step calls, and the real
subprocess implementation, the project's only ``kubectl`` caller), rendering an overlay
for a release (``render``), the release files the golden smoke needs (``release_files``),
what the cluster has (``cluster``: the Deployment, its pods, the rollout wait), the
rollout with its undo (``rollout``: deploy and rollback), ``status`` with drift, and
``promote`` (deploy what one environment runs to another, behind a passing gate record).

May import: ``serving``, ``releases``, ``repository``, ``core``, ``client``, ``errors``.
Imported only by ``cli`` and ``demo``.
"""

__all__: list[str] = []
