"""The int8 scheme every backend builds, simulated in PyTorch: the network with BatchNorm
folded into each conv, weights symmetric int8 per output channel, activations asymmetric
8-bit per tensor at each quantized point (every conv output after its activation, each
residual add, the pooled features and the logits).

Activation ranges from calibration images are found here too (`activation_ranges`), so
that export.calibration (ranges, bias correction) and train.qat (fine-tuning through the
scheme) calibrate alike; export.layer_report names layers by its points."""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models.spec import ArchSpec

RANGE_METHODS = ("minmax", "percentile", "mse")
# Chosen on held-out photos (the selection split of benchmarks/int8_methods.py, never its
# evaluation photos): see benchmarks/results/int8_methods.md.
DEFAULT_RANGES = "mse"
BINS = 2048
PERCENTILE = 99.99
CHUNK = 16


def folded_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """{"convN.weight", "convN.bias"} for each conv in execution order (BatchNorm folded in,
    weights in PyTorch layout) and {"classifier.weight", "classifier.bias"}."""
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.features.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == len(norms), "every conv is followed by a BatchNorm"
    weights = {}
    with torch.no_grad():
        for i, (conv, bn) in enumerate(zip(convs, norms)):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            weights[f"conv{i}.weight"] = (conv.weight * scale[:, None, None, None]).numpy()
            weights[f"conv{i}.bias"] = (bn.bias - bn.running_mean * scale).numpy()
        linear = model.classifier[-1]
        weights["classifier.weight"] = linear.weight.numpy().copy()
        weights["classifier.bias"] = linear.bias.numpy().copy()
    return weights


def tensors(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in weights.items()}


def quantize_weight(w: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 per output channel (dim 0), as TFLite and ONNX Runtime store weights."""
    scale = w.abs().flatten(1).amax(1).clamp_min(1e-12) / 127
    shape = (-1,) + (1,) * (w.dim() - 1)
    return (w / scale.view(shape)).round().clamp(-127, 127) * scale.view(shape)


def fake_quantize(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Asymmetric 8-bit per tensor over [low, high] (widened to hold 0, as every runtime does)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max(high - low, 1e-8) / 255
    zero = round(-low / scale)
    return ((x / scale).round() + zero).clamp(0, 255).sub(zero) * scale


def quantized_points(spec: ArchSpec) -> list[str]:
    """Names of the tensors an int8 backend quantizes, in execution order."""
    names, index = [], 0
    for b, block in enumerate(spec.blocks):
        for _ in block.convs:
            names.append(f"conv{index}")
            index += 1
        if block.residual:
            names.append(f"add{b}")
    return names + ["pool", "logits"]


def activate(x: torch.Tensor, activation: str | None) -> torch.Tensor:
    if activation == "relu6":
        return x.clamp(0, 6)
    return x.relu() if activation == "relu" else x


def forward(spec: ArchSpec, w: dict[str, torch.Tensor], x: torch.Tensor, point) -> torch.Tensor:
    """The folded network on NCHW normalized input x; point(name, tensor) -> tensor is
    called at each quantized tensor (to observe or fake-quantize it). Returns logits."""
    index = 0
    for b, block in enumerate(spec.blocks):
        shortcut = x
        for conv in block.convs:
            x = F.conv2d(x, w[f"conv{index}.weight"], w[f"conv{index}.bias"], conv.stride,
                         (conv.kernel - 1) // 2, groups=conv.groups)
            x = point(f"conv{index}", activate(x, conv.activation))
            index += 1
        if block.residual:
            x = point(f"add{b}", shortcut + x)
    x = point("pool", x.mean((2, 3)))
    return point("logits", F.linear(x, w["classifier.weight"], w["classifier.bias"]))


def clip_range(hist: np.ndarray, low: float, high: float, method: str) -> tuple[float, float]:
    """[low, high] of one tensor from its histogram over [low, high] (BINS bins)."""
    edges = np.linspace(low, high, len(hist) + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    if method == "percentile":
        cdf = np.cumsum(hist) / hist.sum()
        tail = (100 - PERCENTILE) / 100
        lo = centers[np.searchsorted(cdf, tail)] if low < 0 else low
        hi = centers[min(np.searchsorted(cdf, 1 - tail), len(centers) - 1)]
        return float(min(lo, 0.0)), float(max(hi, 0.0))
    # mse: the clipping range (a grid of shrunk [low, high]) with the least squared error
    # of quantizing this tensor's values, clipping included.
    fractions = np.linspace(0.05, 1.0, 64)
    lows = [low] if low >= 0 else low * fractions
    best, best_error = (low, high), np.inf
    kept = hist > 0
    values, counts = centers[kept], hist[kept]
    for lo in lows:
        lo = min(lo, 0.0)
        his = np.maximum(high * fractions, 1e-8)
        scale = (his - lo) / 255  # one candidate per row
        zero = np.round(-lo / scale)
        q = (np.clip(np.round(values[None] / scale[:, None]) + zero[:, None], 0, 255) - zero[:, None]) * scale[:, None]
        error = ((q - values[None]) ** 2 * counts[None]).sum(1)
        i = int(error.argmin())
        if error[i] < best_error:
            best, best_error = (float(lo), float(his[i])), error[i]
    return best


def activation_ranges(spec: ArchSpec, weights: dict[str, np.ndarray], inputs: np.ndarray,
                      method: str = "minmax") -> dict[str, tuple[float, float]]:
    """{tensor name: (low, high)} from fp32 activations on inputs (float32 N x 3 x R x R, normalized)."""
    if method not in RANGE_METHODS:
        raise ValueError(f"unknown range method {method!r}: choose one of {', '.join(RANGE_METHODS)}")
    w = tensors(weights)
    x = torch.from_numpy(np.ascontiguousarray(inputs, np.float32))
    extremes: dict[str, list[float]] = {}

    def observe(name, t):
        lo, hi = float(t.min()), float(t.max())
        old = extremes.get(name, [lo, hi])
        extremes[name] = [min(old[0], lo), max(old[1], hi)]
        return t

    with torch.inference_mode():
        for chunk in x.split(CHUNK):
            forward(spec, w, chunk, observe)
        if method == "minmax":
            return {name: (min(lo, 0.0), max(hi, 0.0)) for name, (lo, hi) in extremes.items()}
        hists = {name: np.zeros(BINS) for name in extremes}

        def histogram(name, t):
            lo, hi = extremes[name]
            hists[name] += torch.histc(t.float(), BINS, lo, max(hi, lo + 1e-8)).double().numpy()
            return t

        for chunk in x.split(CHUNK):
            forward(spec, w, chunk, histogram)
    return {name: clip_range(hists[name], *extremes[name], method) for name in extremes}
