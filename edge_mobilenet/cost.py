"""Exact per-layer cost of a network, read off the model itself.

Counting follows the papers: multiply-accumulates (MACs) of conv and fully
connected layers only (BatchNorm folds into the conv at deployment and
activations are free); parameters are conv/FC weights and biases, with
BatchNorm's scale and shift reported apart.

A forward pass on PyTorch's "meta" device gives every layer's output shape
without computing anything, so profiling a 5-GMAC model is instant.
"""
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .models import build_model


@dataclass
class LayerCost:
    name: str
    kind: str  # conv, depthwise, pointwise or linear
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    out_size: int  # output height (= width); 1 for linear layers
    macs: int
    params: int


@dataclass
class SeparableCost:
    """A depthwise conv and the pointwise conv after it, set against the
    standard conv with the same kernel, channels and output size."""
    depthwise: str
    pointwise: str
    kernel: int  # Dk
    in_channels: int  # M
    out_channels: int  # N
    out_size: int  # Df
    dw_macs: int  # Dk·Dk·M·Df·Df
    pw_macs: int  # M·N·Df·Df
    standard_macs: int  # Dk·Dk·M·N·Df·Df
    ratio: float  # (dw + pw) / standard, as counted
    formula_ratio: float  # 1/N + 1/Dk², the paper's formula


@dataclass
class Profile:
    arch: str
    alpha: float
    resolution: int
    num_classes: int
    macs: int
    params: int
    bn_params: int
    layers: list[LayerCost]
    separable: list[SeparableCost]

    def to_json(self) -> dict:
        return {
            "arch": self.arch, "alpha": self.alpha, "resolution": self.resolution,
            "num_classes": self.num_classes,
            "total": {"macs": self.macs, "params": self.params, "bn_params": self.bn_params},
            "layers": [asdict(layer) for layer in self.layers],
            "separable": [asdict(pair) for pair in self.separable],
        }


def layer_kind(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return "linear"
    if module.groups > 1 and module.groups == module.in_channels == module.out_channels:
        return "depthwise"
    if module.kernel_size == (1, 1) and module.groups == 1:
        return "pointwise"
    return "conv"


def layer_costs(model: nn.Module, resolution: int) -> list[LayerCost]:
    """Run one forward pass and cost every conv and linear layer."""
    layers: list[LayerCost] = []

    def record(name):
        def hook(module, inputs, output):
            params = sum(p.numel() for p in module.parameters(recurse=False))
            if isinstance(module, nn.Linear):
                layers.append(LayerCost(name, "linear", module.in_features, module.out_features,
                                        1, 1, 1, 1, module.in_features * module.out_features,
                                        params))
                return
            out_h, out_w = output.shape[-2:]
            k_h, k_w = module.kernel_size
            macs = k_h * k_w * (module.in_channels // module.groups) * module.out_channels * out_h * out_w
            layers.append(LayerCost(name, layer_kind(module), module.in_channels,
                                    module.out_channels, k_h, module.stride[0], module.groups,
                                    out_h, macs, params))
        return hook

    device = next(model.parameters()).device
    handles = [m.register_forward_hook(record(name)) for name, m in model.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    training = model.training
    model.eval()  # BatchNorm must neither update its statistics nor see a 1x1 batch of one
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, resolution, resolution, device=device))
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    return layers


def separable_pairs(layers: list[LayerCost]) -> list[SeparableCost]:
    pairs = []
    for dw, pw in zip(layers, layers[1:]):
        if dw.kind != "depthwise" or pw.kind != "pointwise" or pw.in_channels != dw.out_channels:
            continue
        k, m, n, f = dw.kernel, dw.in_channels, pw.out_channels, dw.out_size
        standard = k * k * m * n * f * f
        pairs.append(SeparableCost(dw.name, pw.name, k, m, n, f, dw.macs, pw.macs, standard,
                                   (dw.macs + pw.macs) / standard, 1 / n + 1 / (k * k)))
    return pairs


def profile_model(model: nn.Module, resolution: int) -> Profile:
    spec = model.spec
    layers = layer_costs(model, resolution)
    bn_params = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d)
                    for p in m.parameters(recurse=False))
    return Profile(spec.name, spec.alpha, resolution, spec.num_classes,
                   sum(layer.macs for layer in layers), sum(layer.params for layer in layers),
                   bn_params, layers, separable_pairs(layers))


def profile(arch: str, alpha: float = 1.0, resolution: int = 224, num_classes: int = 1000) -> Profile:
    with torch.device("meta"):
        model = build_model(arch, alpha, num_classes)
    return profile_model(model, resolution)
