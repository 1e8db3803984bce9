"""int8 calibration shared by every backend: activation ranges and bias correction.

Both work on the BatchNorm-folded weights (quantization.folded_weights) through a
small simulation of the int8 network every backend builds: weights symmetric int8 per
output channel, activations asymmetric 8-bit per tensor at each conv output (after its
activation), each residual add, the pooled features and the logits.

- Ranges (quantization.activation_ranges, in the lower layer so that QAT in train/
  calibrates as the export does): per quantized tensor, from the calibration images:
  "minmax" (what TFLiteConverter and ONNX Runtime's default use), "percentile", or
  "mse" (the clipping range that minimises the tensor's own quantization error).
- Bias correction (`correct_biases`): layer by layer, the per-channel mean shift that
  int8 weights and int8 inputs cause in a conv's output (against fp32 fed with fp32) is
  added back to its bias. Only biases change, so any converter carries it.

Cross-layer equalization is not applied: it rescales channels across an activation,
which is exact for ReLU but not for MobileNet's ReLU6, and with per-channel int8 weights
(what every backend here uses) the imbalance it fixes is already gone.
"""
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..models.spec import ArchSpec
from ..metrics import sqnr_db
from ..quantization import (CHUNK, DEFAULT_RANGES, activate, activation_ranges, fake_quantize, forward, quantize_weight,
                            tensors)

SENSITIVITY_IMAGES = 32


def simulate(spec: ArchSpec, weights: dict[str, np.ndarray], inputs: np.ndarray,
             ranges: dict[str, tuple[float, float]] | None, float_layers: frozenset = frozenset()) -> np.ndarray:
    """Softmax probabilities of the network, fp32 (ranges None) or simulated int8 with the
    layers named in float_layers ("convN", "classifier") computing in float. Their outputs
    are still quantized: the converters quantize a float layer's output wherever an int8
    layer reads it, as it does for every layer here."""
    w = tensors(weights)
    if ranges is not None:
        kept = {f"{name}.weight" for name in float_layers}
        w = {k: quantize_weight(v) if k.endswith("weight") and k not in kept else v for k, v in w.items()}

    def point(name, t):
        return t if ranges is None else fake_quantize(t, *ranges[name])

    x = torch.from_numpy(np.ascontiguousarray(inputs, np.float32))
    with torch.inference_mode():
        return torch.cat([forward(spec, w, chunk, point).softmax(1) for chunk in x.split(CHUNK)]).numpy()


def layer_sensitivity(spec: ArchSpec, weights: dict[str, np.ndarray], inputs: np.ndarray,
                      ranges: dict[str, tuple[float, float]]) -> dict[str, float]:
    """{layer: dB} how much the simulated int8 network's probability SQNR against fp32 rises
    when that one layer (a conv or the classifier) computes in float."""
    reference = simulate(spec, weights, inputs, None)
    base = sqnr_db(reference, simulate(spec, weights, inputs, ranges))
    layers = [k[:-len(".weight")] for k in weights if k.endswith(".weight")]
    return {name: round(sqnr_db(reference, simulate(spec, weights, inputs, ranges, frozenset([name]))) - base, 2)
            for name in layers}


def correct_biases(spec: ArchSpec, weights: dict[str, np.ndarray], inputs: np.ndarray,
                   ranges: dict[str, tuple[float, float]],
                   float_layers: frozenset = frozenset()) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Bias-corrected folded weights, and each layer's mean |shift| before correction
    (in units of that layer's output standard deviation).

    Walks the network one layer at a time over all `inputs` at once, carrying an fp32
    stream and a simulated int8 stream whose earlier layers are already corrected, so
    each correction also absorbs the shifts that reach it from upstream."""
    w = tensors(weights)
    corrected = dict(weights)
    shifts = {}
    fp = list(torch.from_numpy(np.ascontiguousarray(inputs, np.float32)).split(CHUNK))
    q = list(fp)

    def layer(name: str, fn_fp, fn_q, activation=None):
        nonlocal fp, q
        ys_fp = [fn_fp(t) for t in fp]
        ys_q = [fn_q(t) for t in q]
        dims = (0, 2, 3) if ys_fp[0].dim() == 4 else (0,)
        count = sum(y.numel() // y.shape[1] for y in ys_fp)
        delta = sum((a - b).sum(dims) for a, b in zip(ys_fp, ys_q)) / count
        spread = torch.cat([y.transpose(0, 1).flatten(1) for y in ys_fp], 1).std(1).clamp_min(1e-8)
        shifts[name] = float((delta.abs() / spread).mean())
        shape = (1, -1, 1, 1) if dims == (0, 2, 3) else (1, -1)
        fp = [activate(y, activation) for y in ys_fp]
        q = [fake_quantize(activate(y + delta.view(shape), activation), *ranges[point_name(name)]) for y in ys_q]
        return delta

    def point_name(name):
        return "logits" if name == "classifier" else name

    with torch.inference_mode():
        index = 0
        for b, block in enumerate(spec.blocks):
            shortcut_fp, shortcut_q = fp, q
            for conv in block.convs:
                name = f"conv{index}"
                weight, bias = w[f"{name}.weight"], w[f"{name}.bias"]
                weight_q = weight if name in float_layers else quantize_weight(weight)
                pad = (conv.kernel - 1) // 2

                def apply(t, kernel, conv=conv, bias=bias, pad=pad):
                    return F.conv2d(t, kernel, bias, conv.stride, pad, groups=conv.groups)

                delta = layer(name, lambda t, weight=weight, apply=apply: apply(t, weight),
                              lambda t, weight_q=weight_q, apply=apply: apply(t, weight_q), conv.activation)
                corrected[f"{name}.bias"] = (bias + delta).numpy()
                index += 1
            if block.residual:
                fp = [a + s for a, s in zip(fp, shortcut_fp)]
                q = [fake_quantize(a + s, *ranges[f"add{b}"]) for a, s in zip(q, shortcut_q)]
            # release the shortcut streams once the block is done
            shortcut_fp = shortcut_q = None
        fp = [t.mean((2, 3)) for t in fp]
        q = [fake_quantize(t.mean((2, 3)), *ranges["pool"]) for t in q]
        weight, bias = w["classifier.weight"], w["classifier.bias"]
        weight_q = weight if "classifier" in float_layers else quantize_weight(weight)
        delta = layer("classifier", lambda t: F.linear(t, weight, bias), lambda t: F.linear(t, weight_q, bias))
        corrected["classifier.bias"] = (bias + delta).numpy()
    return corrected, shifts


@dataclass
class Int8Plan:
    """What every int8 backend builds from: folded weights (biases corrected or not), the
    range of each quantized tensor (by quantization.quantized_points name), the layers to
    leave in float (mixed precision, on request) and how they were made."""
    weights: dict[str, np.ndarray]
    ranges: dict[str, tuple[float, float]]
    method: dict = field(default_factory=dict)
    shifts: dict[str, float] = field(default_factory=dict)  # mean |bias shift| per layer, in output std
    float_layers: list[str] = field(default_factory=list)


def plan_int8(spec: ArchSpec, weights: dict[str, np.ndarray], inputs: np.ndarray, ranges: str = DEFAULT_RANGES,
              bias_correction: bool = True, correction_images: int = 64, float_layers: int = 0) -> Int8Plan:
    """The int8 plan for folded `weights` from calibration inputs (float32 N x 3 x R x R, normalized);
    float_layers: how many of the most sensitive layers (layer_sensitivity) to leave in float."""
    found = activation_ranges(spec, weights, inputs, ranges)
    method = {"ranges": ranges, "bias_correction": bias_correction, "calibration_images": len(inputs)}
    plan = Int8Plan(dict(weights), found, method)
    subset = inputs[::max(1, len(inputs) // correction_images)][:correction_images]
    if float_layers:
        # ranked on a few images (each layer costs one simulated pass of the network), before
        # bias correction, which then corrects for the int8 layers only
        gains = layer_sensitivity(spec, weights, subset[:SENSITIVITY_IMAGES], found)
        plan.float_layers = sorted(gains, key=gains.get, reverse=True)[:float_layers]
        method["float_layers"] = {name: gains[name] for name in plan.float_layers}
    if bias_correction:
        plan.weights, plan.shifts = correct_biases(spec, weights, subset, found, frozenset(plan.float_layers))
        method["correction_images"] = len(subset)
    return plan


def describe_plan(method: dict) -> str:
    """One line for Int8Plan.method, as the export log and report.md show it."""
    correction = (f", bias correction on {method['correction_images']} images" if method["bias_correction"]
                  else ", no bias correction")
    mixed = (f"; in float: {', '.join(method['float_layers'])} (the most sensitive layers)"
             if method.get("float_layers") else "")
    return f"{method['ranges']} activation ranges from {method['calibration_images']} images{correction}{mixed}"
