"""One small "load + run" interface over LiteRT, ONNX Runtime and PyTorch.

    runner = load_runner("export/run/model.int8.tflite")
    probabilities = runner.predict(pixels)   # uint8 N x R x R x 3, from data.preprocess()

Every runner knows its model's input contract (layout, dtype, normalization,
quantization) and turns preprocessed uint8 pixels into it, so callers never
special-case a format. `prepare` + `invoke` split the work for timing.
"""
from pathlib import Path

from ..errors import EdgembError
from .base import Runner, find_run_info


def load_runner(path: Path, threads: int = 1) -> Runner:
    path = Path(path)
    if not path.exists():
        raise EdgembError(f"{path} does not exist")
    if path.suffix == ".tflite":
        from .litert import LiteRTRunner
        return LiteRTRunner(path, threads)
    if path.suffix == ".onnx":
        from .onnxrt import OnnxRunner
        return OnnxRunner(path, threads)
    if path.is_dir() or path.suffix == ".pt":
        from .pytorch import TorchRunner
        return TorchRunner(path, threads)
    raise EdgembError(f"{path}: not a model edgemb can run (expected .tflite, .onnx, .pt or a run directory)")


__all__ = ["Runner", "find_run_info", "load_runner"]
