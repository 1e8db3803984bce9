"""Export a run to ONNX and TFLite (fp32 and full-int8), validated against PyTorch.

The entry point is bundle.export_bundle. This package file imports nothing, so the
TensorFlow worker process (tflite_worker.py) does not load ONNX Runtime with it."""
