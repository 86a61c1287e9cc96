"""Validation: find offline everything Triton would refuse to load.

``validate`` walks the repository; ``config_checks`` holds Triton core's per-config rules,
``versions`` the version folders and the files of each version, ``graph_checks`` the
config-versus-graph checks (``orchestrator.core.load_rules``), ``ensembles`` the ensemble
steps.
"""

__all__: list[str] = []
