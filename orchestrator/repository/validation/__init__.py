"""Validation: find offline everything Triton would refuse to load.

- ``validate``: walks the repository.
- ``config_checks``: Triton core's per-config rules; ``core_rules``: more of them
  (scheduling, instance groups, tensor flags, batch I/O).
- ``version_names``: which folders are versions (core's ``std::stoll`` parse);
  ``versions``: the files of each version.
- ``python_checks``: the python backend's load checks.
- ``graph_checks``: the config-versus-graph checks (``orchestrator.core.load_rules``,
  with the backend's auto-complete for ``--auto-complete``).
- ``referenced_files``: the files a config names (labels, warmup data,
  ``cc_model_filenames``).
- ``warmup_checks``: each warmup entry as a request.
- ``ensembles``: the ensemble steps.
"""

__all__: list[str] = []
