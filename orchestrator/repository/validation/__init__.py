"""Validation: find offline everything Triton would refuse to load.

``validate`` walks the repository; ``config_checks`` holds Triton core's per-config rules,
``versions`` the version folders and the files of each version, ``graph_checks`` the
config-versus-graph checks (``orchestrator.core.load_rules``, with the backend's
auto-complete for ``--auto-complete``), ``referenced_files`` the files a config names (labels,
warmup data, ``cc_model_filenames``), ``ensembles`` the ensemble steps.
"""

__all__: list[str] = []
