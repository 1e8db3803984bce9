"""The interface every runtime implements (LiteRT, ONNX Runtime, PyTorch, ExecuTorch).

A runner is one model file opened for inference on this machine. It knows the
model's input contract (layout, dtype, normalization, quantization) and turns
preprocessed uint8 pixels into it, so callers never special-case a format.

Subclasses set
    format       "tflite", "onnx", "executorch" or "pytorch"
    precision    "fp32" or "int8"
    input_shape  the input tensor's shape, batch 1 first
    input_dtype
and implement
    prepare(pixels)        uint8 N x R x R x 3 (from data.preprocess) -> the input tensor, batch N
    invoke(tensor)         input tensor, batch 1 -> float32 probabilities [1, classes]
and may override
    invoke_batch(tensor)   batch N -> [N, classes]; the default invokes one image at a time
    graph_cost()           MACs and parameters read from the model's own graph (graph_cost.GraphCost);
                           the default, None, says this format's graph cannot be read

`info` is the edgemb.json beside the model (class names, preprocessing, arch), or
None for a model edgemb did not make: then prepare() raises EdgembError unless the
model itself declares its input (see LiteRTRunner), and `bench_input` feeds the
benchmark real images without claiming to know the model's normalization.
"""
from pathlib import Path

import numpy as np

from ..errors import EdgembError
from ..run import RUN_FILE, RunInfo, read_run_info


def find_run_info(model_path: Path) -> RunInfo:
    """The edgemb.json that describes a model: beside the file, or in the run directory itself."""
    info = optional_run_info(model_path)
    if info is None:
        raise EdgembError(f"no {RUN_FILE} next to {model_path}: edgemb needs the run or export bundle "
                          "folder the model came from (its class names and preprocessing)")
    return info


def optional_run_info(model_path: Path) -> RunInfo | None:
    folder = model_path if model_path.is_dir() else model_path.parent
    return read_run_info(folder) if (folder / RUN_FILE).is_file() else None


class Runner:
    format: str
    precision: str
    input_shape: tuple[int, ...]
    input_dtype: np.dtype

    def __init__(self, path: Path, threads: int):
        self.path = Path(path)
        self.threads = threads
        self.info = optional_run_info(self.path)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    @property
    def resolution(self) -> int:
        """The input's height (= width), from the tensor shape (NCHW or NHWC)."""
        shape = self.input_shape
        return int(shape[2] if shape[1] == 3 and shape[-1] != 3 else shape[1])

    def require_info(self, what: str) -> RunInfo:
        if self.info is None:
            raise EdgembError(f"{self.path} has no {RUN_FILE} beside it, so its {what} cannot be known: "
                              "use the export bundle or run folder it came from")
        return self.info

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def invoke_batch(self, tensor: np.ndarray) -> np.ndarray:
        return np.concatenate([self.invoke(tensor[i:i + 1]) for i in range(len(tensor))])

    def graph_cost(self):
        return None

    def bench_input(self, pixels: np.ndarray) -> tuple[np.ndarray, str]:
        """(input tensor, how it was made) for benchmarking: prepare() where the input
        contract is known, else the pixels mapped onto the input type's range (latency,
        memory and parity do not depend on the normalization; accuracy is not reported)."""
        try:
            return self.prepare(pixels), "the model's own input contract"
        except EdgembError:
            if self.info is not None:
                raise
        x = pixels if self.input_shape[-1] == 3 else pixels.transpose(0, 3, 1, 2)
        if self.input_dtype == np.uint8:
            tensor = x
        elif self.input_dtype == np.int8:
            tensor = (x.astype(np.int16) - 128).astype(np.int8)
        else:
            tensor = x.astype(self.input_dtype) / 127.5 - 1
        return (np.ascontiguousarray(tensor),
                "normalization unknown: raw pixels mapped onto the input type's range (not for accuracy)")

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 N x R x R x 3 -> float32 N x classes probabilities."""
        expected = (self.resolution, self.resolution, 3)
        if pixels.ndim != 4 or pixels.shape[1:] != expected or pixels.dtype != np.uint8:
            raise EdgembError(f"{self.path.name} takes uint8 N x {expected}, got {pixels.dtype} {pixels.shape}")
        return self.invoke_batch(self.prepare(pixels))
