"""MobileNet v2 (Sandler et al., 2018): inverted residuals with linear bottlenecks."""
from .spec import ArchSpec, BlockSpec, ConvSpec, make_divisible, standard_conv_twin
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the PyTorch builders import torch when called: the descriptions alone load fast
    from .torch_model import MobileNet

# Table 2 of the paper: expansion t, output channels c, repeats n, first stride s.
V2_BLOCKS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
V2_STEM_CHANNELS = 32
V2_LAST_CHANNELS = 1280


def inverted_residual(in_ch: int, out_ch: int, stride: int, expand: int) -> BlockSpec:
    hidden = in_ch * expand
    convs = [] if expand == 1 else [ConvSpec(in_ch, hidden, 1)]
    convs += [
        ConvSpec(hidden, hidden, 3, stride, depthwise=True),
        ConvSpec(hidden, out_ch, 1, activation=None),  # linear bottleneck
    ]
    return BlockSpec(tuple(convs), residual=stride == 1 and in_ch == out_ch)


def mobilenet_v2_spec(alpha: float = 1.0, num_classes: int = 1000) -> ArchSpec:
    channels = make_divisible(V2_STEM_CHANNELS * alpha)
    blocks = [BlockSpec((ConvSpec(3, channels, 3, 2),))]
    for t, c, n, s in V2_BLOCKS:
        out = make_divisible(c * alpha)
        for i in range(n):
            blocks.append(inverted_residual(channels, out, s if i == 0 else 1, t))
            channels = out
    # The paper keeps the last conv at 1280 channels for alpha <= 1.
    last = make_divisible(V2_LAST_CHANNELS * max(1.0, alpha))
    blocks.append(BlockSpec((ConvSpec(channels, last, 1),)))
    return ArchSpec("mobilenet_v2", alpha, num_classes, tuple(blocks), dropout=0.2)


def mobilenet_v2(alpha: float = 1.0, num_classes: int = 1000) -> "MobileNet":
    from .torch_model import MobileNet
    return MobileNet(mobilenet_v2_spec(alpha, num_classes))


def conv_mobilenet_v2(alpha: float = 1.0, num_classes: int = 1000) -> "MobileNet":
    from .torch_model import MobileNet
    return MobileNet(standard_conv_twin(mobilenet_v2_spec(alpha, num_classes)))
