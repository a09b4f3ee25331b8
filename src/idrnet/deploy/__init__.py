"""Deployment: ONNX export, ONNX Runtime inference and speed/memory benchmarks."""
