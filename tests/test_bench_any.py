"""`edgemb bench` on any model (issue 13): MACs read from the graph agree exactly with
the cost model in every format, models without edgemb.json, the model's own memory,
thread sweeps, the twin's input, no silent normalization guess, tables that survive
a pipe, and no rate from a profile too coarse to divide by."""
import json
import shutil

import numpy as np
import pytest

from edge_mobilenet.bench.harness import Settings, benchmark
from edge_mobilenet.bench.models import open_models
from edge_mobilenet.bench.op_layers import rollup_ops
from edge_mobilenet.cost import profile
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.runtime import load_runner
from tests.test_bench import FAST, assert_one_line_error, bundle, cpu, run, tflite_bundle  # noqa: F401

MIB = 2 ** 20


def assert_graph_matches(graph, cost, name):
    """MACs exactly; parameters as the graph holds them: between the weights alone
    (an exporter may drop the classifier's zero bias) and BatchNorm's shift folded in."""
    assert graph.macs == cost.macs, name
    assert [layer["kind"] for layer in graph.layers] == [layer.kind for layer in cost.layers], name
    assert cost.params - cost.num_classes <= graph.params <= cost.params + cost.bn_params // 2, name


def test_graph_macs_equal_the_cost_model_exactly(bundle):
    cost = profile("mobilenet_v2", 0.35, 48, 10)
    for path in (bundle, bundle / "model.onnx", bundle / "model.int8.onnx"):
        assert_graph_matches(load_runner(path).graph_cost(), cost, path.name)
    assert load_runner(bundle).graph_cost().params == cost.params  # PyTorch: the modules themselves


@pytest.mark.slow
def test_tflite_graph_macs_equal_the_cost_model_exactly(tflite_bundle):
    cost = profile("mobilenet_v2", 0.35, 48, 10)
    for name in ("model.tflite", "model.int8.tflite"):
        assert_graph_matches(load_runner(tflite_bundle / name).graph_cost(), cost, name)


def test_a_model_without_edgemb_json_is_benchmarked_from_its_graph(bundle, cpu, tmp_path):
    shutil.copy(bundle / "model.int8.onnx", tmp_path / "loose.onnx")
    record = benchmark(open_models([tmp_path / "loose.onnx"]), cpu, FAST)
    r = record["results"][0]
    assert r["macs"] == profile("mobilenet_v2", 0.35, 48, 10).macs and r["macs_from"] == "graph"
    assert r["arch"] is None and "no edgemb.json" in r["unknown"]
    assert r["parity"]["max_abs_diff"] == 0.0 and r["op_profile"]["total_ms"] > 0
    assert r["peak_memory_bytes"] < 64 * MIB
    # within its bundle the same file is checked against its arch
    r = benchmark(open_models([bundle / "model.int8.onnx"]), cpu, FAST)["results"][0]
    assert r["cost_check"]["agree"] and r["macs_from"] == "arch (edgemb.json)"


def test_eval_of_a_model_without_edgemb_json_says_what_is_missing(bundle, tmp_path):
    shutil.copy(bundle / "model.onnx", tmp_path / "loose.onnx")
    assert_one_line_error(run("eval", str(tmp_path / "loose.onnx")), "no edgemb.json", "class names")


def test_thread_sweep_measures_each_count(bundle, cpu, tmp_path):
    record = benchmark(open_models([bundle / "model.int8.onnx"]), cpu, Settings(threads=(1, 2), runs=3, warmup=1))
    assert record["settings"]["threads"] == 1 and record["settings"]["thread_counts"] == [1, 2]
    r = record["results"][0]
    assert [t["threads"] for t in r["threads"]] == [1, 2]
    assert r["threads"][0]["speedup"] == 1.0 and r["threads"][0]["latency_ms"] == r["latency_ms"]
    two = r["threads"][1]
    assert two["speedup"] == pytest.approx(r["latency_ms"]["median"] / two["latency_ms"]["median"])
    assert len(two["latency_ms"]["samples"]) == 3 and two["peak_memory_bytes"] < 64 * MIB

    result = run("bench", str(bundle / "model.onnx"), "--threads", "1,2", "--runs", "2", "--warmup", "0",
                 "--json", str(tmp_path / "t.json"))
    assert result.returncode == 0, result.stderr
    assert "Threads" in result.stdout
    assert [t["threads"] for t in json.loads((tmp_path / "t.json").read_text())["results"][0]["threads"]] == [1, 2]
    assert_one_line_error(run("bench", str(bundle), "--threads", "1,zero"), "--threads")


def test_the_twin_gets_exactly_the_models_input(bundle, cpu):
    record = benchmark(open_models([bundle / "model.int8.onnx"]), cpu, FAST, compare_conv=True)
    r = record["results"][0]
    assert r["conv_comparison"]["twin"]["input"] == r["input"]  # shape, dtype, how made, and the bytes' sha256


def test_piped_tables_keep_every_figure_whole(bundle):
    narrow = run("bench", str(bundle / "model.onnx"), "--runs", "2", "--warmup", "0", columns="40")
    assert narrow.returncode == 0, narrow.stderr
    assert "…" not in narrow.stdout and "GMAC/s" in narrow.stdout


def test_a_profile_coarser_than_the_model_gives_no_rate():
    """LiteRT counts whole µs: a 20 µs model whose ops add up to 4 µs must not print GMAC/s."""
    layers = profile("mobilenet_v1", 0.25, 32, 10).layers
    ops = [{"op": "Conv2D" if layer.kind != "linear" else "FULLY_CONNECTED", "node": str(i), "ms": 0.0001}
           for i, layer in enumerate(layers)]
    coarse = rollup_ops(ops, layers, latency_ms=0.02)
    assert coarse["resolved"] is False
    assert all(kind["gmacs_per_s"] is None for kind in coarse["by_kind"].values())
    fine = rollup_ops(ops, layers, latency_ms=0.003)
    assert fine["resolved"] and fine["by_kind"]["conv"]["gmacs_per_s"] > 0


@pytest.mark.slow
def test_float_tflite_without_readable_normalization_is_an_error(tflite_bundle, tmp_path):
    from PIL import Image

    data = (tflite_bundle / "model.tflite").read_bytes()
    shutil.copy(tflite_bundle / "edgemb.json", tmp_path / "edgemb.json")
    # the metadata buffer renamed: the model runs as before, its normalization is unreadable
    (tmp_path / "model.tflite").write_bytes(data.replace(b"TFLITE_METADATA", b"NO_METADATA_HER"))
    runner = load_runner(tmp_path / "model.tflite")
    with pytest.raises(EdgembError, match="normalization .* cannot be read from its TFLite metadata"):
        runner.prepare(np.zeros((1, 48, 48, 3), np.uint8))
    Image.new("RGB", (64, 64), (120, 60, 30)).save(tmp_path / "photo.png")
    assert_one_line_error(run("predict", str(tmp_path / "model.tflite"), str(tmp_path / "photo.png")),
                          "normalization")


@pytest.mark.slow
def test_tflite_twins_carry_the_same_metadata_and_input(tflite_bundle, cpu):
    """--compare-conv once fed the fp32 twin input normalized twice: it had no metadata."""
    record = benchmark(open_models([tflite_bundle / "model.tflite"]), cpu, FAST, compare_conv=True)
    r = record["results"][0]
    assert r["conv_comparison"]["twin"]["input"] == r["input"]
    assert r["input"]["source"] == "the model's own input contract"
