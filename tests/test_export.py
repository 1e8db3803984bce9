"""`edgemb export`: real conversions of a trained Fashion-MNIST model, checked with the
real runtimes (ONNX Runtime, LiteRT) and MediaPipe's ImageClassifier."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_mobilenet.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist, preprocess_gray
from edge_mobilenet.data.preprocess import Preprocessing
from edge_mobilenet.data.preprocess import ANTIALIASED
from edge_mobilenet.tflite_metadata import read_metadata
from edge_mobilenet.export.validate import tflite_ops
from edge_mobilenet.runtime import load_runner
from tests.photos import PHOTO_DIR

EDGEMB = [sys.executable, "-m", "edge_mobilenet.cli"]


def edgemb(*args, cwd=None):
    return subprocess.run([*EDGEMB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=900)


def one_line_error(result) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def bundle(fashion_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "bundle"
    result = edgemb("export", fashion_run, "--int8", "--out", out, "--val-samples", 500)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_bundle_has_every_artifact_and_a_report(bundle):
    names = {p.name for p in bundle.iterdir()}
    assert names == {"model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite", "model.pte",
                     "model.int8.pte", "labels.txt", "edgemb.json", "report.json", "report.md"}
    info = json.loads((bundle / "edgemb.json").read_text())
    assert info["class_names"][0] == "T-shirt/top" and info["export"]["opset"] >= 17
    assert (bundle / "labels.txt").read_text().splitlines() == info["class_names"]
    assert not (bundle / "model.onnx.data").exists()  # weights inside the .onnx


def fashion_test_pixels(count: int) -> np.ndarray:
    """The last `count` Fashion-MNIST test images as the 32-pixel models take them
    (the export validated on the first 500)."""
    return preprocess_gray(load_fashion_mnist("test")[0][-count:], Preprocessing.for_resolution(32))


def test_fp32_artifacts_match_pytorch_and_int8_stays_close(bundle, fashion_run):
    report = json.loads((bundle / "report.json").read_text())
    artifacts = report["artifacts"]
    pixels = fashion_test_pixels(64)
    pytorch = load_runner(fashion_run).predict(pixels)
    for name in ("model.onnx", "model.tflite"):
        # The delivered files, on images the export never saw, against the run itself.
        assert np.abs(load_runner(bundle / name).predict(pixels) - pytorch).max() < 1e-4
        assert artifacts[name]["top1"] == pytest.approx(report["pytorch"]["top1"], abs=0.002)
    # With the calibration plan on a VNNI CPU: ONNX 98.4% / 30.4 dB, TFLite 98.8% / 31.7 dB. The
    # ONNX floor is lower for CPUs without VNNI, where ONNX Runtime's kernels lose more (with the
    # converters' own MinMax ranges: 89.6% with 8-bit weights, 94.0% with 7-bit ones: export/onnx.py).
    floors = {"model.int8.onnx": (0.90, 12), "model.int8.tflite": (0.95, 20)}
    for name, (agreement, sqnr) in floors.items():
        assert artifacts[name]["top1_agreement"] >= agreement
        assert artifacts[name]["sqnr_db"] >= sqnr
    for fmt in ("onnx", "tflite"):
        assert report["headline"][fmt]["top1_drop_points"] <= 2.0
        assert report["headline"][fmt]["size_ratio"] < 0.45
    assert "int8 vs fp32" in (bundle / "report.md").read_text()


def test_int8_tflite_is_all_int8_nhwc_with_uint8_pixels_in(bundle):
    census, _ = tflite_ops(bundle / "model.int8.tflite")
    assert census["TRANSPOSE"] == 0 and census["DEQUANTIZE"] == 0 and census["QUANTIZE"] <= 2
    runner = load_runner(bundle / "model.int8.tflite")
    details = runner.interpreter.get_input_details()[0]
    assert runner.input_shape == (1, 32, 32, 3) and details["dtype"] == np.uint8
    scale, zero_point = details["quantization"]
    assert scale == 1.0 and 0 <= zero_point <= 255  # camera bytes go in as they are
    output = runner.interpreter.get_output_details()[0]
    assert output["dtype"] == np.uint8 and list(output["shape"]) == [1, 10]
    # What an app reads: uint8 scores that dequantize to probabilities.
    probabilities = runner.predict(fashion_test_pixels(8))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=0.03)
    fp32 = load_runner(bundle / "model.tflite")
    assert fp32.input_dtype == np.float32 and tflite_ops(bundle / "model.tflite")[0]["TRANSPOSE"] == 0


@pytest.mark.parametrize("name", ["model.tflite", "model.int8.tflite"])
def test_tflite_carries_what_the_android_app_reads(bundle, name):
    meta = read_metadata((bundle / name).read_bytes())  # the app's own rules: raises if unusable
    assert meta["labels"] == CLASS_NAMES
    assert meta["input"]["shape"] == [1, 32, 32, 3] and meta["output"]["shape"] == [1, 10]
    assert meta["preprocessing"] == {"resize": 32, "crop": 32, "interpolation": ANTIALIASED}
    if meta["input"]["dtype"] == "float32":  # raw pixels as floats: normalization is inside
        assert meta["input"]["normalization"] == {"mean": [0.0], "std": [1.0]}


def test_int8_onnx_is_qdq_per_channel(bundle):
    import onnx

    graph = onnx.load(str(bundle / "model.int8.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    weight_scales = [i for i in graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1 and i.dims[0] > 1]
    assert weight_scales, "per-channel weight scales"
    zero_points = {i.data_type for i in graph.initializer if i.name.endswith("_zero_point")}
    assert onnx.TensorProto.UINT8 in zero_points  # uint8 activations


def test_mediapipe_classifies_with_the_exported_models(bundle, tmp_path):
    """MediaPipe's ImageClassifier, the client Android apps use, loads each exported
    model, names the classes and agrees with `edgemb predict` on top-1."""
    from PIL import Image

    images, labels = load_fashion_mnist("test")
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"item{i}.png")
        Image.fromarray(images[i]).convert("RGB").save(paths[-1])
    for model in ("model.tflite", "model.int8.tflite"):
        predict = edgemb("predict", bundle / model, *paths, "--json", "--top-k", "1")
        assert predict.returncode == 0, predict.stderr
        ours = [p["predictions"][0]["class"] for p in json.loads(predict.stdout)]
        result = subprocess.run([sys.executable, "-c", MEDIAPIPE_CLASSIFY, str(bundle / model), *map(str, paths)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        theirs = json.loads(result.stdout)
        assert set(theirs) <= set(CLASS_NAMES)
        assert theirs == ours


MEDIAPIPE_CLASSIFY = r'''
import json, sys
import mediapipe as mp
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core.base_options import BaseOptions
options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=sys.argv[1]), max_results=1)
with vision.ImageClassifier.create_from_options(options) as classifier:
    results = [classifier.classify(mp.Image.create_from_file(path)) for path in sys.argv[2:]]
print(json.dumps([r.classifications[0].categories[0].category_name for r in results]))
'''


def test_android_demo_gets_the_int8_model(bundle, tmp_path):
    from edge_mobilenet.export.bundle import install_in_android_demo

    app = tmp_path / "android_demo"
    (app / "app").mkdir(parents=True)
    target = install_in_android_demo(bundle, app)
    assert target == app / "app/src/main/assets/model.tflite"
    assert target.read_bytes() == (bundle / "model.int8.tflite").read_bytes()


# Bad input: one clear line, non-zero exit, nothing half-written.

def test_missing_run_dir(tmp_path):
    assert "not a run directory" in one_line_error(edgemb("export", tmp_path / "nope"))


def test_half_written_run_dir(fashion_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(fashion_run / "model.pt", run)
    assert "edgemb.json is missing" in one_line_error(edgemb("export", run, "--out", tmp_path / "b"))
    (run / "edgemb.json").write_text('{"arch": "mobilenet_v2", "alpha"')  # cut off mid-write
    assert "damaged" in one_line_error(edgemb("export", run, "--out", tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_checkpoint_from_another_architecture(fashion_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(fashion_run, run)
    info = json.loads((run / "edgemb.json").read_text())
    info["class_names"] = info["class_names"][:5]
    info["num_classes"] = 5
    (run / "edgemb.json").write_text(json.dumps(info))
    assert "does not fit" in one_line_error(edgemb("export", run, "--out", tmp_path / "b"))
    info = json.loads((fashion_run / "edgemb.json").read_text()) | {"arch": "mobilenet_v1"}
    (run / "edgemb.json").write_text(json.dumps(info))
    assert "does not fit mobilenet_v1" in one_line_error(edgemb("export", run, "--out", tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_report_records_the_int8_calibration(bundle):
    report = json.loads((bundle / "report.json").read_text())
    method = report["int8_method"]
    assert method["ranges"] == "mse" and method["bias_correction"] and method["formats"] == ["onnx", "tflite"]
    assert method["calibration_images"] == 300 and "float_layers" not in method
    assert "mse activation ranges from 300 images, bias correction" in (bundle / "report.md").read_text()


def test_mixed_precision_leaves_the_named_layers_in_float(fashion_run, tmp_path):
    import onnx

    out = tmp_path / "mixed"
    result = edgemb("export", fashion_run, "--int8", "--formats", "onnx,tflite", "--float-layers", 2,
                    "--calib-samples", 100, "--val-samples", 200, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    floats = report["int8_method"]["float_layers"]
    assert len(floats) == 2 and all(gain > 0 for gain in floats.values())  # each helps in simulation
    assert "in float: " + ", ".join(floats) in (out / "report.md").read_text()
    # ONNX: exactly those layers read float weights (no DequantizeLinear feeding their weights)
    graph = onnx.load(str(out / "model.int8.onnx")).graph
    produced_by_dq = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    layers = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]
    float_nodes = [i for i, n in enumerate(layers) if n.input[1] not in produced_by_dq]
    names = [f"conv{i}" if layers[i].op_type == "Conv" else "classifier" for i in float_nodes]
    assert sorted(names) == sorted(floats)
    # TFLite: float ops between QUANTIZE/DEQUANTIZE, still NHWC with uint8 pixels in
    census, problems = tflite_ops(out / "model.int8.tflite")
    assert census["TRANSPOSE"] == 0 and census["DEQUANTIZE"] >= 1
    assert report["artifacts"]["model.int8.tflite"]["float_ops"] >= 2
    assert load_runner(out / "model.int8.tflite").input_dtype == np.uint8
    for name in ("model.int8.onnx", "model.int8.tflite"):
        assert report["artifacts"][name]["top1_agreement"] >= 0.9


def int8_weight_peak(path: Path) -> int:
    """The largest |int8 weight| in a QDQ .onnx."""
    import onnx

    weights = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
               if t.data_type == onnx.TensorProto.INT8 and len(t.dims) > 1]
    return max(int(np.abs(w.astype(np.int32)).max()) for w in weights)


def test_onnx_weights_are_7_bit_unless_asked(bundle, fashion_run, tmp_path):
    assert int8_weight_peak(bundle / "model.int8.onnx") <= 64
    out = tmp_path / "full"
    result = edgemb("export", fashion_run, "--int8", "--formats", "onnx", "--onnx-8bit-weights",
                    "--calib-samples", 100, "--val-samples", 200, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int8_weight_peak(out / "model.int8.onnx") == 127
    assert json.loads((out / "report.json").read_text())["int8_method"]["onnx_weight_bits"] == 8


def test_bad_calibration_ranges(fashion_run, tmp_path):
    result = edgemb("export", fashion_run, "--int8", "--calib-ranges", "entropy", "--out", tmp_path / "b")
    assert result.returncode == 2 and "minmax, percentile, mse" in one_line_error(result)
    result = edgemb("export", fashion_run, "--float-layers", 2, "--out", tmp_path / "b")
    assert result.returncode == 2 and "--float-layers only shape int8 files: add --int8" in one_line_error(result)


def test_existing_output_needs_force(fashion_run, tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert "--force" in one_line_error(edgemb("export", fashion_run, "--out", out))
    assert (out / "keep.txt").read_text() == "mine"


def test_empty_calibration_folder(fashion_run, tmp_path):
    empty = tmp_path / "photos"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    line = one_line_error(edgemb("export", fashion_run, "--int8", "--calib-data", empty, "--out", tmp_path / "b"))
    assert "image" in line
    assert not (tmp_path / "b").exists() and [p.name for p in tmp_path.iterdir()] == ["photos"]


def test_bad_formats():
    result = edgemb("export", "anything", "--formats", "onnx,coreml")
    assert result.returncode == 2 and "--formats" in one_line_error(result)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount a small tmpfs")
def test_disk_full_leaves_nothing(fashion_run, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        result = edgemb("export", fashion_run, "--out", disk / "bundle", "--formats", "onnx")
        assert "no space left on device" in one_line_error(result) and "nothing was written" in result.stderr
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)])


def test_photos_calibrate_a_pretrained_run(tmp_path):
    """An ImageNet run has no data of its own: a folder of real photos calibrates and validates it."""
    run = tmp_path / "imagenet"
    result = edgemb("pretrained", "mobilenet_v2", "--out", run)
    assert result.returncode == 0, result.stderr
    line = one_line_error(edgemb("export", run, "--int8", "--out", tmp_path / "b"))
    assert "--calib-data" in line
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in list(PHOTO_DIR.glob("*.png"))[:12]:
        shutil.copy(p, photos)
    result = edgemb("export", run, "--int8", "--formats", "tflite", "--calib-data", photos,
                    "--out", tmp_path / "b")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fewer than 100" in result.stderr  # the warning for a small calibration set
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["labelled"] is False and report["artifacts"]["model.tflite"]["max_abs_diff"] < 1e-4


# The per-layer int8 report (export/layer_report.py)

def test_int8_artifacts_report_the_sqnr_of_every_layer(bundle, fashion_run):
    from edge_mobilenet.quantization import quantized_points
    from edge_mobilenet.run import load_run

    names = quantized_points(load_run(fashion_run)[1].spec)
    report = json.loads((bundle / "report.json").read_text())
    markdown = (bundle / "report.md").read_text()
    for name in ("model.int8.onnx", "model.int8.tflite"):
        artifact = report["artifacts"][name]
        layers = artifact["layers"]
        assert [layer["name"] for layer in layers] == names
        assert all(np.isfinite(layer["sqnr_db"]) for layer in layers)
        # Measured on this fixture: conv0 48 dB, conv1 39-41, conv2 34-37, the last conv ~20 dB.
        assert min(layer["sqnr_db"] for layer in layers[:3]) > 30
        assert min(layer["sqnr_db"] for layer in layers) > 10
        worst = artifact["worst_layers"]
        assert len(worst) == 3 and set(worst) <= set(names)
        line = next(line for line in markdown.splitlines() if line.startswith(f"- **{name} worst layers**"))
        assert all(layer in line for layer in worst)
    assert all(f"| {layer} |" in markdown for layer in names)  # the per-layer table
    assert "layers" not in report["artifacts"]["model.onnx"]  # fp32: nothing to compare


def test_layer_report_names_a_layer_quantized_badly_on_purpose(fashion_run, tmp_path):
    """An int8 ONNX whose conv20 range is 50 times too small: that layer loses the most SQNR."""
    from edge_mobilenet.data import calibration_images, load_split
    from edge_mobilenet.data.preprocess import normalize
    from edge_mobilenet.export.calibration import plan_int8
    from edge_mobilenet.export.layer_report import layer_report, worst_layers
    from edge_mobilenet.export.onnx import export_onnx, quantize_onnx
    from edge_mobilenet.export.report import worst_layers_line
    from edge_mobilenet.quantization import folded_weights
    from edge_mobilenet.run import load_run

    info, model = load_run(fashion_run)
    pre = info.preprocessing
    calibration = calibration_images("fashion-mnist", pre, 100)
    inputs = np.ascontiguousarray(normalize(calibration, pre).transpose(0, 3, 1, 2))
    weights = folded_weights(model)
    plan = plan_int8(model.spec, weights, inputs, ranges="minmax", bias_correction=False)
    low, high = plan.ranges["conv20"]
    plan.ranges["conv20"] = (low, high / 50)  # clips nearly every activation
    export_onnx(model, info.resolution, tmp_path / "model.onnx")
    quantize_onnx(tmp_path / "model.onnx", tmp_path / "model.int8.onnx", inputs, plan=plan)
    layers = layer_report(tmp_path / "model.int8.onnx", model.spec, weights,
                          load_split(info.dataset, "val", pre, limit=32).pixels, pre)
    worst = worst_layers(layers)
    assert worst[0] == "conv20"
    assert worst_layers_line({"layers": layers, "worst_layers": worst}).startswith("largest SQNR drops conv20")
    by_name = {layer["name"]: layer for layer in layers}
    assert by_name["conv20"]["drop_db"] > 10 and by_name["conv19"]["sqnr_db"] > 20


def test_layer_report_refuses_a_graph_that_does_not_match_the_network():
    from edge_mobilenet.export.layer_report import point_names

    assert point_names(["conv", None, "conv", "pool", "logits"], ["conv0", "conv1", "pool", "logits"]) == \
        ["conv0", None, "conv1", "pool", "logits"]
    with pytest.raises(RuntimeError, match="quantized ops"):
        point_names(["conv", "pool", "logits"], ["conv0", "conv1", "pool", "logits"])
