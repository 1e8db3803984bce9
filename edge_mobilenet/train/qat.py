"""Quantization-aware fine-tuning (`edgemb train --qat --pretrained RUN`).

The network trained is RUN's, with BatchNorm folded into each conv (quantization.py),
run through the int8 scheme every export backend builds: weights fake-quantized
symmetric int8 per output channel, activations fake-quantized asymmetric 8-bit per
tensor at every quantized point, gradients passed straight through the rounding.

Activation ranges are calibrated as `edgemb export --int8` does (same images, same
range method) from the current weights at the start of every epoch, and held fixed
during it: a function of the weights that last.pt saves, so a resumed run is exact.

The run directory holds ordinary MobileNet weights (`mobilenet_state`): each conv gets
its folded weight and an identity BatchNorm carrying the folded bias, so export, eval
and predict read a QAT run like any other.
"""
import numpy as np
import torch
from torch import nn

from ..data import calibration_images
from ..data.preprocess import Preprocessing, normalize_nchw
from ..models import MobileNet
from ..models.spec import ArchSpec
from ..quantization import DEFAULT_RANGES, activation_ranges, fake_quantize, folded_weights, forward, quantize_weight

# As many images as `edgemb export --int8` calibrates with by default (--calib-samples).
CALIBRATION_IMAGES = 300


def straight_through_weight(w: torch.Tensor) -> torch.Tensor:
    """int8 per channel in the forward pass; the identity in the backward pass."""
    return w + (quantize_weight(w) - w).detach()


def straight_through_activation(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """8-bit over [low, high] in the forward pass; in the backward pass the identity
    inside the range and zero where the value was clipped."""
    clipped = x.clamp(min(low, 0.0), max(high, 0.0))
    return clipped + (fake_quantize(clipped, low, high) - clipped).detach()


class QATNet(nn.Module):
    """The folded network with trainable weights and biases, fake-quantized in forward()."""

    def __init__(self, spec: ArchSpec, folded: dict[str, np.ndarray]):
        super().__init__()
        self.spec = spec
        self.names = list(folded)  # "conv0.weight", ...: ParameterDict keys may not hold dots
        self.folded = nn.ParameterDict({key(n): nn.Parameter(torch.tensor(v)) for n, v in folded.items()})
        self.ranges: dict[str, tuple[float, float]] = {}

    @classmethod
    def from_model(cls, model: MobileNet) -> "QATNet":
        return cls(model.spec, folded_weights(model))

    def weights(self) -> dict[str, torch.Tensor]:
        return {n: self.folded[key(n)] for n in self.names}

    def folded_arrays(self) -> dict[str, np.ndarray]:
        return {n: p.detach().cpu().contiguous().numpy() for n, p in self.weights().items()}

    def calibrate(self, inputs: np.ndarray) -> None:
        """Activation ranges of the current weights on inputs (float32 N x 3 x R x R, normalized)."""
        self.ranges = activation_ranges(self.spec, self.folded_arrays(), inputs, DEFAULT_RANGES)

    def forward(self, x: torch.Tensor, quantized: bool = True) -> torch.Tensor:
        if not quantized:  # the fp32 folded network, as the written-back MobileNet computes it
            return forward(self.spec, self.weights(), x, lambda name, t: t)
        if not self.ranges:
            raise RuntimeError("QATNet.calibrate() must run before a quantized forward pass")
        w = {n: straight_through_weight(p) if n.endswith("weight") else p for n, p in self.weights().items()}
        return forward(self.spec, w, x, lambda name, t: straight_through_activation(t, *self.ranges[name]))

    def mobilenet_state(self) -> dict[str, torch.Tensor]:
        """An ordinary MobileNet state dict computing the same fp32 function: each conv
        holds its folded weight, each BatchNorm is the identity plus the folded bias."""
        model = MobileNet(self.spec)
        convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
        norms = [m for m in model.features.modules() if isinstance(m, nn.BatchNorm2d)]
        w = self.weights()
        with torch.no_grad():
            for i, (conv, bn) in enumerate(zip(convs, norms)):
                conv.weight.copy_(w[f"conv{i}.weight"])
                bn.weight.fill_(1.0)
                bn.bias.copy_(w[f"conv{i}.bias"])
                bn.running_mean.zero_()
                # running_var + eps == 1 exactly in float32: the BatchNorm scales by 1
                bn.running_var.fill_(1.0 - bn.eps)
            model.classifier[-1].weight.copy_(w["classifier.weight"])
            model.classifier[-1].bias.copy_(w["classifier.bias"])
        return {k: v.contiguous() for k, v in model.state_dict().items()}


def key(name: str) -> str:
    return name.replace(".", "_")


def calibration_inputs(dataset: dict, pre: Preprocessing) -> np.ndarray:
    """The images `edgemb export --int8` calibrates a run on `dataset` with, normalized NCHW."""
    pixels = calibration_images(dataset.get("path") or dataset["kind"], pre, CALIBRATION_IMAGES)
    return normalize_nchw(pixels, pre)
