"""The architecture description every builder reads.

A network is a stem of blocks, a global average pool and a linear classifier.
Each block is a short list of convolutions (conv -> BatchNorm -> optional
activation) with an optional identity shortcut. The PyTorch builder
(`torch_model.py`), the cost model and the Keras builder used for TFLite
export all walk this same description, so they cannot drift apart.
"""
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ConvSpec:
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    depthwise: bool = False
    activation: str | None = "relu6"  # "relu", "relu6" or None (a linear bottleneck)

    @property
    def groups(self) -> int:
        return self.in_channels if self.depthwise else 1


@dataclass(frozen=True)
class BlockSpec:
    convs: tuple[ConvSpec, ...]
    residual: bool = False


@dataclass(frozen=True)
class ArchSpec:
    name: str
    alpha: float
    num_classes: int
    blocks: tuple[BlockSpec, ...]
    dropout: float = 0.2

    @property
    def feature_channels(self) -> int:
        return self.blocks[-1].convs[-1].out_channels


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never dropping more than 10%.

    The rounding the reference MobileNet implementations use, so that the
    published checkpoints and figures match."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def standard_conv_twin(spec: ArchSpec) -> ArchSpec:
    """The paper's "Conv MobileNet": every depthwise conv and the 1x1 conv
    after it become one standard conv with the depthwise conv's kernel and
    stride and the pointwise conv's output channels and activation."""
    blocks = []
    for block in spec.blocks:
        convs, i = [], 0
        while i < len(block.convs):
            conv = block.convs[i]
            following = block.convs[i + 1] if i + 1 < len(block.convs) else None
            if conv.depthwise and following is not None and following.kernel == 1:
                convs.append(ConvSpec(conv.in_channels, following.out_channels, conv.kernel,
                                      conv.stride, activation=following.activation))
                i += 2
            else:
                convs.append(conv)
                i += 1
        blocks.append(BlockSpec(tuple(convs), block.residual))
    return replace(spec, name="conv_" + spec.name, blocks=tuple(blocks))
