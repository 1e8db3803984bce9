import pytest

from edge_mobilenet.cost import profile

# (arch, alpha, resolution, published MACs in millions, published params in millions)
# MobileNet v1: Tables 6 and 7 of the paper; Conv MobileNet: Table 4.
# MobileNet v2: the paper's Table 3/6 and its reference implementation's model table.
PUBLISHED = [
    ("mobilenet_v1", 1.0, 224, 569, 4.2),
    ("mobilenet_v1", 0.75, 224, 325, 2.6),
    ("mobilenet_v1", 0.5, 224, 149, 1.3),
    ("mobilenet_v1", 0.25, 224, 41, 0.5),
    ("mobilenet_v1", 1.0, 192, 418, 4.2),
    ("mobilenet_v1", 1.0, 160, 290, 4.2),
    ("mobilenet_v1", 1.0, 128, 186, 4.2),
    ("conv_mobilenet_v1", 1.0, 224, 4866, 29.3),
    ("mobilenet_v2", 1.0, 224, 300, 3.4),
    ("mobilenet_v2", 1.4, 224, 585, 6.1),
    ("mobilenet_v2", 0.75, 224, 209, 2.6),
    ("mobilenet_v2", 0.5, 224, 97, 1.95),
    ("mobilenet_v2", 0.35, 224, 59, 1.66),
    ("mobilenet_v2", 1.0, 160, 154, 3.4),
    ("mobilenet_v2", 1.0, 96, 56, 3.4),
]


@pytest.mark.parametrize("arch,alpha,resolution,macs_m,params_m", PUBLISHED)
def test_reproduces_published_figures(arch, alpha, resolution, macs_m, params_m):
    p = profile(arch, alpha, resolution)
    assert p.macs / 1e6 == pytest.approx(macs_m, rel=0.006)
    # the papers print params to one decimal (v2 1.0: 3.47M is printed 3.4M)
    assert p.params / 1e6 == pytest.approx(params_m, abs=0.08)


def test_v2_matches_torchvision_counts_exactly():
    p = profile("mobilenet_v2")
    assert p.params + p.bn_params == 3_504_872  # torchvision's documented parameter count
    assert p.macs == 300_774_272


def test_layer_kinds_and_linear_cost():
    p = profile("mobilenet_v1", num_classes=10)
    kinds = [layer.kind for layer in p.layers]
    assert kinds[0] == "conv" and kinds[-1] == "linear"
    assert kinds.count("depthwise") == kinds.count("pointwise") == 13
    assert p.layers[-1].macs == 1024 * 10 and p.layers[-1].params == 1024 * 10 + 10


def test_separable_pairs_follow_the_formula():
    p = profile("mobilenet_v1")
    assert len(p.separable) == 13
    for s in p.separable:
        assert s.dw_macs == s.kernel ** 2 * s.in_channels * s.out_size ** 2
        assert s.pw_macs == s.in_channels * s.out_channels * s.out_size ** 2
        assert s.standard_macs == s.kernel ** 2 * s.in_channels * s.out_channels * s.out_size ** 2
        # for DW+PW the counted ratio is exactly the paper's 1/N + 1/Dk^2
        assert s.ratio == pytest.approx(s.formula_ratio, rel=1e-12)
        assert s.formula_ratio == pytest.approx(1 / s.out_channels + 1 / 9)


def test_separable_sum_matches_twin_cost():
    # The twin replaces each pair by the standard conv the formula prices.
    separable, twin = profile("mobilenet_v1"), profile("conv_mobilenet_v1")
    saved = sum(s.standard_macs - s.dw_macs - s.pw_macs for s in separable.separable)
    assert twin.macs - separable.macs == saved
    assert 8 < twin.macs / separable.macs < 9  # the paper's "8 to 9 times"


def test_v2_pairs_use_expanded_channels():
    pairs = profile("mobilenet_v2").separable
    assert len(pairs) == 17
    assert (pairs[1].in_channels, pairs[1].out_channels) == (96, 24)  # 16*6 expanded -> 24
