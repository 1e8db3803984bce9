"""Per-layer quantization report of an int8 .tflite or .onnx: the SQNR of every quantized
tensor (quantization.quantized_points) against the fp32 BatchNorm-folded network's same
tensor, on the same images.

Each side runs end to end, so a layer's SQNR is the error accumulated up to it, as a
debugger attached to the int8 model shows it; `drop_db` (the SQNR lost since the
previous point) is the layer's own share, and the worst layers are those with the
largest drop: where the error comes from when int8 goes wrong."""
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from ai_edge_litert.interpreter import Interpreter
from onnx import numpy_helper

from ..data.preprocess import Preprocessing, normalize_nchw
from ..metrics import sqnr_db
from ..models import MobileNet
from ..models.spec import ArchSpec
from ..quantization import folded_weights, forward, quantized_points, tensors
from ..runtime.onnxrt import session

LAYER_IMAGES = 32  # the figures settle within a few tenths of a dB; more images cost export time
WORST = 3


def layer_report(path: Path, spec: ArchSpec, weights: dict[str, np.ndarray], pixels: np.ndarray,
                 pre: Preprocessing) -> list[dict]:
    """[{"name", "sqnr_db", "drop_db"}] per quantized point in execution order, for the int8
    model at `path` against the fp32 folded `weights`, on uint8 N x R x R x 3 `pixels`
    (the first LAYER_IMAGES). drop_db is None for the first point (nothing precedes it)."""
    pixels = pixels[:LAYER_IMAGES]
    x = normalize_nchw(pixels, pre)
    names = quantized_points(spec)
    reference = reference_points(spec, weights, x)
    path = Path(path)
    quantized = tflite_points(path, pixels, names) if path.suffix == ".tflite" else onnx_points(path, x, names)
    layers, previous = [], None
    for name in names:
        sqnr = round(sqnr_db(reference[name], quantized[name].reshape(reference[name].shape)), 2)
        layers.append({"name": name, "sqnr_db": sqnr,
                       "drop_db": None if previous is None else round(previous - sqnr, 2)})
        previous = sqnr
    return layers


def artifact_layers(path: Path, model: MobileNet, pixels: np.ndarray, pre: Preprocessing) -> dict:
    """report.json's per-layer fields of one int8 artifact."""
    layers = layer_report(path, model.spec, folded_weights(model), pixels, pre)
    return {"layers": layers, "worst_layers": worst_layers(layers), "layer_images": min(len(pixels), LAYER_IMAGES)}


def worst_layers(layers: list[dict], count: int = WORST) -> list[str]:
    """The names of the `count` layers that lose the most SQNR themselves, worst first."""
    dropped = [layer for layer in layers if layer["drop_db"] is not None]
    return [layer["name"] for layer in sorted(dropped, key=lambda layer: -layer["drop_db"])[:count]]


def reference_points(spec: ArchSpec, weights: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantized point's fp32 tensor (NCHW) on normalized NCHW inputs x."""
    seen: dict[str, list[np.ndarray]] = {}

    def record(name, t):
        seen.setdefault(name, []).append(t.numpy().copy())
        return t

    with torch.inference_mode():
        forward(spec, tensors(weights), torch.from_numpy(x), record)
    return {name: np.concatenate(chunks) for name, chunks in seen.items()}


def point_names(ops: list[str], names: list[str]) -> list[str | None]:
    """The quantized point each op computes (None for the others), given each op's kind
    ("conv", "add", "pool", "logits" or None) in execution order. Raises RuntimeError
    unless the graph has exactly the points `names` lists."""
    queues = {kind: [n for n in names if n.rstrip("0123456789") == kind] for kind in ("conv", "add", "pool", "logits")}
    counts = {kind: ops.count(kind) for kind in queues}
    if any(counts[kind] != len(queue) for kind, queue in queues.items()):
        expected = {kind: len(queue) for kind, queue in queues.items()}
        raise RuntimeError(f"the int8 graph has {counts} quantized ops, the network has {expected}")
    return [None if kind is None else queues[kind].pop(0) for kind in ops]


TFLITE_KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "conv", "ADD": "add", "MEAN": "pool",
                "FULLY_CONNECTED": "logits"}


def tflite_points(path: Path, pixels: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Each point's dequantized output tensor (NCHW) of the int8 .tflite, one image at a time
    (its graph may fix a batch of 1). It takes raw uint8 NHWC pixels."""
    with warnings.catch_warnings():  # it warns that keeping every tensor costs memory: the point here
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()
    mapped = point_names([TFLITE_KINDS.get(op["op_name"]) for op in ops], names)
    outputs = {name: op["outputs"][0] for op, name in zip(ops, mapped) if name is not None}
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    model_input = interpreter.get_input_details()[0]["index"]
    seen: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    for image in pixels:
        interpreter.set_tensor(model_input, image[None])
        interpreter.invoke()
        for name, index in outputs.items():
            scale, zero_point = details[index]["quantization"]
            value = interpreter.get_tensor(index).astype(np.float32)
            if scale:  # a layer left in float (--float-layers) has a float output
                value = (value - zero_point) * np.float32(scale)
            seen[name].append(value.transpose(0, 3, 1, 2) if value.ndim == 4 else value)
    return {name: np.concatenate(chunks) for name, chunks in seen.items()}


ONNX_KINDS = {"Conv": "conv", "Add": "add", "ReduceMean": "pool", "Gemm": "logits"}
# What stands between a mapped node and the QuantizeLinear of its point (the quantizer keeps
# a Clip/Relu it could not fold away, and the pooled features may be reshaped first).
PASS_THROUGH = ("Clip", "Relu", "Reshape", "Flatten")


def onnx_points(path: Path, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Each point's dequantized tensor of the int8 (QDQ) .onnx on normalized NCHW inputs x.

    The QuantizeLinear outputs of the mapped tensors are made graph outputs of a copy in
    memory and dequantized here: the fused int8 ops produce those tensors anyway. Exposing
    a graph's inner tensors may keep ONNX Runtime from fusing the nodes around them (1.32
    still fuses, and for exposed DequantizeLinear outputs adds a node per tensor), and the
    figures would then not be the delivered model's: so the final output must still be
    the unmodified model's."""
    model = onnx.load(str(path))
    graph = model.graph
    quantizers = point_quantizers(graph, names)
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for q in quantizers.values():
        graph.output.append(onnx.helper.make_empty_tensor_value_info(q.output[0]))
    exposed = session(model.SerializeToString(), threads=1)
    delivered = session(str(path), threads=1)
    input_name = graph.input[0].name
    seen: dict[str, list[np.ndarray]] = {name: [] for name in quantizers}
    for image in x:
        feed = {input_name: image[None]}
        probabilities, *values = exposed.run(None, feed)
        if not np.allclose(probabilities, delivered.run(None, feed)[0], atol=1e-6):
            raise RuntimeError(f"{path.name} with its quantized tensors exposed no longer computes the same output")
        for (name, q), value in zip(quantizers.items(), values):
            scale, zero_point = initializers[q.input[1]], initializers[q.input[2]]
            seen[name].append((value.astype(np.float32) - zero_point.astype(np.float32)) * scale)
    return {name: np.concatenate(chunks) for name, chunks in seen.items()}


def point_quantizers(graph: onnx.GraphProto, names: list[str]) -> dict[str, onnx.NodeProto]:
    """{point name: the QuantizeLinear node of its tensor}, in execution order."""
    mapped = point_names([ONNX_KINDS.get(node.op_type) for node in graph.node], names)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return {name: point_quantizer(consumers, node) for node, name in zip(graph.node, mapped) if name is not None}


def point_quantizer(consumers: dict[str, list[onnx.NodeProto]], node: onnx.NodeProto) -> onnx.NodeProto:
    """The QuantizeLinear that quantizes `node`'s output (through PASS_THROUGH nodes)."""
    tensor = node.output[0]
    while True:
        after = consumers.get(tensor, [])
        quantize = [n for n in after if n.op_type == "QuantizeLinear"]
        if quantize:
            return quantize[0]
        if len(after) != 1 or after[0].op_type not in PASS_THROUGH:
            raise RuntimeError(f"the output of {node.op_type} node {node.name!r} is not quantized")
        tensor = after[0].output[0]
