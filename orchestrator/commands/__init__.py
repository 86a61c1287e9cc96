"""The ``orchestrator`` commands, one module per noun; ``orchestrator.cli`` registers them.

* serving      serve, smoke, infer, swap, demo
* repository   publish, list, validate
* releases     release, sync, and the ``releases`` group (list, verify, gc)
* performance  bench, tune
* common       what several of them share: the error-translating group, ``--format`` choices
"""
