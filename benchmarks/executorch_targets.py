"""Issue 12's targets for the ExecuTorch backend, against references measured in the same run.

    .venv/bin/python benchmarks/executorch_targets.py --imagenet-run RUN --fashion-run RUN [--rounds 5] [--runs 30]

--imagenet-run (from `edgemb pretrained mobilenet_v2`): MobileNetV2 1.0-224 exported to
.pte and .tflite, fp32 and int8 (calibrated on scikit-image's photos), then timed on
1 thread in interleaved rounds through `edgemb bench`'s harness:
  - int8 .pte vs fp32 .pte (goal >= 1.8x faster)
  - int8 .pte latency / our int8 .tflite (goal <= 1.1x)
  - the export time of each .pte
--fashion-run (a trained Fashion-MNIST run): exported the same way (calibrated on the
usual 300 training images), scored on --test-images Fashion-MNIST test images:
  - int8 .pte top-1 drop vs fp32 .pte (goal <= 0.5 points)
  - int8 .pte top-1 agreement with our int8 .tflite (goal >= 97%)
and the choice behind export/executorch.py's FUSE_RELU6, made on the run's validation
images (never the test images): int8 .pte top-1 with conv + ReLU6 quantized as one op
against XNNPACK's quantizer as it comes.
Results: benchmarks/results/executorch_targets.{md,json}.
"""
import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.rounds import bench_rounds, machine_line, median_latency, median_ratio, write_results  # noqa: E402
from edge_mobilenet.bench.harness import Settings  # noqa: E402
from edge_mobilenet.bench.models import open_models  # noqa: E402
from edge_mobilenet.bench.targets import get_target  # noqa: E402
from edge_mobilenet.data import load_split  # noqa: E402
from edge_mobilenet.export.bundle import export_bundle  # noqa: E402
from edge_mobilenet.export.executorch import FUSE_RELU6, ExecuTorchBackend  # noqa: E402
from edge_mobilenet.run import read_run_info  # noqa: E402
from edge_mobilenet.runtime import load_runner  # noqa: E402
from tests.photos import PHOTO_DIR  # noqa: E402

FORMATS = ("executorch", "tflite")
TIMED = ["model.pte", "model.int8.pte", "model.tflite", "model.int8.tflite"]


def export_timed(run: Path, out: Path, **options) -> tuple[dict, dict]:
    """The export report and the seconds of each logged step, by the file it wrote."""
    steps = {}

    def log(line: str) -> None:
        print(line, flush=True)
        seconds = re.search(r"\(([\d.]+)s\)$", line)
        if seconds:
            steps[line.split(":")[0]] = float(seconds.group(1))

    report = export_bundle(run, out, formats=FORMATS, int8=True, log=log, **options)
    return report, steps


def top1(probabilities, labels) -> float:
    return float((probabilities.argmax(1) == labels).mean())


def relu6_choice(run: Path, folder: Path, val_samples: int) -> dict:
    """Validation top-1 of the int8 .pte both ways, calibrated on the export's own images."""
    from edge_mobilenet.data import calibration_images
    from edge_mobilenet.export.backend import Job
    from edge_mobilenet.run import load_run

    info, model = load_run(run)
    val = load_split(info.dataset, "val", info.preprocessing, limit=val_samples)
    calibration = calibration_images(info.dataset["kind"], info.preprocessing, 300)
    scores = {}
    for fused in (False, True):
        out = folder / f"fused-{fused}"
        out.mkdir(parents=True)
        (out / "edgemb.json").write_text((run / "edgemb.json").read_text())
        backend = ExecuTorchBackend()
        backend.fuse_relu6 = fused
        backend.build(Job(model, info, calibration, out, out, log=lambda _: None))
        scores["conv+ReLU6 fused" if fused else "XNNPACK quantizer as it comes"] = {
            name: top1(load_runner(out / name).predict(val.pixels), val.labels) for name in ("model.pte", "model.int8.pte")}
    return {"validation_images": len(val.labels), "top1": scores, "chosen": FUSE_RELU6}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imagenet-run", type=Path, required=True)
    parser.add_argument("--fashion-run", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--test-images", type=int, default=2000)
    args = parser.parse_args()

    settings = Settings(threads=1, runs=args.runs, warmup=5, profile_ops=False)
    record = {"imagenet_run": str(args.imagenet_run), "fashion_run": str(args.fashion_run)}
    with tempfile.TemporaryDirectory(prefix="executorch-targets-") as tmp:
        tmp = Path(tmp)
        imagenet = tmp / "imagenet"
        _, record["mobilenet_v2_1.0_224_export_seconds"] = export_timed(
            args.imagenet_run, imagenet, calib_data=str(PHOTO_DIR), val_samples=100)
        runners = open_models([imagenet / name for name in TIMED])
        records = bench_rounds(runners, get_target("cpu"), settings, args.rounds)

        info = read_run_info(args.fashion_run)
        fashion = tmp / "fashion"
        report, record["fashion_export_seconds"] = export_timed(args.fashion_run, fashion, val_samples=1000)
        test = load_split(info.dataset, "test", info.preprocessing, limit=args.test_images)
        outputs = {name: load_runner(fashion / name).predict(test.pixels) for name in TIMED}
        record["relu6_choice"] = relu6_choice(args.fashion_run, tmp / "choice", 1000)

    def speedup(slow: str, fast: str) -> float:
        return median_ratio(records, lambda r: r["latency_ms"]["median"], TIMED.index(slow), TIMED.index(fast))

    accuracy = {name: top1(p, test.labels) for name, p in outputs.items()}
    record |= {
        "machine": machine_line(records[0]), "settings": vars(settings), "rounds": args.rounds,
        "int8_instructions": records[0]["device"]["machine"]["int8_instructions"],
        "latency_ms": {name: median_latency(records, i) for i, name in enumerate(TIMED)},
        "fashion": {"arch": info.arch, "alpha": info.alpha, "resolution": info.resolution,
                    "test_images": len(test.labels), "test_top1": accuracy, "export_report": report},
    }
    record["targets"] = {
        "pte_int8_speedup": round(speedup("model.pte", "model.int8.pte"), 3),
        "pte_int8_over_tflite_int8": round(1 / speedup("model.int8.pte", "model.int8.tflite"), 3),
        "tflite_int8_speedup": round(speedup("model.tflite", "model.int8.tflite"), 3),
        "pte_int8_top1_drop_points": round(100 * (accuracy["model.pte"] - accuracy["model.int8.pte"]), 2),
        "tflite_int8_top1_drop_points": round(100 * (accuracy["model.tflite"] - accuracy["model.int8.tflite"]), 2),
        "pte_int8_agreement_with_tflite_int8": float(
            (outputs["model.int8.pte"].argmax(1) == outputs["model.int8.tflite"].argmax(1)).mean()),
    }
    t = record["targets"]
    record["verdict"] = {"pte_int8_speedup >= 1.8": t["pte_int8_speedup"] >= 1.8,
                         "pte_int8_over_tflite_int8 <= 1.1": t["pte_int8_over_tflite_int8"] <= 1.1,
                         "pte_int8_top1_drop_points <= 0.5": t["pte_int8_top1_drop_points"] <= 0.5,
                         "agreement >= 0.97": t["pte_int8_agreement_with_tflite_int8"] >= 0.97}
    write_results("executorch_targets", record, markdown(record))


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(r: dict) -> str:
    t, v, f = r["targets"], list(r["verdict"].values()), r["fashion"]
    seconds = r["mobilenet_v2_1.0_224_export_seconds"]
    lines = ["# ExecuTorch targets (issue 12)", "",
             f"Machine: {r['machine']}; 1 thread; latency ratios are medians over {r['rounds']} interleaved rounds "
             "of `edgemb bench`'s harness (XNNPACK threadpool set to 1 thread).", "",
             "| target | measured | goal | verdict |", "|---|---|---|---|",
             f"| MobileNetV2 1.0-224: int8 .pte speed-up over fp32 .pte | {t['pte_int8_speedup']:.2f}x | >= 1.8x | {met(v[0])} |",
             f"| MobileNetV2 1.0-224: int8 .pte latency / our int8 .tflite | {t['pte_int8_over_tflite_int8']:.2f}x | <= 1.1x | {met(v[1])} |",
             f"| Fashion-MNIST {f['alpha']:g}-{f['resolution']}: int8 .pte top-1 drop vs fp32 .pte ({f['test_images']} test images) "
             f"| {t['pte_int8_top1_drop_points']:+.2f} points | <= 0.5 | {met(v[2])} |",
             f"| Fashion-MNIST: int8 .pte top-1 agreement with our int8 .tflite | {100 * t['pte_int8_agreement_with_tflite_int8']:.1f}% "
             f"| >= 97% | {met(v[3])} |", "",
             f"For reference, in the same rounds LiteRT's own int8 .tflite is {t['tflite_int8_speedup']:.2f}x as fast as "
             "its fp32 .tflite: int8 pays off only on CPUs with int8 dot-product instructions "
             f"(this one: {r['int8_instructions']}).", "",
             f"For reference, the int8 .tflite drop on the same images: {t['tflite_int8_top1_drop_points']:+.2f} points. "
             "Test top-1: " + ", ".join(f"{k} {100 * a:.2f}%" for k, a in f["test_top1"].items()) + ".", "",
             f"Choice of FUSE_RELU6 = {r['relu6_choice']['chosen']} (export/executorch.py), on "
             f"{r['relu6_choice']['validation_images']} validation images of the Fashion-MNIST run, never the test "
             "images: " + "; ".join(f"{how}: int8 .pte {100 * t1['model.int8.pte']:.2f}% (fp32 .pte "
                                    f"{100 * t1['model.pte']:.2f}%)" for how, t1 in r["relu6_choice"]["top1"].items())
             + ".", "",
             "MobileNetV2 1.0-224 export steps (s): " + "; ".join(f"{k} {s}" for k, s in seconds.items()), "",
             "Latency medians (ms, for the ratios only; shared, noisy machine): "
             + "; ".join(f"{k} {ms:.3f}" for k, ms in r["latency_ms"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
