"""Deploy: a verified release onto a Kubernetes cluster, and back.

Owns the one kubectl runner (``kubectl``: the protocol every step calls, and the real
subprocess implementation, the project's only ``kubectl`` caller), rendering an overlay
for a release (``render``), the release files the golden smoke needs (``release_files``),
what the cluster has (``cluster``: the Deployment, its pods, the rollout wait), the
rollout with its undo (``rollout``: deploy and rollback), ``status`` with drift, the
``gate`` (golden smoke, a short load, Triton's counters; ``gate_config`` reads
``deployment/gates.yaml``, ``gate_checks`` turns measurements into checks, ``gate_load``
measures one model and confirms a failed throughput) and
``promote`` (deploy what one environment runs to another, behind a passing gate record,
then gate the target and roll it back if that fails); ``hints`` prints commands that run
as printed.

May import: ``performance`` (the gate's load), ``serving``, ``releases``, ``repository``,
``core``, ``client``, ``errors``. Imported only by ``cli``.
"""

__all__: list[str] = []
