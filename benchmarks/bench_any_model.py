"""`edgemb bench` on models edgemb did not describe: keras.applications' MobileNetV2
1.0-224 converted to full int8 by TFLiteConverter, and edgemb's own MobileNetV2 .onnx
files copied away from their bundle (no edgemb.json beside them).

    .venv/bin/python benchmarks/bench_any_model.py [--work build/bench-any] [--runs 30]

Both are built here, offline: the Keras model in a process of its own (TensorFlow),
calibrated on scikit-image's photos through the standard preprocessing at 224 and
keras.applications' own scaling (x / 127.5 - 1); the ONNX files by `edgemb pretrained
mobilenet_v2` + `edgemb export --formats onnx --int8` calibrated on the same photos.
Each is benchmarked by `edgemb bench MODEL --threads 1,2 --json` with stdout a pipe.
Goals: 300.8M MACs read from each graph (±1%), each model's own peak memory under
64 MiB, and no "…" in the piped tables. Results: benchmarks/results/bench_any_model.{md,json}.
(keras.applications.MobileNetV2(weights=None) has random weights: its outputs mean
nothing, but its graph, its latency and its memory are those of the real model.)
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.rounds import write_results  # noqa: E402

EXPECTED_MACS = 300.8e6  # MobileNetV2 1.0-224 (Sandler et al. 2018, Table 3: 300M)
MEMORY_GOAL = 64 * 2 ** 20
EDGEMB = [sys.executable, "-m", "edge_mobilenet.cli"]

KERAS_INT8 = r'''
import sys, numpy as np, keras, tensorflow as tf
from edge_mobilenet.export.tflite_worker import convert_int8
pixels, out = np.load(sys.argv[1]), sys.argv[2]
model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None)
open(out, "wb").write(convert_int8(model, pixels.astype(np.float32) / 127.5 - 1, io_type=tf.int8))
'''


def photos() -> str:
    import skimage
    return str(Path(skimage.__file__).parent / "data")


def edgemb(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*EDGEMB, *args], capture_output=True, text=True)  # stdout: a pipe
    if proc.returncode != 0:
        sys.exit(f"edgemb {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc


def build_models(work: Path) -> list[Path]:
    from edge_mobilenet.data import calibration_images
    from edge_mobilenet.data.preprocess import Preprocessing

    loose = work / "loose"
    loose.mkdir(parents=True, exist_ok=True)
    keras_model = loose / "keras_mobilenet_v2.int8.tflite"
    if not keras_model.is_file():
        np.save(work / "photos.npy", calibration_images(photos(), Preprocessing.for_resolution(224), 100))
        subprocess.run([sys.executable, "-c", KERAS_INT8, str(work / "photos.npy"), str(keras_model)], check=True,
                       capture_output=True)
    if not (loose / "model.int8.onnx").is_file():
        edgemb("pretrained", "mobilenet_v2", "--out", str(work / "imagenet-run"), "--force")
        edgemb("export", str(work / "imagenet-run"), "--formats", "onnx", "--int8", "--calib-data", photos(),
               "--calib-samples", "100", "--val-samples", "100", "--force", "--out", str(work / "bundle"))
        for name in ("model.onnx", "model.int8.onnx"):
            shutil.copy(work / "bundle" / name, loose / name)
    return [keras_model, loose / "model.int8.onnx", loose / "model.onnx"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("build/bench-any"))
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    models = build_models(args.work)
    rows = []
    for model in models:
        assert not (model.parent / "edgemb.json").exists()
        out = args.work / f"{model.name}.bench.json"
        piped = edgemb("bench", str(model), "--threads", "1,2", "--runs", str(args.runs), "--json", str(out)).stdout
        r = json.loads(out.read_text())["results"][0]
        rows.append({"model": model.name, "format": r["format"], "precision": r["precision"], "macs": r["macs"],
                     "macs_from": r["macs_from"], "params": r["params"], "peak_memory_bytes": r["peak_memory_bytes"],
                     "peak_rss_bytes": r["peak_rss_bytes"], "size_bytes": r["size_bytes"],
                     "latency_ms": {t["threads"]: t["latency_ms"]["median"] for t in r["threads"]},
                     "macs_ok": abs(r["macs"] / EXPECTED_MACS - 1) <= 0.01,
                     "memory_ok": r["peak_memory_bytes"] < MEMORY_GOAL, "pipe_ok": "…" not in piped,
                     "profile_resolved": bool(r["op_profile"] and r["op_profile"]["resolved"])})
        print(piped)
    met = all(row["macs_ok"] and row["memory_ok"] and row["pipe_ok"] for row in rows)
    record = {"goal": "300.8M MACs (±1%) from each graph, each model's own peak memory < 64 MiB, no '…' in "
                      "`edgemb bench X | cat`", "met": met, "machine": machine_info(), "models": rows,
              "command": "edgemb bench MODEL --threads 1,2 --runs %d --json OUT (stdout a pipe)" % args.runs}
    m = record["machine"]
    md = "\n".join([
        "# edgemb bench on models without edgemb.json", "",
        f"Goal: {record['goal']}. **{'Met' if met else 'Not met'}.**", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}. Command: `{record['command']}`.", "",
        "| model | runtime | MACs (graph) | params | own peak memory | process peak RSS | median ms 1 / 2 threads "
        "| no '…' |", "|---|---|---|---|---|---|---|---|",
        *(f"| {r['model']} | {r['format']} {r['precision']} | {r['macs'] / 1e6:.2f}M | {r['params'] / 1e6:.3f}M | "
          f"{r['peak_memory_bytes'] / 2 ** 20:.1f} MiB | {r['peak_rss_bytes'] / 2 ** 20:.0f} MiB | "
          f"{r['latency_ms'][1]:.2f} / {r['latency_ms'][2]:.2f} | {'yes' if r['pipe_ok'] else 'NO'} |" for r in rows),
        "", "Own peak memory: resident memory growth from before loading the model to after its last timed run, "
        "in a process of its own (runtime libraries excluded); the process peak includes Python, numpy and the "
        "runtime.", ""])
    write_results("bench_any_model", record, md)


if __name__ == "__main__":
    main()
