"""One small "load + run" interface over LiteRT, ONNX Runtime and PyTorch (base.py).

    runner = load_runner("export/run/model.int8.tflite")
    probabilities = runner.predict(pixels)   # uint8 N x R x R x 3, from data.preprocess()

Every runner knows its model's input contract (layout, dtype, normalization,
quantization) and turns preprocessed uint8 pixels into it, so callers never
special-case a format. `prepare` + `invoke` split the work for timing. Each
runtime is imported only when a model of its format is opened.
"""
import importlib
from pathlib import Path

from ..errors import EdgembError
from .base import Runner, find_run_info

# suffix -> (module, class); the order is also the order a bundle folder's models are listed in.
# A run directory (a folder with model.pt) opens like ".pt".
RUNNERS = {".pt": ("pytorch", "TorchRunner"), ".onnx": ("onnxrt", "OnnxRunner"),
           ".tflite": ("litert", "LiteRTRunner"), ".pte": ("executorch", "ExecuTorchRunner")}
MODEL_SUFFIXES = tuple(RUNNERS)


def load_runner(path: Path, threads: int = 1) -> Runner:
    path = Path(path)
    if not path.exists():
        raise EdgembError(f"{path} does not exist")
    suffix = ".pt" if path.is_dir() else path.suffix
    if suffix not in RUNNERS:
        raise EdgembError(f"{path}: not a model edgemb can run (expected "
                          f"{', '.join(MODEL_SUFFIXES)} or a run directory)")
    module, name = RUNNERS[suffix]
    return getattr(importlib.import_module(f".{module}", __name__), name)(path, threads)


__all__ = ["MODEL_SUFFIXES", "Runner", "find_run_info", "load_runner"]
