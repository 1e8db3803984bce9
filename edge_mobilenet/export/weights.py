"""PyTorch weights -> plain numpy arrays with BatchNorm folded into each conv,
the form every other backend builder takes."""
import numpy as np
import torch
from torch import nn


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
