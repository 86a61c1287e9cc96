"""Performance: load generation, measurement and config tuning against a real Triton.

- Inputs: ``inputs`` (golden rows or random ones).
- Load: ``loadgen`` for ``bench``, over the bare HTTP/1.1 of ``http_wire``; ``traffic``
  for background load during swaps and the demo.
- Measurement: ``bench`` with its ``options`` and ``report``; ``perf_analyzer`` when it
  is installed; ``plot``.
- Tuning: config ``candidates``, ``trials`` and ``tune``.

May import: ``serving``, ``releases``, ``repository``, ``core``, ``client``, ``errors``.
Imported by ``deploy`` (the gate's load), ``demo`` and ``cli``.
"""

__all__: list[str] = []
