"""ONNX export: torch's dynamo exporter (weights inside the file), then ONNX
Runtime static quantization to QDQ with per-channel int8 weights and uint8
activations (the fastest int8 combination on x86 VNNI: benchmarks/results/export_targets.md)."""
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quant_pre_process, quantize_static)

from ..models import MobileNet
from .backend import Backend, Classifier, Job

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


def export_onnx(model: MobileNet, resolution: int, path: Path) -> None:
    """fp32 ONNX, input float32 NCHW [1, 3, R, R] normalized, output [1, classes] probabilities."""
    example = torch.zeros(1, 3, resolution, resolution)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # it lists every torchvision op it skips; we have none
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(Classifier(model).eval(), (example,), dynamo=True,
                                        opset_version=OPSET, input_names=[INPUT_NAME],
                                        output_names=[OUTPUT_NAME], external_data=False, verbose=False)
    finally:
        exporter_log.setLevel(level)
    program.save(str(path), external_data=False)
    onnx.checker.check_model(str(path), full_check=True)


class Calibration(CalibrationDataReader):
    def __init__(self, inputs: np.ndarray):
        self.inputs = iter(inputs)

    def get_next(self):
        x = next(self.inputs, None)
        return None if x is None else {INPUT_NAME: x[None]}


def quantize_onnx(fp32_path: Path, int8_path: Path, calibration: np.ndarray,
                  activations: QuantType = QuantType.QUInt8) -> None:
    """calibration: float32 N x 3 x R x R, normalized like the model's input.
    activations: QUInt8 (the default) or QInt8, which benchmarks/export_targets.py
    times against it (S8S8)."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)  # folds, infers shapes
        quantize_static(str(prepared), str(int8_path), Calibration(calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=activations, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    onnx.checker.check_model(str(int8_path))


class OnnxBackend(Backend):
    name = suffix = "onnx"

    def build(self, job: Job) -> None:
        export_onnx(job.model, job.info.resolution, job.out / "model.onnx")
        job.log("model.onnx: torch.onnx (dynamo) export, onnx.checker")
        if job.int8:
            quantize_onnx(job.out / "model.onnx", job.out / "model.int8.onnx", job.normalized_calibration())
            job.log("model.int8.onnx: ONNX Runtime static QDQ quantization")

    def input_contract(self, precision: str) -> dict:
        return {"layout": "NCHW", "normalized": True}
