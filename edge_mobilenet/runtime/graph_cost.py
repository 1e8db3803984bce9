"""MACs and parameters read from a model's own graph, counted the papers' way:
multiply-accumulates of conv, depthwise conv and fully connected ops from their
tensor shapes; parameters are those ops' weights and biases.

MACs equal cost.profile's exactly in every format. A 1x1 depthwise conv is a
per-channel scale (an input normalization an export may build in), counted as
elementwise like BatchNorm. Parameters are what the graph holds, so they differ by
format: a .tflite has BatchNorm folded into the convs (its shift becomes one bias
per channel), an exporter may drop an all-zero bias.
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class GraphCost:
    macs: int
    params: int
    layers: list[dict] = field(default_factory=list)  # {op, kind, macs, params} in graph order

    def to_json(self) -> dict:
        return {"macs": self.macs, "params": self.params, "layers": len(self.layers),
                "by_kind": {kind: sum(layer["macs"] for layer in self.layers if layer["kind"] == kind)
                            for kind in dict.fromkeys(layer["kind"] for layer in self.layers)}}


def total(layers: list[dict]) -> GraphCost:
    return GraphCost(sum(layer["macs"] for layer in layers), sum(layer["params"] for layer in layers), layers)


def conv_kind(kernel: tuple[int, int], depthwise: bool) -> str:
    if depthwise:
        return "depthwise"
    return "pointwise" if tuple(kernel) == (1, 1) else "conv"


def tflite_graph_cost(interpreter) -> GraphCost:
    """From a LiteRT Interpreter (allocated). Filters: CONV_2D [O, kh, kw, I],
    DEPTHWISE_CONV_2D [1, kh, kw, C], FULLY_CONNECTED [O, I]; outputs NHWC."""
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in interpreter.get_tensor_details()}
    layers = []
    # _get_ops_details is the Interpreter's (private but long-stable) view of the op list.
    for op in interpreter._get_ops_details():
        name, inputs, outputs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weight = shapes[inputs[1]]
        bias = int(np.prod(shapes[inputs[2]])) if len(inputs) > 2 and inputs[2] >= 0 else 0
        out = shapes[outputs[0]]
        if name == "FULLY_CONNECTED":
            rows = int(np.prod(out[:-1])) // max(out[0], 1) if len(out) > 2 else 1  # per image
            layers.append({"op": name, "kind": "linear", "macs": rows * weight[0] * weight[1],
                           "params": weight[0] * weight[1] + bias})
            continue
        _, h, w, c_out = out
        kh, kw = weight[1], weight[2]
        if name == "DEPTHWISE_CONV_2D":
            if (kh, kw) == (1, 1):
                continue  # a per-channel scale, not a layer
            macs = h * w * c_out * kh * kw
        else:
            macs = h * w * c_out * kh * kw * weight[3]
        layers.append({"op": name, "kind": conv_kind((kh, kw), name == "DEPTHWISE_CONV_2D"), "macs": macs,
                       "params": int(np.prod(weight)) + bias})
    return total(layers)


def onnx_graph_cost(path) -> GraphCost:
    """From an .onnx file, QDQ or float: Conv (weights [O, I/groups, kh, kw], output
    NCHW), Gemm and MatMul with a constant weight; shapes from ONNX shape inference."""
    import onnx
    from onnx import numpy_helper

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)  # batch -> 1
    constants = {t.name: tuple(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].t.dims:
            constants[node.output[0]] = tuple(numpy_helper.to_array(node.attribute[0].t).shape)
    producers = {out: node for node in graph.node for out in node.output}

    def weight_shape(name):
        """The shape of a constant weight, through the DequantizeLinear of a QDQ model."""
        while name not in constants and name in producers and producers[name].op_type in (
                "DequantizeLinear", "Identity", "Transpose"):
            node = producers[name]
            if node.op_type == "Transpose":
                shape = weight_shape(node.input[0])
                perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
                return None if shape is None else tuple(shape[i] for i in (perm or reversed(range(len(shape)))))
            name = node.input[0]
        return constants.get(name)

    layers = []
    for node in graph.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type in ("Conv", "QLinearConv"):
            w_name, b_name = ((node.input[1], node.input[2] if len(node.input) > 2 else "")
                              if node.op_type == "Conv" else (node.input[3], node.input[8] if len(node.input) > 8 else ""))
            weight, out = weight_shape(w_name), shapes.get(node.output[0])
            if weight is None or out is None:
                continue
            groups = attrs["group"].i if "group" in attrs else 1
            c_out, c_in_per_group, kh, kw = weight
            depthwise = groups > 1 and c_in_per_group == 1 and groups == c_out
            if depthwise and (kh, kw) == (1, 1):
                continue  # a per-channel scale, not a layer
            bias = int(np.prod(weight_shape(b_name))) if b_name and weight_shape(b_name) else 0
            layers.append({"op": node.op_type, "kind": conv_kind((kh, kw), depthwise),
                           "macs": out[2] * out[3] * c_out * c_in_per_group * kh * kw,
                           "params": int(np.prod(weight)) + bias})
        elif node.op_type in ("Gemm", "MatMul"):
            weight = weight_shape(node.input[1])
            if weight is None or len(weight) != 2:
                continue
            trans_b = node.op_type == "Gemm" and "transB" in attrs and attrs["transB"].i
            k, n = (weight[1], weight[0]) if trans_b else weight
            bias = int(np.prod(weight_shape(node.input[2]) or (0,))) if len(node.input) > 2 else 0
            layers.append({"op": node.op_type, "kind": "linear", "macs": k * n, "params": k * n + bias})
    return total(layers)


def torch_graph_cost(model, resolution: int) -> GraphCost:
    """A PyTorch model's own conv and linear modules (cost.py's count)."""
    from ..cost import profile_model

    p = profile_model(model, resolution)
    return GraphCost(p.macs, p.params, [{"op": layer.name, "kind": layer.kind, "macs": layer.macs,
                                         "params": layer.params} for layer in p.layers])
