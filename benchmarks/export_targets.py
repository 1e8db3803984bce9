"""Issue 4's targets, measured against references built in the same run.

    .venv/bin/python benchmarks/export_targets.py RUN_DIR [--pretrained-run RUN_DIR] [--runs 200]

For a trained Fashion-MNIST run it exports fp32 + int8 ONNX and TFLite (all 10k
test images validated) and measures:
  - int8 top-1 drop vs fp32 (target <= 0.5 points), int8 size vs fp32 (<= 30%)
  - int8 vs fp32 latency on LiteRT and ONNX Runtime, 1 thread (target >= 1.8x)
  - our int8 .tflite vs keras.applications.MobileNetV2 (same alpha and resolution)
    converted to full int8 by TFLiteConverter (target: no slower)
  - ONNX Runtime int8 variants: uint8 vs int8 activations (why QDQ U8S8 is the default)
and, with --pretrained-run (an `edgemb pretrained` run), the export time of
MobileNetV2 1.0-224 (four artifacts + validation). Latencies are medians of
interleaved runs, reported as ratios. Results: benchmarks/results/export_targets.{md,json}.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_info  # noqa: E402
from edge_mobilenet.data import calibration_images  # noqa: E402
from edge_mobilenet.export.bundle import export_bundle  # noqa: E402
from edge_mobilenet.run import read_run_info  # noqa: E402
from edge_mobilenet.runtime import load_runner  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

KERAS_REFERENCE = r'''
import sys, numpy as np, tensorflow as tf, keras
alpha, resolution, classes, calib, out = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
model = keras.applications.MobileNetV2(input_shape=(resolution, resolution, 3), alpha=alpha, weights=None,
                                       classes=classes)
pixels = np.load(calib).astype(np.float32) / 127.5 - 1  # keras.applications' own preprocessing
converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
converter.representative_dataset = lambda: ([p[None]] for p in pixels)
converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
converter.inference_input_type = tf.uint8
converter.inference_output_type = tf.uint8
open(out, "wb").write(converter.convert())
'''


def interleaved_medians(runners: dict, runs: int, warmup: int = 20) -> dict[str, float]:
    """Median latency (ms) of each runner, timing them in turn so machine noise hits all alike."""
    tensors = {}
    for name, runner in runners.items():
        tensors[name] = runner.prepare(np.zeros(runner.info.resolution ** 2 * 3, np.uint8).reshape(
            runner.info.resolution, runner.info.resolution, 3))
        for _ in range(warmup):
            runner.invoke(tensors[name])
    times = {name: [] for name in runners}
    for _ in range(runs):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.invoke(tensors[name])
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t) * 1e3) for name, t in times.items()}


def onnx_activation_variants(bundle: Path, calibration: np.ndarray, info, work: Path) -> dict:
    """Quantize the same fp32 ONNX with int8 activations too, to compare with our uint8 default."""
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    from edge_mobilenet.data.preprocess import normalize
    from edge_mobilenet.export.onnx import Calibration

    prepared, s8s8 = work / "prepared.onnx", work / "model.int8.onnx"
    quant_pre_process(str(bundle / "model.onnx"), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(s8s8), Calibration(normalize(calibration, info.preprocessing)
                                                           .transpose(0, 3, 1, 2).copy()),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    (work / "edgemb.json").write_text((bundle / "edgemb.json").read_text())
    return {"fp32": load_runner(bundle / "model.onnx"), "int8 (U8S8, ours)": load_runner(bundle / "model.int8.onnx"),
            "int8 (S8S8)": load_runner(s8s8)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--pretrained-run", type=Path)
    parser.add_argument("--calib-data", default="fashion-mnist")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    info = read_run_info(args.run)
    record = {"machine": machine_info(), "run": str(args.run), "arch": info.arch, "alpha": info.alpha,
              "resolution": info.resolution}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        report = export_bundle(args.run, tmp / "bundle", int8=True, val_samples=0, log=print)
        record["export_seconds"] = round(time.perf_counter() - start, 1)
        record["validation"] = report
        bundle = tmp / "bundle"

        calibration = calibration_images(args.calib_data, info.preprocessing, 300)
        np.save(tmp / "calib.npy", calibration)
        keras_dir = tmp / "keras"
        keras_dir.mkdir()
        (keras_dir / "edgemb.json").write_text((bundle / "edgemb.json").read_text())
        subprocess.run([sys.executable, "-c", KERAS_REFERENCE, str(info.alpha), str(info.resolution),
                        str(info.num_classes), str(tmp / "calib.npy"), str(keras_dir / "keras.int8.tflite")],
                       check=True, capture_output=True)

        tflite = interleaved_medians({"fp32": load_runner(bundle / "model.tflite"),
                                      "int8": load_runner(bundle / "model.int8.tflite"),
                                      "keras.applications int8": load_runner(keras_dir / "keras.int8.tflite"),
                                      "pytorch eager fp32": load_runner(args.run)}, args.runs)
        variants = tmp / "variants"
        variants.mkdir()
        onnx = interleaved_medians(onnx_activation_variants(bundle, calibration, info, variants), args.runs)

        if args.pretrained_run:
            start = time.perf_counter()
            export_bundle(args.pretrained_run, tmp / "imagenet", int8=True, calib_data=args.calib_data,
                          calib_samples=300, val_samples=100, log=print)
            record["mobilenet_v2_1.0_224_export_seconds"] = round(time.perf_counter() - start, 1)

    fp32_tfl, int8_tfl = report["artifacts"]["model.tflite"], report["artifacts"]["model.int8.tflite"]
    fp32_onnx, int8_onnx = report["artifacts"]["model.onnx"], report["artifacts"]["model.int8.onnx"]
    record["latency_ms"] = {"tflite": tflite, "onnx": onnx}
    record["targets"] = {
        "tflite_int8_top1_drop_points": round(100 * (fp32_tfl["top1"] - int8_tfl["top1"]), 2),
        "onnx_int8_top1_drop_points": round(100 * (fp32_onnx["top1"] - int8_onnx["top1"]), 2),
        "tflite_int8_size_ratio": round(int8_tfl["size_bytes"] / fp32_tfl["size_bytes"], 3),
        "onnx_int8_size_ratio": round(int8_onnx["size_bytes"] / fp32_onnx["size_bytes"], 3),
        "tflite_int8_speedup": round(tflite["fp32"] / tflite["int8"], 2),
        "onnx_int8_speedup": round(onnx["fp32"] / onnx["int8 (U8S8, ours)"], 2),
        "onnx_s8s8_speedup": round(onnx["fp32"] / onnx["int8 (S8S8)"], 2),
        "tflite_int8_vs_keras_applications": round(tflite["keras.applications int8"] / tflite["int8"], 2),
        "tflite_int8_vs_pytorch_eager": round(tflite["pytorch eager fp32"] / tflite["int8"], 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "export_targets.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "export_targets.md").write_text(markdown(record))
    print(markdown(record))


def markdown(r: dict) -> str:
    t, m = r["targets"], r["machine"]
    lines = [f"# Export targets: {r['arch']} {r['alpha']:g}-{r['resolution']} (`{r['run']}`)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['system']}; 1 thread; "
             "latency ratios of interleaved medians.", "",
             "| target | measured | goal |", "|---|---|---|",
             f"| TFLite int8 top-1 drop vs fp32 (10k test images) | {t['tflite_int8_top1_drop_points']:+.2f} points | <= 0.5 |",
             f"| ONNX int8 top-1 drop vs fp32 | {t['onnx_int8_top1_drop_points']:+.2f} points | <= 0.5 |",
             f"| TFLite int8 size / fp32 | {100 * t['tflite_int8_size_ratio']:.0f}% | <= 30% |",
             f"| ONNX int8 size / fp32 | {100 * t['onnx_int8_size_ratio']:.0f}% | <= 30% |",
             f"| TFLite int8 speed-up over fp32 (LiteRT) | {t['tflite_int8_speedup']:.2f}x | >= 1.8x |",
             f"| ONNX int8 speed-up over fp32 (ONNX Runtime, U8S8) | {t['onnx_int8_speedup']:.2f}x | >= 1.8x |",
             f"| ONNX int8 S8S8 speed-up (not chosen) | {t['onnx_s8s8_speedup']:.2f}x | |",
             f"| our int8 .tflite vs keras.applications int8 (their latency / ours) | {t['tflite_int8_vs_keras_applications']:.2f}x | >= 1.0 |",
             f"| our int8 .tflite vs PyTorch eager fp32 | {t['tflite_int8_vs_pytorch_eager']:.2f}x faster | |",
             "", f"Export of this run (4 artifacts, validation on all test images): {r['export_seconds']} s."]
    if "mobilenet_v2_1.0_224_export_seconds" in r:
        lines.append(f"Export of MobileNetV2 1.0-224 (ImageNet weights, 4 artifacts, validation on 100 images): "
                     f"{r['mobilenet_v2_1.0_224_export_seconds']} s.")
    lines += ["", "Latency medians (ms, for the ratios above; this machine is shared and noisy):", ""]
    for runtime, values in r["latency_ms"].items():
        lines.append(f"- {runtime}: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
