from pathlib import Path

import numpy as np

from ..errors import EdgembError
from ..run import RUN_FILE, RunInfo, read_run_info


def find_run_info(model_path: Path) -> RunInfo:
    """The edgemb.json that describes a model: beside the file, or in the run directory itself."""
    folder = model_path if model_path.is_dir() else model_path.parent
    if not (folder / RUN_FILE).is_file():
        raise EdgembError(f"no {RUN_FILE} next to {model_path}: edgemb needs the run or export bundle "
                          "folder the model came from (its class names and preprocessing)")
    return read_run_info(folder)


class Runner:
    """Subclasses set format, precision, input_shape, input_dtype and implement prepare/invoke."""
    format: str
    precision: str
    input_shape: tuple[int, ...]
    input_dtype: np.dtype

    def __init__(self, path: Path, threads: int):
        self.path = Path(path)
        self.threads = threads
        self.info = find_run_info(self.path)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        """One preprocessed uint8 R x R x 3 image -> the model's input tensor (batch of 1)."""
        raise NotImplementedError

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """The model's input tensor -> its output as float32 probabilities [1, classes]."""
        raise NotImplementedError

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 N x R x R x 3 -> float32 N x classes probabilities."""
        expected = (self.info.resolution, self.info.resolution, 3)
        if pixels.ndim != 4 or pixels.shape[1:] != expected or pixels.dtype != np.uint8:
            raise EdgembError(f"{self.path.name} takes uint8 N x {expected}, got {pixels.dtype} {pixels.shape}")
        return np.concatenate([self.invoke(self.prepare(p)) for p in pixels])
