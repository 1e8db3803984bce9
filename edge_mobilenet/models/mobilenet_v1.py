"""MobileNet v1 (Howard et al., 2017): a 3x3 stem, then 13 depthwise separable blocks."""
from .spec import ArchSpec, BlockSpec, ConvSpec, make_divisible, standard_conv_twin
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the PyTorch builders import torch when called: the descriptions alone load fast
    from .torch_model import MobileNet

# Table 1 of the paper: (output channels, stride) of each depthwise separable block.
V1_BLOCKS = [
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
]
V1_STEM_CHANNELS = 32


def mobilenet_v1_spec(alpha: float = 1.0, num_classes: int = 1000) -> ArchSpec:
    channels = make_divisible(V1_STEM_CHANNELS * alpha)
    blocks = [BlockSpec((ConvSpec(3, channels, 3, 2, activation="relu"),))]
    for out, stride in V1_BLOCKS:
        out = make_divisible(out * alpha)
        blocks.append(BlockSpec((
            ConvSpec(channels, channels, 3, stride, depthwise=True, activation="relu"),
            ConvSpec(channels, out, 1, activation="relu"),
        )))
        channels = out
    return ArchSpec("mobilenet_v1", alpha, num_classes, tuple(blocks), dropout=0.001)


def mobilenet_v1(alpha: float = 1.0, num_classes: int = 1000) -> "MobileNet":
    from .torch_model import MobileNet
    return MobileNet(mobilenet_v1_spec(alpha, num_classes))


def conv_mobilenet_v1(alpha: float = 1.0, num_classes: int = 1000) -> "MobileNet":
    from .torch_model import MobileNet
    return MobileNet(standard_conv_twin(mobilenet_v1_spec(alpha, num_classes)))
