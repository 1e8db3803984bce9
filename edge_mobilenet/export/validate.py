"""Checks and metrics of exported artifacts against the PyTorch model they came from."""
from collections import Counter
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from ..metrics import sqnr_db, top_k_accuracy

# Probabilities from an fp32 artifact may differ from PyTorch by float rounding only.
FP32_TOLERANCE = 1e-4


def compare(outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray | None) -> dict:
    """Metrics of one artifact's probabilities against PyTorch fp32's on the same images."""
    metrics = {
        "top1_agreement": float((outputs.argmax(1) == reference.argmax(1)).mean()),
        "sqnr_db": round(sqnr_db(reference, outputs), 2),
        "max_abs_diff": float(np.abs(outputs - reference).max()),
    }
    if labels is not None:
        metrics["top1"] = top_k_accuracy(outputs, labels, 1)
        metrics["top5"] = top_k_accuracy(outputs, labels, min(5, outputs.shape[1]))
    return metrics


def tflite_ops(path: Path) -> tuple[Counter, list[str]]:
    """The op census of a .tflite and the problems an all-int8, NHWC model must not have."""
    interpreter = Interpreter(model_path=str(path))  # not allocated: ops as written, before delegation
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    graph_inputs = {t["index"] for t in interpreter.get_input_details()}
    graph_outputs = {t["index"] for t in interpreter.get_output_details()}
    census = Counter(op["op_name"] for op in ops)
    problems = []
    if census["TRANSPOSE"]:
        problems.append(f"{census['TRANSPOSE']} TRANSPOSE ops")
    quantized = tensors[next(iter(graph_inputs))]["dtype"] != np.float32
    for op in ops:
        if not quantized:
            break
        ins, outs = set(op["inputs"]) - {-1}, set(op["outputs"])
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            if not (ins & graph_inputs or outs & graph_outputs):
                problems.append(f"{op['op_name']} inside the graph (op {op['index']})")
        elif any(tensors[i]["dtype"] == np.float32 for i in ins | outs):
            problems.append(f"{op['op_name']} runs in float (op {op['index']})")
    return census, problems
