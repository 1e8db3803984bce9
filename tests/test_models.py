import pytest
import torch

from edge_mobilenet.models import build_model, build_spec, conv_mobilenet_v2, mobilenet_v1, mobilenet_v2
from edge_mobilenet.models.torch_model import Block


@pytest.mark.parametrize("arch", ["mobilenet_v1", "mobilenet_v2", "conv_mobilenet_v1", "conv_mobilenet_v2"])
@pytest.mark.parametrize("resolution", [32, 57, 96])
def test_any_resolution_from_32_gives_logits(arch, resolution):
    model = build_model(arch, alpha=0.25, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, resolution, resolution))
    assert out.shape == (2, 7)


def test_v1_is_stem_plus_13_separable_blocks():
    model = mobilenet_v1()
    assert len(model.features) == 14
    stem = model.features[0][0]
    assert (stem.kernel_size, stem.stride, stem.out_channels) == ((3, 3), (2, 2), 32)
    for block in model.features[1:]:
        dw, pw = block.conv[0][0], block.conv[1][0]
        assert dw.groups == dw.in_channels == dw.out_channels and dw.kernel_size == (3, 3)
        assert pw.kernel_size == (1, 1) and pw.groups == 1
        assert isinstance(block.conv[0][2], torch.nn.ReLU)


def test_v2_shortcuts_only_where_stride_1_and_shapes_match():
    spec = build_spec("mobilenet_v2")
    residual = [b.residual for b in spec.blocks]
    # t/c/n/s table: the repeats after the first of each stage carry a shortcut (10 of them)
    assert sum(residual) == 10
    for block in spec.blocks:
        dw = [c for c in block.convs if c.depthwise]
        if block.residual:
            assert dw[0].stride == 1 and block.convs[0].in_channels == block.convs[-1].out_channels
    # linear bottleneck: the projection has no activation, every other conv has ReLU6
    for block in spec.blocks[1:-1]:
        assert block.convs[-1].activation is None
        assert all(c.activation == "relu6" for c in block.convs[:-1])


def test_v2_shortcuts_sit_where_stride_1_keeps_the_shape():
    """With its branch silenced (the last BatchNorm's scale and shift zeroed), a block with
    a shortcut passes its input through unchanged and one without does not: the built
    network has shortcuts exactly at the 10 blocks whose output shape equals their input's."""
    spec = build_spec("mobilenet_v2", 0.5)
    model = mobilenet_v2(alpha=0.5).eval()
    passes_through, same_shape = [], []
    for block, block_spec in zip(model.features[1:-1], spec.blocks[1:-1]):
        assert isinstance(block, Block)
        torch.nn.init.zeros_(block.conv[-1].weight)
        torch.nn.init.zeros_(block.conv[-1].bias)
        x = torch.randn(1, block_spec.convs[0].in_channels, 8, 8)
        with torch.no_grad():
            passes_through.append(torch.equal(block(x), x))
        same_shape.append(all(c.stride == 1 for c in block_spec.convs)
                          and block_spec.convs[0].in_channels == block_spec.convs[-1].out_channels)
    assert passes_through == same_shape and sum(passes_through) == 10


@pytest.mark.parametrize("alpha", [0.35, 0.5, 0.75, 1.0])
def test_v2_keeps_1280_last_channels_up_to_alpha_1(alpha):
    assert mobilenet_v2(alpha=alpha).classifier[1].in_features == 1280


def test_v2_widens_last_channels_above_alpha_1():
    assert mobilenet_v2(alpha=1.4).classifier[1].in_features == 1792


def test_channels_are_multiples_of_8():
    for arch in ("mobilenet_v1", "mobilenet_v2"):
        for alpha in (0.25, 0.35, 0.75, 1.3):
            for block in build_spec(arch, alpha).blocks:
                assert all(c.out_channels % 8 == 0 for c in block.convs)


def test_standard_conv_twin_replaces_each_depthwise_pointwise_pair():
    model = conv_mobilenet_v2()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.groups == 1 for c in convs)
    separable = build_spec("mobilenet_v2")
    twin = build_spec("conv_mobilenet_v2")
    for block, twin_block in zip(separable.blocks[1:-1], twin.blocks[1:-1]):
        dw, pw = block.convs[-2], block.convs[-1]
        merged = twin_block.convs[-1]
        assert (merged.kernel, merged.stride) == (dw.kernel, dw.stride)
        assert (merged.in_channels, merged.out_channels) == (dw.in_channels, pw.out_channels)
        assert merged.activation == pw.activation and not merged.depthwise
        assert twin_block.residual == block.residual


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="unknown arch"):
        build_spec("resnet50")
