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
from .calibration import Int8Plan

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
                  activations: QuantType = QuantType.QUInt8, plan: Int8Plan | None = None,
                  reduce_range: bool = True) -> None:
    """calibration: float32 N x 3 x R x R, normalized like the model's input.
    activations: QUInt8 (the default) or QInt8, which benchmarks/export_targets.py
    times against it (S8S8). plan: corrected biases and activation ranges from
    export.calibration, replacing the folded biases and ONNX Runtime's own MinMax ranges.
    reduce_range: 7-bit weights (see below); False: 8-bit ones, more accurate where ONNX
    Runtime has int8 dot products (Arm, x86 with VNNI): benchmarks/results/int8_methods.md."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)  # folds, infers shapes
        options, excluded = {}, []
        if plan is not None:
            graph = onnx.load(str(prepared))
            options["TensorQuantOverrides"], excluded = apply_plan(graph, plan)
            onnx.save(graph, str(prepared))
        quantize_static(str(prepared), str(int8_path), Calibration(calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        # 7-bit weights: ONNX Runtime's uint8 x int8 kernels on x86 without VNNI
                        # (AVX2) sum pairs of products in int16, which saturates with 8-bit weights.
                        # On such a CPU the test fixture's agreement with PyTorch went from 64% to
                        # 97% (3.0 to 23.6 dB); the file runs on any CPU, so it is the default.
                        reduce_range=reduce_range,
                        activation_type=activations, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded,
                        extra_options=options)
    onnx.checker.check_model(str(int8_path))


class OnnxBackend(Backend):
    name = suffix = "onnx"

    def build(self, job: Job) -> None:
        export_onnx(job.model, job.info.resolution, job.out / "model.onnx")
        job.log("model.onnx: torch.onnx (dynamo) export, onnx.checker")
        if job.int8:
            quantize_onnx(job.out / "model.onnx", job.out / "model.int8.onnx", job.normalized_calibration(),
                          plan=job.plan, reduce_range=job.onnx_reduce_range)
            bits = 7 if job.onnx_reduce_range else 8
            job.log(f"model.int8.onnx: ONNX Runtime static QDQ quantization, {bits}-bit weights")

    def input_contract(self, precision: str) -> dict:
        return {"layout": "NCHW", "normalized": True}


def apply_plan(model: onnx.ModelProto, plan: Int8Plan) -> tuple[dict, list[str]]:
    """Write the plan's biases into a BatchNorm-folded graph (in place) and return its ranges
    as ONNX Runtime TensorQuantOverrides, and the names of the nodes the plan leaves in float.
    Names map onto nodes in graph order: convN is the Nth Conv (its output and the Clip/Relu
    after it, which the quantizer fuses), addB the residual Adds, pool the ReduceMean (and
    the Reshape after it), logits the output of the Gemm (the classifier layer)."""
    initializers = {t.name: t for t in model.graph.initializer}
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    adds = sorted((n for n in plan.ranges if n.startswith("add")), key=lambda n: int(n[3:]))
    overrides, excluded, convs, add_count = {}, [], 0, 0

    def override(tensor: str, point: str):
        low, high = plan.ranges[point]
        overrides[tensor] = [{"rmin": np.float32(low), "rmax": np.float32(high)}]
        for after in consumers.get(tensor, []):
            if after.op_type in ("Clip", "Relu", "Reshape"):
                overrides[after.output[0]] = overrides[tensor]

    def set_bias(node, layer: str):
        bias = initializers[node.input[2]]
        bias.CopyFrom(onnx.numpy_helper.from_array(plan.weights[f"{layer}.bias"].astype(np.float32), bias.name))
        if layer in plan.float_layers:
            node.name = node.name or f"edgemb_{layer}"
            excluded.append(node.name)

    for node in model.graph.node:
        if node.op_type == "Conv":
            set_bias(node, f"conv{convs}")
            override(node.output[0], f"conv{convs}")
            convs += 1
        elif node.op_type == "Add":
            override(node.output[0], adds[add_count])
            add_count += 1
        elif node.op_type == "ReduceMean":
            override(node.output[0], "pool")
        elif node.op_type == "Gemm":
            set_bias(node, "classifier")
            override(node.output[0], "logits")
    if convs != sum(n.startswith("conv") for n in plan.ranges) or add_count != len(adds):
        raise RuntimeError(f"the ONNX graph has {convs} Convs and {add_count} Adds; the plan names others")
    return overrides, excluded
