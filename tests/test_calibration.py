"""export.calibration on a real trained model (the session's Fashion-MNIST run)."""
import numpy as np
import torch

from edge_mobilenet.data.fashion_mnist import load_fashion_mnist, preprocess_gray
from edge_mobilenet.data.preprocess import normalize
from edge_mobilenet.export.calibration import activation_ranges, correct_biases, plan_int8, simulate
from edge_mobilenet.metrics import sqnr_db
from edge_mobilenet.quantization import folded_weights, quantized_points
from edge_mobilenet.run import load_run


def fashion_inputs(info, start: int, count: int) -> np.ndarray:
    pixels = preprocess_gray(load_fashion_mnist("train")[0][start:start + count], info.preprocessing)
    return np.ascontiguousarray(normalize(pixels, info.preprocessing).transpose(0, 3, 1, 2))


def test_folded_network_is_the_model(fashion_run):
    info, model = load_run(fashion_run)
    x = fashion_inputs(info, 0, 16)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).softmax(1).numpy()
    assert np.abs(simulate(model.spec, folded_weights(model), x, None) - expected).max() < 1e-5


def test_bias_correction_removes_the_mean_shift(fashion_run):
    """int8's mean shift of the output (per class, over the images it was corrected on)
    shrinks once the biases are corrected; the fp32 network is the reference throughout."""
    info, model = load_run(fashion_run)
    weights, x = folded_weights(model), fashion_inputs(info, 0, 64)
    ranges = activation_ranges(model.spec, weights, x, "mse")
    corrected, shifts = correct_biases(model.spec, weights, x, ranges)
    assert set(shifts) == {p for p in quantized_points(model.spec) if p.startswith("conv")} | {"classifier"}
    reference = simulate(model.spec, weights, x, None).mean(0)
    before = np.abs(simulate(model.spec, weights, x, ranges).mean(0) - reference).sum()
    after = np.abs(simulate(model.spec, corrected, x, ranges).mean(0) - reference).sum()
    assert after < 0.7 * before


def test_plan_stays_closer_to_fp32_than_minmax_on_other_images(fashion_run):
    """The default plan (mse ranges, bias correction) against plain MinMax ranges, in the
    simulation every backend follows, on images calibration never saw."""
    info, model = load_run(fashion_run)
    weights, calibration, held_out = folded_weights(model), fashion_inputs(info, 0, 200), fashion_inputs(info, 200, 200)
    reference = simulate(model.spec, weights, held_out, None)
    plan = plan_int8(model.spec, weights, calibration)
    minmax = activation_ranges(model.spec, weights, calibration, "minmax")
    assert sqnr_db(reference, simulate(model.spec, plan.weights, held_out, plan.ranges)) > \
        sqnr_db(reference, simulate(model.spec, weights, held_out, minmax))
