"""`edgemb eval` of an exported int8 .tflite against the plain one-image LiteRT loop a
user would write, on the 10k Fashion-MNIST test images, start-up included.

    .venv/bin/python benchmarks/eval_speed.py BUNDLE [--rounds 3]

BUNDLE: an export bundle of a Fashion-MNIST run with model.int8.tflite (edgemb export
RUN --int8). Both sides run as processes of their own, interleaved round by round:
`edgemb eval BUNDLE/model.int8.tflite --data fashion-mnist --split test --json`, and a
script that loads the same test images through the run's preprocessing
(edge_mobilenet.data, as its edgemb.json says) and invokes a LiteRT Interpreter
(default threads) once per image. Goal: eval
no slower (wall-clock median ratio <= 1.0) with the same top-1.
Results: benchmarks/results/eval_speed.{md,json}.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.rounds import write_results  # noqa: E402

PLAIN_LOOP = r'''
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from edge_mobilenet.data import load_split
from edge_mobilenet.run import read_run_info
bundle = sys.argv[1]
images = load_split({"kind": "fashion-mnist"}, "test", read_run_info(bundle).preprocessing)
interpreter = Interpreter(model_path=bundle + "/model.int8.tflite")
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
correct = 0
for pixels, label in zip(images.pixels, images.labels):
    interpreter.set_tensor(inp["index"], pixels[None])
    interpreter.invoke()
    correct += int(interpreter.get_tensor(out["index"])[0].argmax() == label)
print(json.dumps({"top1": correct / len(images.labels), "images": len(images.labels)}))
'''


def timed(argv: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, json.loads(proc.stdout[proc.stdout.index("{"):])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = args.bundle / "model.int8.tflite"
    ours = [sys.executable, "-m", "edge_mobilenet.cli", "eval", str(model), "--data", "fashion-mnist", "--split", "test",
            "--json"]
    plain = [sys.executable, "-c", PLAIN_LOOP, str(args.bundle)]
    rounds = []
    for i in range(args.rounds):
        (eval_s, eval_result), (plain_s, plain_result) = timed(ours), timed(plain)
        rounds.append({"eval_s": eval_s, "plain_s": plain_s, "ratio": eval_s / plain_s,
                       "eval_top1": eval_result["top1"], "plain_top1": plain_result["top1"],
                       "images": eval_result["images"]})
        print(f"round {i + 1}/{args.rounds}: eval {eval_s:.2f} s, plain loop {plain_s:.2f} s", flush=True)
    ratio = statistics.median(r["ratio"] for r in rounds)
    same_top1 = all(abs(r["eval_top1"] - r["plain_top1"]) < 0.5 / r["images"] for r in rounds)
    met = ratio <= 1.0 and same_top1
    record = {"goal": "edgemb eval model.int8.tflite no slower than the plain one-image LiteRT loop "
                      "(wall clock, start-up included; median ratio <= 1.0), same top-1",
              "met": met, "median_ratio": ratio, "same_top1": same_top1, "model": str(model),
              "machine": machine_info(), "rounds": rounds,
              "commands": {"eval": " ".join(ours[2:]), "plain": "python -c PLAIN_LOOP BUNDLE (see eval_speed.py)"}}
    m = record["machine"]
    md = "\n".join([
        "# edgemb eval vs the plain one-image LiteRT loop", "",
        f"Goal: {record['goal']}. **{'Met' if met else 'Not met'}**: median ratio {ratio:.2f} "
        f"(eval / plain loop), top-1 {'identical' if same_top1 else 'DIFFERENT'}.", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}. Model: `{model}`, "
        f"{rounds[0]['images']} Fashion-MNIST test images; rounds interleaved, each a fresh process.", "",
        "| round | edgemb eval (s) | plain loop (s) | ratio | eval top-1 | plain top-1 |", "|---|---|---|---|---|---|",
        *(f"| {i + 1} | {r['eval_s']:.2f} | {r['plain_s']:.2f} | {r['ratio']:.2f} | {100 * r['eval_top1']:.2f}% | "
          f"{100 * r['plain_top1']:.2f}% |" for i, r in enumerate(rounds)), ""])
    write_results("eval_speed", record, md)


if __name__ == "__main__":
    main()
