"""The standard-conv twin for `edgemb bench --compare-conv`.

The twin is the arch's `conv_` description with the same alpha, resolution and
classes and random weights (latency does not depend on them), exported by the
export module's own converters into the same format, precision and input
contract as the model it is set against, so the same runner and target time both.
"""
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..data.preprocess import normalize
from ..errors import EdgembError
from ..export.onnx import export_onnx, quantize_onnx
from ..export.tflite import convert_tflite
from ..io import write_json_atomic
from ..run import RUN_FILE, WEIGHTS_FILE, RunInfo


def twin_info(info: RunInfo) -> RunInfo:
    if info.arch.startswith("conv_"):
        raise EdgembError(f"{info.arch} has no depthwise separable convs to compare with: "
                          "benchmark a mobilenet_v1/v2 model instead")
    return replace(info, arch="conv_" + info.arch, extra={})


def export_random(info: RunInfo, fmt: str, precision: str, pixels: np.ndarray, folder: Path) -> Path:
    """A randomly initialised model of `info`'s arch as `fmt` ("pytorch", "onnx" or
    "tflite") and `precision`, written into `folder` beside its edgemb.json (int8
    leaves the fp32 model there too); int8 calibrates on `pixels` (uint8 N x R x R x 3).
    Returns the path to benchmark."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RUN_FILE, info.to_json())
    model, r, pre = info.build_model().eval(), info.resolution, info.preprocessing
    if fmt == "pytorch":
        torch.save(model.state_dict(), folder / WEIGHTS_FILE)
        return folder
    if fmt == "onnx":
        export_onnx(model, r, folder / "model.onnx")
        if precision == "fp32":
            return folder / "model.onnx"
        calibration = normalize(pixels, pre).transpose(0, 3, 1, 2).copy()
        quantize_onnx(folder / "model.onnx", folder / "model.int8.onnx", calibration)
        return folder / "model.int8.onnx"
    work = folder / "tflite-work"
    work.mkdir()
    converted = convert_tflite(model, r, pre.mean, pre.std, pixels if precision == "int8" else None, work)
    for path in converted.values():  # int8 conversion writes the fp32 model too: keep both
        path.replace(folder / path.name)
    shutil.rmtree(work)
    return folder / converted[precision].name
