"""The PyTorch network built from an ArchSpec.

Module names follow torchvision's MobileNetV2 (features.N.conv.M..., classifier.1),
so torchvision's ImageNet checkpoint loads with strict=True."""
import torch
from torch import nn

from .spec import ArchSpec, BlockSpec, ConvSpec

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6}


def conv_bn(conv: ConvSpec) -> list[nn.Module]:
    padding = (conv.kernel - 1) // 2
    return [
        nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel, conv.stride, padding,
                  groups=conv.groups, bias=False),
        nn.BatchNorm2d(conv.out_channels),
    ]


class ConvBNAct(nn.Sequential):
    def __init__(self, conv: ConvSpec):
        super().__init__(*conv_bn(conv), ACTIVATIONS[conv.activation](inplace=True))


class Block(nn.Module):
    """A sequence of convs with an optional identity shortcut (an inverted residual in v2)."""

    def __init__(self, block: BlockSpec):
        super().__init__()
        layers: list[nn.Module] = []
        for conv in block.convs:
            if conv.activation:
                layers.append(ConvBNAct(conv))
            else:  # torchvision keeps a linear conv and its BatchNorm flat in the sequence
                layers.extend(conv_bn(conv))
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = block.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def build_block(block: BlockSpec) -> nn.Module:
    if len(block.convs) == 1 and not block.residual and block.convs[0].activation:
        return ConvBNAct(block.convs[0])
    return Block(block)


class MobileNet(nn.Module):
    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.spec = spec
        self.features = nn.Sequential(*[build_block(b) for b in spec.blocks])
        self.classifier = nn.Sequential(
            nn.Dropout(spec.dropout), nn.Linear(spec.feature_channels, spec.num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)
