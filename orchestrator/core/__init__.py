"""Core: the pure, offline vocabulary every stage shares.

Owns Triton's model config (``model_config``, the only importer of ``model_config_pb2`` and
``google.protobuf``), ONNX signatures (``onnx_signature``, the only importer of ``onnx``),
tensor data types (``tensors``), the onnxruntime backend's load checks (``load_rules``,
standard library only, also copied beside the stand-in backend; with the backend's
auto-complete), Triton core's backend autofill (``backend_fields``), validation findings
(``findings``), the ``golden.npz`` contract (``golden``), file digests (``digest``), the
one rule for reading untrusted trees (``untrusted``), the model name rule (``names``) and
the local cache of digests of unchanged files (``digest_cache``).

May import: ``orchestrator.errors`` only. No server, no network, no ONNX Runtime.
"""

__all__: list[str] = []
