"""The interface every export backend (ONNX, TFLite, ExecuTorch) implements.

A backend is one module with one `Backend` subclass: the files it writes, how
it builds them (fp32 always, int8 when calibration images are given) and the
input contract of each file. `bundle.py` runs every selected backend the same
way, validates what they wrote through the runtimes, and records the contracts
in edgemb.json, so a new format is one new module plus one line in BACKENDS.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..models import MobileNet
from ..run import RunInfo
from .calibration import Int8Plan


class Classifier(torch.nn.Module):
    """The network plus softmax: every exported artifact outputs probabilities."""

    def __init__(self, model: MobileNet):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).softmax(dim=1)


@dataclass
class Job:
    """What a backend builds from: the trained model and, for int8, calibration pixels."""
    model: MobileNet
    info: RunInfo
    calibration: np.ndarray | None  # uint8 N x R x R x 3 preprocessed pixels; None: fp32 only
    out: Path                       # the bundle folder being written (temporary until the end)
    work: Path                      # scratch space, removed after the export
    log: Callable[[str], None] = print
    plan: Int8Plan | None = None    # int8 biases and activation ranges (export/calibration.py)
    onnx_reduce_range: bool = True  # 7-bit int8 .onnx weights (export/onnx.py says why)

    @property
    def int8(self) -> bool:
        return self.calibration is not None

    def normalized_calibration(self) -> np.ndarray:
        """The calibration pixels as float32 N x 3 x R x R, normalized like the PyTorch model's input."""
        from ..data.preprocess import normalize_nchw
        return normalize_nchw(self.calibration, self.info.preprocessing)


class Backend:
    name: str     # the --formats name
    suffix: str   # files are model.<suffix> and model.int8.<suffix>

    def files(self, int8: bool) -> list[str]:
        return [f"model.{self.suffix}"] + ([f"model.int8.{self.suffix}"] if int8 else [])

    def build(self, job: Job) -> None:
        """Write self.files(job.int8) into job.out, logging one line per step through job.log."""
        raise NotImplementedError

    def input_contract(self, precision: str) -> dict:
        """What a file of this precision takes: {"layout": "NCHW"|"NHWC", "normalized": bool}.
        The shape and dtype are read back from the file itself by the runtime."""
        raise NotImplementedError

    def inspect(self, path: Path, float_layers: list[str]) -> dict:
        """Extra facts about a written file for the report (e.g. its op census); raise
        EdgembError if the file breaks the backend's contract. float_layers: the layers
        the int8 plan leaves in float on request (mixed precision)."""
        return {}
