"""The int8 scheme every backend builds, simulated in PyTorch: the network with BatchNorm
folded into each conv, weights symmetric int8 per output channel, activations asymmetric
8-bit per tensor at each quantized point (every conv output after its activation, each
residual add, the pooled features and the logits).

export.calibration calibrates ranges and corrects biases with it; train.qat fine-tunes
through it; export.layer_report names layers by its points."""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models.spec import ArchSpec


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
