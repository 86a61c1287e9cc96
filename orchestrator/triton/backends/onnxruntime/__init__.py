"""The stand-in onnxruntime backend; only model.py is copied into the backend directory."""
