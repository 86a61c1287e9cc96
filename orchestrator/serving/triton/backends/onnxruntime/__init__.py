"""The CPU stand-in for Triton's onnxruntime backend (``model.py``, run by Triton itself)."""

__all__: list[str] = []
