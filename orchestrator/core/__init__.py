"""Core: the pure, offline vocabulary every stage shares.

- ``model_config``: Triton's model config (the only importer of ``model_config_pb2`` and
  ``google.protobuf``).
- ``onnx_signature``: ONNX signatures (the only importer of ``onnx``).
- ``tensors``: tensor data types.
- ``load_rules``: the onnxruntime backend's load checks, with the backend's auto-complete
  (standard library only, also copied beside the stand-in backend).
- ``backend_fields``: Triton core's backend autofill.
- ``findings``: validation findings.
- ``golden`` and ``npz``: the ``golden.npz`` contract and its reader.
- ``digest`` and ``digest_cache``: file digests, and the local cache of digests of
  unchanged files (with what was derived from their content: ONNX signatures, golden
  verdicts); ``cache_files``: where the user's cache files live, read and written.
- ``untrusted``: the one rule for reading untrusted trees.
- ``names``: the model name rule.
- ``lifecycle``: the ``with`` block over things that are started and stopped.
- ``jsonform``: plain JSON-ready data for a result type's own ``as_dict()``.

May import: ``orchestrator.errors`` only. No server, no network, no ONNX Runtime.
"""

__all__: list[str] = []
