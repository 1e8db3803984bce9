"""Issue 11: what quantization-aware fine-tuning (QAT) recovers where post-training int8
quantization (PTQ) loses.

    .venv/bin/python benchmarks/qat.py [--regimes NAME ...] [--work DIR] [--list]

A regime is a small Fashion-MNIST model (an fp32 `edgemb train` recipe) and the export's
calibration setting. Every step is a real edgemb command, recorded verbatim:

1. select (validation only): train the fp32 RUN, `edgemb export RUN --int8` (PTQ) and read
   report.json's int8 top-1 drop on validation images. The regime measured is the
   candidate with the largest mean PTQ validation drop over TFLite and ONNX.
2. measure (the chosen regime): `edgemb train --qat --pretrained RUN`, export it with the
   same command, then `edgemb eval --split test` on RUN (fp32 PyTorch), on both bundles'
   fp32 and int8 .tflite and .onnx, and on the QAT run: the 10k test images choose nothing.

Goal: in a regime where PTQ loses at least 1 point of test top-1 (vs the fp32 RUN), QAT's
int8 drop is at most half of PTQ's, for .tflite and for .onnx.
Each step's result is kept under --work (so the work can be split into short runs);
results: benchmarks/results/qat.{md,json}.
"""
import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.rounds import write_results  # noqa: E402
from edge_mobilenet.io import write_json_atomic  # noqa: E402

FASHION = "--data fashion-mnist --train-subset 20000 --min-crop-scale 0.8 --seed 0 --resolution 32 --epochs 4"
MODELS = {"v2 0.1-32": f"{FASHION} --alpha 0.1", "v2 0.25-32": f"{FASHION} --alpha 0.25"}
REGIMES = {  # name: (fp32 model, export options)
    f"{model}, {n} calibration images": (model, f"--calib-samples {n}") for model in MODELS for n in (300, 4)}
QAT_OPTIONS = "--epochs 1 --lr 0.002"
FORMATS = {"tflite": ("model.tflite", "model.int8.tflite"), "onnx": ("model.onnx", "model.int8.onnx")}
GOAL = ("in a regime where PTQ loses >= 1 point of test top-1 vs the fp32 run, QAT's int8 drop <= half "
        "of PTQ's, for .tflite and for .onnx")


def edgemb(*args: str, capture: bool = False) -> tuple[str, float]:
    """Run `edgemb ARGS`; (its stdout if captured, wall seconds)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "edge_mobilenet.cli", *args], check=True, text=True,
                            capture_output=capture)
    return (result.stdout if capture else ""), time.perf_counter() - start


def step(work: Path, name: str, command: list[str], output: Path, cache: dict) -> dict:
    """Run an edgemb command producing `output` once; its record (command, seconds) is kept."""
    key = f"{work.name}/{name}"
    if key in cache and output.exists():
        return cache[key]
    _, seconds = edgemb(*command)
    cache[key] = {"command": "edgemb " + shlex.join(command), "seconds": round(seconds, 1)}
    return cache[key]


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in name)


def test_top1(model: Path) -> float:
    stdout, _ = edgemb("eval", str(model), "--split", "test", "--json", capture=True)
    return json.loads(stdout)["top1"]


def val_drops(bundle: Path) -> dict:
    headline = json.loads((bundle / "report.json").read_text())["headline"]
    return {fmt: headline[fmt]["top1_drop_points"] for fmt in FORMATS}


def export_command(run: Path, bundle: Path, export_options: str) -> list[str]:
    return ["export", str(run), "--int8", "--formats", ",".join(FORMATS), *shlex.split(export_options),
            "--out", str(bundle), "--force"]


def select(name: str, work: Path, cache: dict) -> dict:
    """fp32 training and PTQ export of one candidate regime, scored on validation images."""
    model, export_options = REGIMES[name]
    run, bundle = work.parent / slug(model) / "run", work / "ptq"
    steps = {"train": step(run.parent, "train", ["train", *shlex.split(MODELS[model]), "--out", str(run)],
                           run / "model.pt", cache),
             "export": step(work, "ptq", export_command(run, bundle, export_options), bundle / "report.json",
                            cache)}
    drops = val_drops(bundle)
    return {"steps": steps, "ptq_val_drop_points": drops, "mean_ptq_val_drop": sum(drops.values()) / len(drops)}


def measure(name: str, work: Path, cache: dict) -> dict:
    """QAT of the chosen regime, both exports, and every model's test top-1."""
    model, export_options = REGIMES[name]
    run, ptq, qat_bundle = work.parent / slug(model) / "run", work / "ptq", work / "qat-bundle"
    qat = run.parent / "qat"  # one QAT run per fp32 run: its training does not depend on the export
    steps = {"qat": step(run.parent, "qat", ["train", "--qat", "--pretrained", str(run), *shlex.split(QAT_OPTIONS),
                                             "--out", str(qat)], qat / "model.pt", cache),
             "qat_export": step(work, "qat-export", export_command(qat, qat_bundle, export_options),
                                qat_bundle / "report.json", cache)}
    test = {"fp32 run (PyTorch)": test_top1(run), "QAT run (PyTorch fp32)": test_top1(qat)}
    for fmt, (fp32_file, int8_file) in FORMATS.items():
        test[f"PTQ {fp32_file}"] = test_top1(ptq / fp32_file)
        test[f"PTQ {int8_file}"] = test_top1(ptq / int8_file)
        test[f"QAT {int8_file}"] = test_top1(qat_bundle / int8_file)
    verdicts = {}
    for fmt, (_, int8_file) in FORMATS.items():
        ptq_drop = 100 * (test["fp32 run (PyTorch)"] - test[f"PTQ {int8_file}"])
        qat_drop = 100 * (test["fp32 run (PyTorch)"] - test[f"QAT {int8_file}"])
        verdicts[fmt] = {"ptq_drop_points": round(ptq_drop, 2), "qat_drop_points": round(qat_drop, 2),
                         "met": ptq_drop >= 1.0 and qat_drop <= ptq_drop / 2}
    qat_info = json.loads((qat / "edgemb.json").read_text())
    return {"steps": steps, "test_top1": test, "goal": verdicts, "qat_best": qat_info["best"],
            "qat_val_drop_points": val_drops(qat_bundle)}


def markdown(record: dict) -> str:
    m = record["machine"]
    lines = ["# QAT: what quantization-aware fine-tuning recovers where PTQ loses (issue 11)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores (shared). Fashion-MNIST; the regime is picked on the "
             "validation split (report.json of each PTQ export), test top-1 is scored once on the 10k test "
             "images.", "", f"Goal: {GOAL}.", "",
             "## Selection (validation images: int8 top-1 drop vs the fp32 run, points)", "",
             "| regime | PTQ .tflite | PTQ .onnx | fp32 training | export |", "|---|---:|---:|---|---|"]
    for name, r in record["selection"].items():
        lines.append(f"| {name} | {r['ptq_val_drop_points']['tflite']:+.2f} | {r['ptq_val_drop_points']['onnx']:+.2f} "
                     f"| `{r['steps']['train']['command']}` | `{r['steps']['export']['command']}` |")
    chosen = record.get("chosen")
    if chosen:
        r = record["measured"]
        met = all(v["met"] for v in r["goal"].values())
        lines += ["", f"## Measured: {chosen} (test images)", "",
                  f"Goal **{'met' if met else 'NOT met'}**.", "",
                  "| format | fp32 run | PTQ int8 | QAT int8 | PTQ drop | QAT drop | met |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        fp32 = r["test_top1"]["fp32 run (PyTorch)"]
        for fmt, (_, int8_file) in FORMATS.items():
            v = r["goal"][fmt]
            lines.append(f"| {fmt} | {100 * fp32:.2f}% | {100 * r['test_top1'][f'PTQ {int8_file}']:.2f}% | "
                         f"{100 * r['test_top1'][f'QAT {int8_file}']:.2f}% | {v['ptq_drop_points']:+.2f} | "
                         f"{v['qat_drop_points']:+.2f} | {'yes' if v['met'] else 'no'} |")
        lines += ["", "All test top-1 figures:", ""]
        lines += [f"- {k}: {100 * v:.2f}%" for k, v in r["test_top1"].items()]
        lines += ["", f"QAT run's best epoch (fake-quantized validation top-1): {r['qat_best']}; its int8 "
                  f"exports' validation drops vs its own fp32 weights: {r['qat_val_drop_points']}.", "",
                  "Commands (besides the selection's):", ""]
        lines += [f"- `{s['command']}` ({s['seconds']:.0f} s)" for s in r["steps"].values()]
        lines += ["- `edgemb eval MODEL --split test --json` for each model above"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=list(REGIMES),
                        help="Candidate regimes to select among.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgemb-qat-bench"),
                        help="Where runs, bundles and the step cache are kept between invocations.")
    parser.add_argument("--select-only", action="store_true", help="Stop after the selection step.")
    parser.add_argument("--list", action="store_true", help="List the regimes and exit.")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{name}: train {MODELS[m]}; export {e}" for name, (m, e) in REGIMES.items()))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    cache_path = args.work / "steps.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    record = {"goal": GOAL, "qat_options": QAT_OPTIONS, "selection": {}}
    for name in args.regimes:
        record["selection"][name] = select(name, args.work / slug(name), cache)
        write_json_atomic(cache_path, cache)
        print(f"{name}: PTQ validation drop {record['selection'][name]['ptq_val_drop_points']}", flush=True)
    if not args.select_only:
        chosen = max(record["selection"], key=lambda n: record["selection"][n]["mean_ptq_val_drop"])
        record["chosen"] = chosen
        record["measured"] = measure(chosen, args.work / slug(chosen), cache)
        write_json_atomic(cache_path, cache)
    record["machine"] = machine_info()
    write_results("qat", record, markdown(record))


if __name__ == "__main__":
    main()
