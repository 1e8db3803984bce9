"""Fashion-MNIST accuracy against training time, for choosing settings (and the demo's defaults).

    .venv/bin/python benchmarks/train_fashion.py [--only NAME ...] [--list]

Each setting is one real `edgemb train` command (recorded verbatim) on Fashion-MNIST,
scored on its 10k test set after every epoch. Recorded per setting: the test top-1
after each epoch with the training time spent so far, the best top-1, the wall time
of the whole command, and the load of the shared machine while it ran. Settings run
one after another; results of earlier runs are kept, so they can be run a few at a
time. Results: benchmarks/results/train_results.{md,json}.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_info  # noqa: E402
from edge_mobilenet.io import write_json_atomic, write_text_atomic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SETTINGS = {
    "scratch 0.35-64, 5 epochs": "--alpha 0.35 --resolution 64 --epochs 5 --min-crop-scale 0.8",
    "scratch 0.35-64, 5 epochs, milder crops": "--alpha 0.35 --resolution 64 --epochs 5 --min-crop-scale 1.0",
    "imagenet 1.0-64, 1 epoch": "--pretrained imagenet --resolution 64 --epochs 1 --lr 0.02 --min-crop-scale 0.8",
    "imagenet 1.0-64, 2 epochs": "--pretrained imagenet --resolution 64 --epochs 2 --lr 0.02 --min-crop-scale 0.8",
    "imagenet 1.0-96, 1 epoch": "--pretrained imagenet --resolution 96 --epochs 1 --lr 0.02 --min-crop-scale 0.8",
    "imagenet 1.0-96, 20k images, 2 epochs": "--pretrained imagenet --resolution 96 --epochs 2 --train-subset 20000 "
                                             "--lr 0.02 --min-crop-scale 0.8",
}


def run_setting(name: str, options: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = ["edgemb", "train", "--data", "fashion-mnist", *shlex.split(options), "--out", str(out)]
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "edgemb"), *command[1:]], check=True)
        wall = time.perf_counter() - start
        load = os.getloadavg()
        info = json.loads((out / "edgemb.json").read_text())
        history = json.loads((out / "history.json").read_text())
    elapsed, curve = 0.0, []
    for h in history:
        elapsed += h["train_seconds"]
        curve.append({"epoch": h["epoch"], "train_seconds": round(elapsed, 1), "test_top1": h["val_top1"],
                      "images_per_second": round(h["images_per_second"], 1)})
    return {"command": shlex.join(command[:-2]) + " --out RUN_DIR", "best_test_top1": info["best"]["val_top1"],
            "best_epoch": info["best"]["epoch"], "train_seconds": round(elapsed, 1),
            "wall_seconds": round(wall, 1), "load_average_1min_at_end": round(load[0], 2), "curve": curve}


def markdown(record: dict) -> str:
    m = record["machine"]
    lines = ["# Fashion-MNIST: test top-1 against training time", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, shared with other work (its load average is recorded "
             "per run: times under load are longer). Top-1 is on the 10k test set; training time excludes "
             "the per-epoch evaluation and data loading, wall time is the whole command.", "",
             "| setting | test top-1 (best) | training time | wall time | load | command |",
             "|---|---:|---:|---:|---:|---|"]
    for name, r in record["results"].items():
        lines.append(f"| {name} | {100 * r['best_test_top1']:.2f}% | {r['train_seconds'] / 60:.1f} min | "
                     f"{r['wall_seconds'] / 60:.1f} min | {r['load_average_1min_at_end']:.1f} | `{r['command']}` |")
    lines += ["", "Per epoch (cumulative training minutes: test top-1):", ""]
    for name, r in record["results"].items():
        points = ", ".join(f"{c['train_seconds'] / 60:.1f} min: {100 * c['test_top1']:.2f}%" for c in r["curve"])
        lines.append(f"- {name}: {points}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), help="Run these settings only.")
    parser.add_argument("--list", action="store_true", help="List the settings and exit.")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{name}: {options}" for name, options in SETTINGS.items()))
        return
    path = RESULTS / "train_results.json"
    record = json.loads(path.read_text()) if path.is_file() else {"results": {}}
    record["machine"] = {**machine_info(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
    for name in args.only or list(SETTINGS):
        record["results"][name] = run_setting(name, SETTINGS[name])
        print(f"{name}: best test top-1 {100 * record['results'][name]['best_test_top1']:.2f}%", flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, record)
        write_text_atomic(RESULTS / "train_results.md", markdown(record))


if __name__ == "__main__":
    main()
