"""Training: PyTorch models on data that ships with scikit-learn, exported as ONNX."""
