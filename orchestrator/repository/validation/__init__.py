"""Validation: find offline everything Triton would refuse to load.

``validate`` walks the repository; ``config_checks`` holds Triton core's per-config rules
and the config-versus-graph checks; ``ensembles`` checks ensemble steps.
"""

__all__: list[str] = []
