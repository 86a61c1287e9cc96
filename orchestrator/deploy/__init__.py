"""Deploy: a verified release onto a Kubernetes cluster, and back.

Its modules, one noun each:

- ``kubectl``: the runner protocol every step calls, and the real subprocess
  implementation (the project's only ``kubectl`` caller);
- ``render``: an environment's overlay rendered for a release; ``unit``: the deployed
  unit (release plus applied manifests) and its copy in the store;
- ``release_files``: the release files the golden smoke needs;
- ``cluster``: what the cluster has (the Deployment, its pods); ``watch``: the rollout
  wait and the new pods; ``undo``, ``interrupts``, ``lock``: the guards of a rollout;
- ``rollout``: deploy and rollback, undone on any failure; ``status``: what runs, drift;
- the gate: ``gate`` (golden smoke, a short load, Triton's counters), ``gate_config``
  (``deployment/gates.yaml``), ``gate_checks`` (measurements into checks),
  ``gate_load`` (one model's load, a failed throughput measured again),
  ``gate_baseline`` and ``gate_identity`` (what the replaced deployment measured, and
  whether a model changed since);
- ``promote``: deploy what one environment runs to another, behind a passing gate
  record, then gate the target and roll it back if that fails;
- ``hints``: commands printed as hints, runnable as printed; ``yaml_text``: the project's
  one YAML reader (manifests, the gates file).

May import: ``performance`` (the gate's load), ``serving``, ``releases``, ``repository``,
``core``, ``client``, ``errors``. Imported only by ``cli``.
"""

__all__: list[str] = []
