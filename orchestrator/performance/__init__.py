"""Performance: load generation, measurement and config tuning against a real Triton.

Owns benchmark inputs (``inputs``), the load generators (``loadgen`` for ``bench``, over
the bare HTTP/1.1 of ``http_wire``; ``traffic`` for background load during swaps and the
demo), ``perf_analyzer`` when it is installed, ``bench`` with its ``options`` and
``report``, config ``candidates`` and ``tune``, and ``plot``.

May import: ``serving``, ``releases``, ``repository``, ``core``, ``client``, ``errors``.
Imported by ``deploy`` (the gate's load), ``demo`` and ``cli``.
"""

__all__: list[str] = []
