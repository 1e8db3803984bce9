"""Issue 4's targets for one trained run, measured against references built in the same run.

    .venv/bin/python benchmarks/export_targets.py RUN_DIR [--pretrained-run RUN_DIR] [--rounds 5] [--runs 30]
        [--results NAME]

Exports RUN_DIR (a Fashion-MNIST run) to fp32 + int8 ONNX and TFLite, validated on
all of the run's validation images (the 10k test images for a run made before edgemb
had a validation split), and reports:
  - int8 top-1 drop vs fp32 (goal <= 0.5 points) and int8 size vs fp32 (goal <= 30%)
  - int8 vs fp32 latency, LiteRT and ONNX Runtime, 1 thread (goal >= 1.8x), and our int8
    .tflite vs keras.applications.MobileNetV2 converted to full int8 by TFLiteConverter
    (same alpha, resolution and classes; goal: no slower), in interleaved rounds
  - ONNX Runtime int8 with int8 activations (S8S8) against our uint8 ones (U8S8):
    why QDQ U8S8 is the default
and, with --pretrained-run (from `edgemb pretrained mobilenet_v2`), the time of a whole
MobileNetV2 1.0-224 export (four artifacts + validation). Results:
benchmarks/results/NAME.{md,json} (default export_targets).
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onnxruntime.quantization import QuantType  # noqa: E402

from benchmarks.bench_references import keras_reference  # noqa: E402
from benchmarks.rounds import bench_rounds, machine_line, median_latency, median_ratio, write_results  # noqa: E402
from edge_mobilenet.bench.harness import Settings  # noqa: E402
from edge_mobilenet.bench.models import open_models  # noqa: E402
from edge_mobilenet.bench.targets import get_target  # noqa: E402
from edge_mobilenet.data import calibration_images  # noqa: E402
from edge_mobilenet.data.preprocess import normalize_nchw  # noqa: E402
from edge_mobilenet.export.bundle import export_bundle  # noqa: E402
from edge_mobilenet.export.onnx import quantize_onnx  # noqa: E402
from edge_mobilenet.run import RUN_FILE, read_run_info  # noqa: E402

TIMED = ["keras.applications int8", "model.int8.tflite", "model.tflite", "model.int8.onnx", "model.onnx",
         "model.int8.onnx with int8 activations (S8S8)"]


def quantize_s8s8(bundle: Path, folder: Path, calibration_pixels, pre) -> Path:
    """The bundle's fp32 ONNX quantized like ours but with int8 activations."""
    folder.mkdir()
    shutil.copy(bundle / RUN_FILE, folder / RUN_FILE)
    out = folder / "model.s8s8.onnx"
    quantize_onnx(bundle / "model.onnx", out, normalize_nchw(calibration_pixels, pre),
                  activations=QuantType.QInt8)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--pretrained-run", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--results", default="export_targets", help="results file name in benchmarks/results/")
    args = parser.parse_args()

    info = read_run_info(args.run)
    settings = Settings(threads=1, runs=args.runs, warmup=5, profile_ops=False)
    record = {"run": str(args.run), "arch": info.arch, "alpha": info.alpha, "resolution": info.resolution}
    with tempfile.TemporaryDirectory(prefix="export-targets-") as tmp:
        tmp = Path(tmp)
        bundle = tmp / "bundle"
        start = time.perf_counter()
        report = export_bundle(args.run, bundle, int8=True, val_samples=0, log=print)
        record["export_seconds"] = round(time.perf_counter() - start, 1)
        record["validation"] = report

        calibration = calibration_images("fashion-mnist", info.preprocessing, 300)
        s8s8 = quantize_s8s8(bundle, tmp / "s8s8", calibration, info.preprocessing)
        reference = keras_reference(bundle, tmp / "keras")
        runners = open_models([reference, *(bundle / n for n in TIMED[1:5]), s8s8])
        records = bench_rounds(runners, get_target("cpu"), settings, args.rounds)

        if args.pretrained_run:
            start = time.perf_counter()
            export_bundle(args.pretrained_run, tmp / "imagenet", int8=True, calib_data="fashion-mnist",
                          val_samples=100, log=print)
            record["mobilenet_v2_1.0_224_export_seconds"] = round(time.perf_counter() - start, 1)

    def speedup(slow: str, fast: str) -> float:
        return median_ratio(records, lambda r: r["latency_ms"]["median"], TIMED.index(slow), TIMED.index(fast))

    a = report["artifacts"]
    record |= {"machine": machine_line(records[0]), "settings": settings.to_json(), "rounds": args.rounds,
               "latency_ms": {name: median_latency(records, i) for i, name in enumerate(TIMED)}}
    record["targets"] = {
        "tflite_int8_top1_drop_points": round(100 * (a["model.tflite"]["top1"] - a["model.int8.tflite"]["top1"]), 2),
        "onnx_int8_top1_drop_points": round(100 * (a["model.onnx"]["top1"] - a["model.int8.onnx"]["top1"]), 2),
        "tflite_int8_size_ratio": round(a["model.int8.tflite"]["size_bytes"] / a["model.tflite"]["size_bytes"], 3),
        "onnx_int8_size_ratio": round(a["model.int8.onnx"]["size_bytes"] / a["model.onnx"]["size_bytes"], 3),
        "tflite_int8_speedup": round(speedup("model.tflite", "model.int8.tflite"), 2),
        "onnx_int8_speedup": round(speedup("model.onnx", "model.int8.onnx"), 2),
        "onnx_s8s8_speedup": round(speedup("model.onnx", TIMED[5]), 2),
        "keras_applications_over_ours": round(speedup("keras.applications int8", "model.int8.tflite"), 2),
    }
    record["goals"] = verdicts(record["targets"])
    write_results(args.results, record, markdown(record))


# target: (row label, how the figure reads, goal, whether the figure meets it); issue 4's goals.
ROWS = {
    "tflite_int8_top1_drop_points": ("TFLite int8 top-1 drop vs fp32 (all validation images)", "{:+.2f} points",
                                     "<= 0.5 points", lambda v: v <= 0.5),
    "onnx_int8_top1_drop_points": ("ONNX int8 top-1 drop vs fp32", "{:+.2f} points", "<= 0.5 points",
                                   lambda v: v <= 0.5),
    "tflite_int8_size_ratio": ("TFLite int8 size / fp32", "{:.1%}", "<= 30%", lambda v: v <= 0.30),
    "onnx_int8_size_ratio": ("ONNX int8 size / fp32", "{:.1%}", "<= 30%", lambda v: v <= 0.30),
    "tflite_int8_speedup": ("TFLite int8 speed-up over fp32 (LiteRT)", "{:.2f}x", ">= 1.8x", lambda v: v >= 1.8),
    "onnx_int8_speedup": ("ONNX int8 speed-up over fp32 (ONNX Runtime, U8S8, ours)", "{:.2f}x", ">= 1.8x",
                          lambda v: v >= 1.8),
    "onnx_s8s8_speedup": ("ONNX int8 speed-up with int8 activations (S8S8, not chosen)", "{:.2f}x", None, None),
    "keras_applications_over_ours": ("keras.applications int8 latency / our int8 .tflite (no slower)", "{:.2f}x",
                                     ">= 1.00", lambda v: v >= 1.0),
}


def verdicts(targets: dict) -> dict:
    """{target: {"goal": ..., "met": bool}} for every target that has a goal."""
    return {key: {"goal": goal, "met": met(targets[key])}
            for key, (_, _, goal, met) in ROWS.items() if goal is not None}


def markdown(r: dict) -> str:
    t, goals = r["targets"], r["goals"]
    missed = [ROWS[key][0] for key, g in goals.items() if not g["met"]]
    lines = [f"# Export targets: {r['arch']} {r['alpha']:g}-{r['resolution']} (`{r['run']}`)", "",
             f"Machine: {r['machine']}; 1 thread; latency ratios are medians over {r['rounds']} interleaved "
             "rounds.", "",
             f"Verdict: {len(goals) - len(missed)} of {len(goals)} goals met"
             + (f"; MISSED: {'; '.join(missed)}." if missed else "."), "",
             "| target | measured | goal | verdict |", "|---|---|---|---|"]
    for key, (label, figure, goal, _) in ROWS.items():
        verdict = "" if goal is None else "met" if goals[key]["met"] else "MISSED"
        lines.append(f"| {label} | {figure.format(t[key])} | {goal or ''} | {verdict} |")
    lines += ["", f"Export of this run (4 artifacts, validation on {r['validation']['validation_images']} images): "
              f"{r['export_seconds']} s."]
    if "mobilenet_v2_1.0_224_export_seconds" in r:
        lines.append(f"Export of MobileNetV2 1.0-224 (ImageNet weights, 4 artifacts, validation on 100 images): "
                     f"{r['mobilenet_v2_1.0_224_export_seconds']} s.")
    lines += ["", "Latency medians (ms, for the ratios only; shared, noisy machine): "
              + "; ".join(f"{k} {v:.3f}" for k, v in r["latency_ms"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
