"""`edgemb bench`: model resolution, timing records, per-op rollup, parity, the
standard-conv comparison, the report and bad input, on real models run by the
real local target (and, marked slow, TFLite conversion and emulated ARM64)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge_mobilenet.bench.harness import Settings, benchmark, latency_stats, parity_pixels
from edge_mobilenet.bench.models import open_models, resolve_models
from edge_mobilenet.bench.op_layers import assign_layers
from edge_mobilenet.bench.report import html_page
from edge_mobilenet.bench.targets import get_target
from edge_mobilenet.bench.twin import export_random
from edge_mobilenet.cost import profile
from edge_mobilenet.data.preprocess import Preprocessing
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.run import RunInfo

EDGEMB = [sys.executable, "-m", "edge_mobilenet.cli"]
FAST = Settings(threads=1, runs=3, warmup=1)


def tiny_info(arch: str = "mobilenet_v2") -> RunInfo:
    return RunInfo(arch, 0.35, 48, [f"class {i}" for i in range(10)], Preprocessing.for_resolution(48))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A run directory that is also an export bundle: model.pt, model.onnx, model.int8.onnx."""
    folder = tmp_path_factory.mktemp("bundle")
    info = tiny_info()
    export_random(info, "pytorch", "fp32", None, folder)
    export_random(info, "onnx", "int8", parity_pixels(info.preprocessing), folder)
    return folder


@pytest.fixture(scope="module")
def tflite_bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tflite")
    info = tiny_info()
    export_random(info, "tflite", "int8", parity_pixels(info.preprocessing), folder)
    return folder


@pytest.fixture(scope="module")
def cpu():
    return get_target("cpu")


def run(*args, timeout=600, columns="200"):
    env = {**os.environ, "COLUMNS": columns}  # what a terminal's width would say to rich
    return subprocess.run([*EDGEMB, *args], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(r, *needles):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr
    assert lines[-1].startswith("Error:"), r.stderr
    assert len([line for line in lines if line.startswith("Error:")]) == 1
    for needle in needles:
        assert needle in lines[-1], lines[-1]


def test_a_bundle_folder_is_all_its_models_in_a_stable_order(bundle):
    assert resolve_models([bundle]) == [bundle, bundle / "model.onnx", bundle / "model.int8.onnx"]
    # a file names itself; the same model twice is benchmarked once
    assert resolve_models([bundle / "model.onnx", bundle / "model.onnx"]) == [bundle / "model.onnx"]


@pytest.mark.parametrize("make,message", [
    (lambda tmp: tmp / "missing.tflite", "does not exist"),
    (lambda tmp: (tmp / "notes.txt").write_text("hi") and tmp / "notes.txt", "not a model edgemb can benchmark"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no model"),
])
def test_unusable_paths_are_refused_before_any_work(tmp_path, make, message):
    with pytest.raises(EdgembError, match=message):
        resolve_models([make(tmp_path)])


def test_latency_statistics():
    stats = latency_stats([4.0, 1.0, 3.0, 2.0, 10.0])
    assert (stats["median"], stats["min"], stats["mean"]) == (3.0, 1.0, 4.0)
    assert stats["p90"] == pytest.approx(7.6)  # linear interpolation between 4 and 10
    assert stats["std"] == pytest.approx(np.std([4, 1, 3, 2, 10], ddof=1))


def test_parity_inputs_are_real_images_through_the_runs_preprocessing():
    pixels = parity_pixels(tiny_info().preprocessing)
    assert pixels.shape == (8, 48, 48, 3) and pixels.dtype == np.uint8
    assert len({p.tobytes() for p in pixels}) == 8 and pixels.std() > 10  # eight different pictures


def test_every_format_gets_the_same_cost_and_a_full_record(bundle, cpu):
    record = benchmark(open_models([bundle]), cpu, FAST)
    cost = profile("mobilenet_v2", 0.35, 48, 10)
    assert record["device"]["emulated"] is False and record["device"]["machine"]["cores"] >= 1
    assert [(r["format"], r["precision"]) for r in record["results"]] == [
        ("pytorch", "fp32"), ("onnx", "fp32"), ("onnx", "int8")]
    for r in record["results"]:
        assert (r["macs"], r["params"]) == (cost.macs, cost.params)
        assert len(r["latency_ms"]["samples"]) == 3
        assert r["latency_ms"]["min"] <= r["latency_ms"]["median"] <= r["latency_ms"]["p90"]
        assert r["gmacs_per_s"] == pytest.approx(cost.macs / (r["latency_ms"]["median"] * 1e6))
        # the model's own memory: more than its weights, far less than the process with its runtime
        assert r["size_bytes"] / 2 < r["peak_memory_bytes"] < min(64 * 2 ** 20, r["peak_rss_bytes"]), r["label"]
        assert r["cost_check"] == {"arch_macs": cost.macs, "graph_macs": cost.macs, "agree": True}
        # here target and host are one machine and one runtime: identical outputs
        assert r["parity"] == {"images": 8, "max_abs_diff": 0.0, "top1_agreement": 1.0}
    sizes = {Path(r["model"]).name: r["size_bytes"] for r in record["results"]}
    assert sizes == {bundle.name: (bundle / "model.pt").stat().st_size,
                     "model.onnx": (bundle / "model.onnx").stat().st_size,
                     "model.int8.onnx": (bundle / "model.int8.onnx").stat().st_size}
    json.dumps(record)  # the --json record is plain JSON


def test_per_op_times_map_onto_our_layers(bundle, cpu):
    """ONNX Runtime's nodes and PyTorch's modules, one to one with the cost model's layers."""
    record = benchmark(open_models([bundle]), cpu, FAST)
    cost = profile("mobilenet_v2", 0.35, 48, 10)
    for r in record["results"]:
        ops = r["op_profile"]
        assert ops["layers_mapped"], r["label"]
        assert [row["name"] for row in ops["layers"]] == [layer.name for layer in cost.layers]
        assert ops["by_kind"]["depthwise"]["count"] == 17  # MobileNetV2's depthwise convs
        assert sum(k["macs"] for k in ops["by_kind"].values()) == cost.macs
        assert sum(k["share"] for k in ops["by_kind"].values()) == pytest.approx(1.0)
        # the conv and FC layers take most of the profiled time, and the profile most of the latency
        assert sum(row["ms"] for row in ops["layers"]) > 0.5 * ops["total_ms"]
        assert ops["resolved"] and ops["total_ms"] > 0.5 * r["latency_ms"]["median"]


def test_ops_that_do_not_match_the_layers_fall_back_to_op_names(bundle, cpu):
    runner = open_models([bundle / "model.onnx"])[0]
    inputs = runner.prepare(parity_pixels(runner.info.preprocessing))
    ops = cpu.run(runner.path, inputs, runs=2, warmup=0, profile_ops=True)["op_profile"]
    layers = profile("mobilenet_v2", 0.35, 48, 10).layers
    assert assign_layers(ops, layers) is not None
    convs = [i for i, op in enumerate(ops) if op["op"] == "Conv"]
    assert assign_layers(ops[:convs[5]] + ops[convs[5] + 1:], layers) is None  # one conv lost
    gemm = next(op for op in ops if op["op"] == "Gemm")
    stem = convs[0]
    assert assign_layers(ops[:stem] + [gemm] + ops[stem + 1:], layers) is None  # an FC op is no 3x3 conv


def test_compare_conv_sets_the_formula_against_measurement(bundle, cpu):
    record = benchmark(open_models([bundle / "model.onnx"]), cpu, FAST, compare_conv=True)
    c = record["conv_comparison"]
    assert c is record["results"][0]["conv_comparison"]
    separable, standard = profile("mobilenet_v2", 0.35, 48, 10), profile("conv_mobilenet_v2", 0.35, 48, 10)
    assert c["twin"]["arch"] == "conv_mobilenet_v2" and c["twin"]["format"] == "onnx"
    assert c["theoretical_mac_ratio"]["model"] == pytest.approx(standard.macs / separable.macs)
    assert c["theoretical_mac_ratio"]["unchanged"] == 1.0
    assert c["measured_latency_ratio"]["model"] == pytest.approx(
        c["twin"]["latency_ms"]["median"] / record["results"][0]["latency_ms"]["median"])
    # standard convs are slower than what they replace; the layers both share take about as long
    for key in ("model", "separable", "depthwise", "pointwise"):
        assert c["measured_latency_ratio"][key] > 1, key
    assert 0.5 < c["measured_latency_ratio"]["unchanged"] < 2
    assert len(c["layers"]) == len(separable.separable) == 17
    for pair, counted in zip(c["layers"], separable.separable):
        assert pair["formula_ratio"] == pytest.approx(1 / pair["out_channels"] + 1 / pair["kernel"] ** 2)
        # the paper's formula is exact for MAC counts: standard / separable = 1 / (1/N + 1/Dk²)
        assert pair["theoretical_mac_ratio"] == pytest.approx(1 / pair["formula_ratio"])
        assert pair["standard_macs"] == counted.standard_macs
    assert np.median([pair["measured_latency_ratio"] for pair in c["layers"]]) > 1


def test_html_report_is_one_self_contained_page(bundle, cpu):
    record = benchmark(open_models([bundle / "model.int8.onnx"]), cpu, FAST, compare_conv=True)
    page = html_page(record)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count('src="data:image/png;base64,') == 5  # latency, time split, speed-up, GMAC/s, per layer
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from anywhere
    assert "theoretical MAC ratio" in page and "1/N + 1/Dk²" in page


def test_emulated_latency_is_shown_only_relative(bundle, cpu):
    record = benchmark(open_models([bundle / "model.onnx", bundle / "model.int8.onnx"]), cpu, FAST)
    record["device"]["emulated"] = True  # what an emulated target reports (see the slow ARM64 test)
    page = html_page(record)
    assert "median (relative)" in page and "1.00×" in page
    assert "median ms" not in page
    assert f"{record['results'][1]['latency_ms']['median']:.3f}" not in page


def test_cli_writes_json_and_report(bundle, tmp_path):
    r = run("bench", str(bundle), "--runs", "3", "--warmup", "1", "--json", str(tmp_path / "b.json"),
            "--report", str(tmp_path / "b.html"))
    assert r.returncode == 0, r.stderr
    assert "Latency" in r.stdout and "model.int8.onnx" in r.stdout
    record = json.loads((tmp_path / "b.json").read_text())
    assert {"machine", "emulated"} <= set(record["device"])
    for result in record["results"]:
        assert {"model", "format", "precision", "latency_ms", "macs", "params", "size_bytes", "parity"} <= set(result)
        assert {"median", "p90", "min", "mean", "std"} <= set(result["latency_ms"])
        assert {"max_abs_diff", "top1_agreement"} <= set(result["parity"])
    assert (tmp_path / "b.html").read_text().count("data:image/png;base64,") >= 2


def test_cli_bad_input_is_one_line(bundle, tmp_path):
    (tmp_path / "edgemb.json").write_text((bundle / "edgemb.json").read_text())
    (tmp_path / "junk.onnx").write_bytes(b"not a model at all")
    dynamic = onnx.load(str(bundle / "model.onnx"))
    dynamic.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(dynamic, str(tmp_path / "dynamic.onnx"))
    assert_one_line_error(run("bench", str(tmp_path / "junk.onnx")), "not a valid ONNX model")
    assert_one_line_error(run("bench", str(tmp_path / "dynamic.onnx")), "dynamic input shape")
    assert_one_line_error(run("bench", str(tmp_path / "nothing.tflite")), "does not exist")
    assert_one_line_error(run("bench", str(bundle), "--runs", "0"), "--runs")
    assert_one_line_error(run("bench", str(bundle), "--device", "gpu"), "--device")


def test_cli_refuses_what_cannot_be_compared(tmp_path):
    info = tiny_info("conv_mobilenet_v2")
    export_random(info, "pytorch", "fp32", None, tmp_path)
    assert_one_line_error(run("bench", str(tmp_path), "--compare-conv"), "no depthwise separable convs")


@pytest.mark.slow
def test_truncated_tflite_is_one_line(tflite_bundle, tmp_path):
    data = (tflite_bundle / "model.int8.tflite").read_bytes()
    (tmp_path / "edgemb.json").write_text((tflite_bundle / "edgemb.json").read_text())
    (tmp_path / "model.tflite").write_bytes(data[:len(data) // 2])
    assert_one_line_error(run("bench", str(tmp_path / "model.tflite")), "not a valid .tflite model")


@pytest.mark.slow
def test_tflite_ops_map_onto_our_layers_and_compare(tflite_bundle, cpu):
    """LiteRT's XNNPACK ops (a 1x1 conv runs as "Fully Connected"), fp32 and int8, and their twins."""
    record = benchmark(open_models([tflite_bundle]), cpu, FAST, compare_conv=True)
    assert [(r["format"], r["precision"]) for r in record["results"]] == [("tflite", "fp32"), ("tflite", "int8")]
    for r in record["results"]:
        assert r["op_profile"]["layers_mapped"], r["label"]
        assert r["parity"]["max_abs_diff"] == 0.0
        c = r["conv_comparison"]
        assert c["twin"]["precision"] == r["precision"] and c["twin"]["op_profile"]["layers_mapped"]
        assert all(c["measured_latency_ratio"][key] > 1 for key in ("model", "separable", "depthwise"))


@pytest.mark.slow
def test_emulated_arm64_int8_is_bit_identical_and_relative(tflite_bundle, tmp_path):
    r = run("bench", str(tflite_bundle / "model.int8.tflite"), str(tflite_bundle / "model.tflite"),
            "--device", "arm64", "--runs", "2", "--warmup", "0", "--json", str(tmp_path / "arm.json"),
            "--report", str(tmp_path / "arm.html"), timeout=1800)
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "arm.json").read_text())
    assert record["device"]["emulated"] is True and record["device"]["machine"]["arch"] == "aarch64"
    int8, fp32 = record["results"]
    assert int8["parity"]["max_abs_diff"] == 0.0  # int8 LiteRT: the same bytes on x86 and ARM
    assert fp32["parity"]["max_abs_diff"] < 1e-5 and fp32["parity"]["top1_agreement"] == 1.0
    assert "median (relative)" in r.stdout and "median ms" not in r.stdout
    assert "EMULATED" in r.stdout
