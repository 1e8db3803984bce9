"""Issue 11: which int8 method stays closest to fp32 on the ImageNet MobileNetV2.

    .venv/bin/python benchmarks/int8_methods.py [--methods a,b,...] [--cache /tmp/int8_methods] [--report]

Data: real photos, scikit-image's and the MATE desktop's nature photos (Debian's
mate-backgrounds: `apt-get install mate-backgrounds`), split by photo with a fixed seed into calibration photos,
selection photos (held out on the calibration side: methods and defaults are chosen on
them) and evaluation photos (reported only). Each photo gives CROPS random square crops,
each preprocessed like every model input (shorter side to 256, center crop 224).
Every method quantizes the same fp32 model with the same calibration crops; each int8
model is compared with PyTorch fp32 on the crops of the other photos: probability SQNR,
top-1 agreement, and agreement where fp32 is confident (p > 0.3).

The peer: ONNX Runtime's own static quantizer (same QDQ U8S8 per-channel settings as
ours) with its MinMax, Percentile and Entropy calibrators. Each method's figures are
cached under --cache, so a sweep can be split into several short runs; --report writes
benchmarks/results/int8_methods.{md,json} from what is cached.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import skimage
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.rounds import write_results  # noqa: E402
from edge_mobilenet.data.images import read_image  # noqa: E402
from edge_mobilenet.data.preprocess import normalize, normalize_nchw, preprocess  # noqa: E402
from edge_mobilenet.export.calibration import Int8Plan, plan_int8  # noqa: E402
from edge_mobilenet.export.onnx import Calibration, export_onnx, quantize_onnx  # noqa: E402
from edge_mobilenet.export.tflite import convert_tflite  # noqa: E402
from edge_mobilenet.metrics import sqnr_db  # noqa: E402
from edge_mobilenet.quantization import DEFAULT_RANGES, folded_weights  # noqa: E402
from edge_mobilenet.pretrained import imagenet_mobilenet_v2, write_pretrained_run  # noqa: E402
from edge_mobilenet.run import RUN_FILE, read_run_info  # noqa: E402

PHOTO_DIRS = [Path(skimage.__file__).parent / "data", Path("/usr/share/backgrounds/mate/nature")]
MORE_PHOTOS = [Path("/usr/share/backgrounds/mate/abstract/Elephants.jpg")]
SEED = 0
CROPS = 20
SPLIT = {"calibration": 14, "selection": 10}  # the rest (15 photos) are the evaluation photos
CONFIDENT = 0.3
GOALS = ("both int8 exports: probability SQNR >= the best ONNX Runtime calibrator + 2 dB, top-1 agreement "
         ">= the peer's and >= 95% where fp32 is confident (p > 0.3), on crops of evaluation photos")


def photo_split() -> dict[str, list[Path]]:
    if not MORE_PHOTOS[0].is_file():
        sys.exit(f"{MORE_PHOTOS[0]} is missing: apt-get install mate-backgrounds")
    photos = sorted(p for d in PHOTO_DIRS for p in d.iterdir() if p.suffix in (".png", ".jpg")) + MORE_PHOTOS
    order = np.random.default_rng(SEED).permutation(len(photos))
    a, b = SPLIT["calibration"], SPLIT["calibration"] + SPLIT["selection"]
    return {"calibration": sorted(photos[i] for i in order[:a]),
            "selection": sorted(photos[i] for i in order[a:b]),
            "evaluation": sorted(photos[i] for i in order[b:])}


def random_crops(image: np.ndarray, count: int, rng: np.random.Generator, pre) -> np.ndarray:
    """`count` random square crops (40-100% of the shorter side, anywhere in the photo),
    each preprocessed into a model input."""
    height, width = image.shape[:2]
    crops = []
    for _ in range(count):
        side = int(rng.uniform(0.4, 1.0) * min(height, width))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crops.append(preprocess(np.ascontiguousarray(image[top:top + side, left:left + side]), pre))
    return np.stack(crops)


def crop_sets(pre) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return {split: np.concatenate([random_crops(read_image(p), CROPS, rng, pre) for p in photos])
            for split, photos in photo_split().items()}


def metrics(outputs: np.ndarray, reference: np.ndarray) -> dict:
    agree = outputs.argmax(1) == reference.argmax(1)
    confident = reference.max(1) > CONFIDENT
    return {"sqnr_db": round(sqnr_db(reference, outputs), 2), "top1_agreement": round(float(agree.mean()), 4),
            "confident_agreement": round(float(agree[confident].mean()), 4), "confident_images": int(confident.sum())}


def predict_onnx(path: Path, pixels: np.ndarray, pre) -> np.ndarray:
    """Our ONNX contract: float32 NCHW normalized input, probabilities out."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = normalize(pixels, pre).transpose(0, 3, 1, 2)
    return np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


def predict_tflite(path: Path, pixels: np.ndarray, pre) -> np.ndarray:
    """Our int8 TFLite contract: raw uint8 NHWC pixels in, quantized probabilities out."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = out["quantization"]
    outputs = []
    for image in pixels:
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        outputs.append((interpreter.get_tensor(out["index"]).astype(np.float32) - zero) * scale)
    return np.concatenate(outputs)


class Workspace:
    """The cache folder: the pretrained run, the crops, fp32 references, one folder per method."""

    def __init__(self, root: Path):
        self.root = root
        self.run = root / "run"
        if not self.run.is_dir():
            write_pretrained_run("mobilenet_v2", self.run)
        self.info = read_run_info(self.run)
        self.pre = self.info.preprocessing
        data = root / "crops.npz"
        if not data.is_file():
            np.savez(data, **crop_sets(self.pre))
        self.crops = dict(np.load(data))
        refs = root / "reference.npz"
        if not refs.is_file():
            model = imagenet_mobilenet_v2()
            with torch.inference_mode():
                out = {}
                for split in ("selection", "evaluation"):
                    x = torch.from_numpy(normalize(self.crops[split], self.pre)).permute(0, 3, 1, 2)
                    out[split] = torch.cat([model(b).softmax(1) for b in x.split(32)]).numpy()
            np.savez(refs, **out)
        self.reference = dict(np.load(refs))

    def folder(self, method: str) -> Path:
        folder = self.root / "methods" / method
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.run / RUN_FILE, folder / RUN_FILE)
        return folder

    def fp32_onnx(self) -> Path:
        path = self.root / "fp32" / "model.onnx"
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            export_onnx(imagenet_mobilenet_v2(), self.info.resolution, path)
            shutil.copy(self.run / RUN_FILE, path.parent / RUN_FILE)
        return path

    def calibration(self, views: str = "crops") -> np.ndarray:
        """Calibration pixels: "crops" (CROPS random crops of each calibration photo), "flips"
        (those and their mirror images) or "center" (each photo once, as a model input: what
        `edgemb export --calib-data FOLDER` took from a folder of photos before issue 11)."""
        if views == "center":
            return np.stack([preprocess(read_image(p), self.pre) for p in photo_split()["calibration"]])
        crops = self.crops["calibration"]
        return np.concatenate([crops, crops[:, :, ::-1]]) if views == "flips" else crops

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        return normalize_nchw(pixels, self.pre)

    def evaluate(self, method: str, artifact: Path, extra: dict) -> dict:
        predict = predict_onnx if artifact.suffix == ".onnx" else predict_tflite
        result = {"method": method, "artifact": artifact.name, "format": artifact.suffix[1:], **extra}
        for split in ("selection", "evaluation"):
            result[split] = metrics(predict(artifact, self.crops[split], self.pre), self.reference[split])
        (self.root / "results").mkdir(exist_ok=True)
        (self.root / "results" / f"{method}.json").write_text(json.dumps(result, indent=2))
        return result


def ort_peer(ws: Workspace, method: str, calibrator: str) -> dict:
    """ONNX Runtime's quantizer as a user would call it, with one of its calibrators."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)

    folder = ws.folder(method)
    prepared, out = folder / "prepared.onnx", folder / "model.int8.onnx"
    quant_pre_process(str(ws.fp32_onnx()), str(prepared), skip_symbolic_shape=True)
    start = time.perf_counter()
    quantize_static(str(prepared), str(out), Calibration(ws.normalized(ws.calibration())),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, calibrator),
                    extra_options={"CalibMaxIntermediateOutputs": 16})
    seconds = time.perf_counter() - start
    prepared.unlink()
    return ws.evaluate(method, out, {"goal": "the peer: ONNX Runtime's own calibrator", "seconds": round(seconds, 1),
                                     "description": f"onnxruntime quantize_static, {calibrator} calibration"})


def plan_for(ws: Workspace, ranges: str, bias_correction: bool, views: str = "crops",
             float_layers: int = 0) -> Int8Plan:
    """The library's int8 plan from the calibration crops, cached (weights .npz + ranges .json)."""
    key = ws.root / "plans" / f"{ranges}-{'bc' if bias_correction else 'nobc'}-{views}-float{float_layers}"
    if (key / "plan.json").is_file():
        record = json.loads((key / "plan.json").read_text())
        return Int8Plan(dict(np.load(key / "weights.npz")), {k: tuple(v) for k, v in record["ranges"].items()},
                        record["method"], record["shifts"], record["float_layers"])
    inputs = ws.normalized(ws.calibration(views))
    model = imagenet_mobilenet_v2()
    start = time.perf_counter()
    plan = plan_int8(model.spec, folded_weights(model), inputs, ranges, bias_correction, float_layers=float_layers)
    plan.method["seconds"] = round(time.perf_counter() - start, 1)
    key.mkdir(parents=True, exist_ok=True)
    np.savez(key / "weights.npz", **plan.weights)
    (key / "plan.json").write_text(json.dumps({"ranges": plan.ranges, "method": plan.method, "shifts": plan.shifts,
                                               "float_layers": plan.float_layers}))
    return plan


def planned(ws: Workspace, fmt: str, method: str) -> dict:
    """A method named FORMAT-plan-RANGES[-bc][-flips][-floatK][-8bit]: our export with the library's
    plan (floatK: the K most sensitive layers left in float; 8bit: ONNX weights in 8 bits, not
    7: what reduce_range costs on a VNNI CPU, where it is not needed)."""
    parts = method.split("-")[2:]
    ranges, bc = parts[0], "bc" in parts
    views = next((part for part in parts if part in ("flips", "center")), "crops")
    floats = next((int(part[5:]) for part in parts if part.startswith("float")), 0)
    plan = plan_for(ws, ranges, bc, views, floats)
    description = (f"{ranges} ranges" + (", bias correction" if bc else "")
                   + {"crops": "", "flips": ", calibration crops + their mirror images",
                      "center": ", one centre crop per calibration photo"}[views]
                   + (f", {floats} layers in float ({', '.join(plan.float_layers)})" if floats else ""))
    if fmt == "onnx":
        full = "8bit" in parts
        return ours_onnx(ws, method, description + (", 8-bit weights" if full else ""), views, plan=plan,
                         reduce_range=not full)
    return ours_tflite(ws, method, description, views, plan=plan)


def ours_onnx(ws: Workspace, method: str, description: str, views: str = "crops", **options) -> dict:
    folder = ws.folder(method)
    start = time.perf_counter()
    quantize_onnx(ws.fp32_onnx(), folder / "model.int8.onnx", ws.normalized(ws.calibration(views)), **options)
    return ws.evaluate(method, folder / "model.int8.onnx", {"seconds": round(time.perf_counter() - start, 1),
                                                            "description": description})


def ours_tflite(ws: Workspace, method: str, description: str, views: str = "crops", **options) -> dict:
    folder = ws.folder(method)
    start = time.perf_counter()
    work = folder / "work"
    work.mkdir(exist_ok=True)
    paths = convert_tflite(imagenet_mobilenet_v2(), ws.info.resolution, ws.pre.mean, ws.pre.std,
                           ws.calibration(views), work, **options)
    shutil.move(paths["int8"], folder / "model.int8.tflite")
    shutil.rmtree(work)
    return ws.evaluate(method, folder / "model.int8.tflite", {"seconds": round(time.perf_counter() - start, 1),
                                                              "description": description})


METHODS = {
    "onnx-before": lambda ws: ours_onnx(ws, "onnx-before", "our quantize_onnx before issue 11 (MinMax)"),
    "tflite-before": lambda ws: ours_tflite(ws, "tflite-before", "our TFLite int8 before issue 11 "
                                            "(TFLiteConverter, its MinMax calibration)"),
    "ort-minmax": lambda ws: ort_peer(ws, "ort-minmax", "MinMax"),
    "ort-percentile": lambda ws: ort_peer(ws, "ort-percentile", "Percentile"),
    "ort-entropy": lambda ws: ort_peer(ws, "ort-entropy", "Entropy"),
}


def time_methods(ws: Workspace, methods: list[str], rounds: int) -> None:
    """Latency of each method's int8 file (LiteRT or ONNX Runtime, 1 thread), with
    keras.applications' int8 MobileNetV2 1.0-224 as the reference in the same rounds;
    each method's ratio to it goes into its cached results."""
    from benchmarks.bench_references import keras_reference
    from benchmarks.rounds import bench_rounds, median_ratio
    from edge_mobilenet.bench.harness import Settings
    from edge_mobilenet.bench.models import open_models
    from edge_mobilenet.bench.targets import get_target

    reference = ws.root / "keras" / "keras_applications.int8.tflite"
    if not reference.is_file():
        shutil.rmtree(reference.parent, ignore_errors=True)
        reference = keras_reference(ws.run, reference.parent)
    results = {m: json.loads((ws.root / "results" / f"{m}.json").read_text()) for m in methods}
    paths = [reference] + [ws.root / "methods" / m / r["artifact"] for m, r in results.items()]
    records = bench_rounds(open_models(paths), get_target("cpu"), Settings(threads=1, runs=30, warmup=5,
                                                                             profile_ops=False), rounds)
    for i, (method, result) in enumerate(results.items(), start=1):
        result["latency_over_keras_int8"] = round(median_ratio(records, lambda r: r["latency_ms"]["median"], i, 0), 3)
        (ws.root / "results" / f"{method}.json").write_text(json.dumps(result, indent=2))
        print(method, "latency / keras.applications int8:", result["latency_over_keras_int8"], flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="", help=f"comma-separated, of: {', '.join(METHODS)}")
    parser.add_argument("--time", default="", help="comma-separated methods (already run) to time against "
                        "keras.applications' int8 MobileNetV2 in interleaved rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/int8_methods"))
    parser.add_argument("--report", action="store_true", help="write benchmarks/results/int8_methods.*")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    ws = Workspace(args.cache)
    for method in filter(None, args.methods.split(",")):
        fmt = method.split("-")[0]
        result = planned(ws, fmt, method) if "-plan-" in method else METHODS[method](ws)
        print(method, "selection", result["selection"], "evaluation", result["evaluation"], flush=True)
    if args.time:
        time_methods(ws, args.time.split(","), args.rounds)
    if args.report:
        report(ws)


def selection_ranks(results: dict, fmt: str) -> dict[str, float]:
    """Each candidate default of a format (its range methods, with and without bias correction,
    on the standard crops) by its mean rank over the three selection figures (1: best)."""
    candidates = {k: r["selection"] for k, r in results.items()
                  if k.startswith(f"{fmt}-plan-") and len(k.split("-")) <= 4}
    ranks = {k: 0.0 for k in candidates}
    for key in ("sqnr_db", "top1_agreement", "confident_agreement"):
        for rank, name in enumerate(sorted(candidates, key=lambda k: -candidates[k][key]), start=1):
            ranks[name] += rank / 3
    return dict(sorted(ranks.items(), key=lambda item: item[1]))


def verdict(results: dict) -> dict:
    """The targets, for each format's library default (chosen on the selection photos)."""
    peers = {k: r["evaluation"] for k, r in results.items() if k.startswith("ort-")}
    if not peers:
        return {}
    best = max(peers.values(), key=lambda m: m["sqnr_db"])
    out = {"peer_best_sqnr_db": best["sqnr_db"], "peer_top1_agreement": max(m["top1_agreement"] for m in peers.values())}
    for fmt in ("onnx", "tflite"):
        name = f"{fmt}-plan-{DEFAULT_RANGES}-bc"
        if name not in results:
            continue
        e = results[name]["evaluation"]
        out[fmt] = {"method": name, "sqnr_db": e["sqnr_db"], "sqnr_met": e["sqnr_db"] >= best["sqnr_db"] + 2,
                    "top1_agreement": e["top1_agreement"], "confident_agreement": e["confident_agreement"],
                    "agreement_met": e["top1_agreement"] >= out["peer_top1_agreement"],
                    "confident_met": e["confident_agreement"] >= 0.95,
                    "selection_ranks": selection_ranks(results, fmt)}
        if fmt == "tflite" and "latency_over_keras_int8" in results[name]:
            out[fmt]["latency_over_keras_int8"] = results[name]["latency_over_keras_int8"]
            out[fmt]["latency_met"] = results[name]["latency_over_keras_int8"] <= 1.05
    return out


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(ws: Workspace) -> None:
    results = {p.stem: json.loads(p.read_text()) for p in sorted((ws.root / "results").glob("*.json"))}
    record = {"goal": GOALS, "machine": machine_info(), "photos": {k: [p.name for p in v] for k, v in photo_split().items()},
              "crops_per_photo": CROPS, "seed": SEED, "default": f"{DEFAULT_RANGES} ranges + bias correction",
              "verdict": verdict(results), "methods": results}
    machine = record["machine"]
    lines = ["# int8 methods on the ImageNet MobileNetV2 1.0-224", "", f"Goal: {GOALS}.", "",
             f"Machine: {machine['cpu']} ({machine.get('int8_instructions', '?')}), {machine['cores']} cores.",
             f"Photos (scikit-image and MATE's, split by photo, seed {SEED}, {CROPS} random crops each): "
             + "; ".join(f"{k}: {', '.join(p.name for p in v)}" for k, v in photo_split().items()) + ".",
             "Methods are compared and the default chosen on the selection photos; the evaluation photos are only "
             "reported. Latency: the int8 file's median over 5 interleaved rounds (1 thread) over keras.applications' "
             "int8 MobileNetV2 1.0-224 (TFLiteConverter) in the same rounds.", "",
             "| method | description | selection SQNR | sel. agreement | sel. confident | eval SQNR | eval agreement "
             "| eval confident (n) | latency / keras int8 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s, e = r["selection"], r["evaluation"]
        latency = f"{r['latency_over_keras_int8']:.2f}x" if "latency_over_keras_int8" in r else ""
        lines.append(f"| {name} | {r['description']} | {s['sqnr_db']:.1f} dB | {100 * s['top1_agreement']:.1f}% "
                     f"| {100 * s['confident_agreement']:.1f}% | {e['sqnr_db']:.1f} dB | {100 * e['top1_agreement']:.1f}% "
                     f"| {100 * e['confident_agreement']:.1f}% ({e['confident_images']}) | {latency} |")
    v = record["verdict"]
    if v:
        lines += ["", f"Peer (best ONNX Runtime calibrator on the evaluation photos): {v['peer_best_sqnr_db']:.1f} dB, "
                  f"best agreement {100 * v['peer_top1_agreement']:.1f}%.", ""]
        for fmt in ("onnx", "tflite"):
            if fmt not in v:
                continue
            t = v[fmt]
            ranks = ", ".join(f"{k} {r:.2f}" for k, r in t["selection_ranks"].items())
            latency = (f"; latency <= 1.05x keras.applications int8: {met(t['latency_met'])} "
                       f"({t['latency_over_keras_int8']:.2f}x)" if "latency_met" in t else "")
            lines.append(f"- **{fmt}** default ({t['method']}): {t['sqnr_db']:.1f} dB, SQNR >= peer + 2 dB: "
                         f"{met(t['sqnr_met'])}; agreement {100 * t['top1_agreement']:.1f}% >= peer: "
                         f"{met(t['agreement_met'])}; {100 * t['confident_agreement']:.1f}% where fp32 is confident, "
                         f">= 95%: {met(t['confident_met'])}{latency}. Mean rank of the candidates on the selection "
                         f"photos (SQNR, agreement, confident agreement): {ranks}.")
        lines += ["", "Variants of each default, on the evaluation photos (SQNR, agreement, confident agreement):"]
        for name, r in results.items():
            base = next((f"{fmt}-plan-{DEFAULT_RANGES}-bc" for fmt in ("onnx", "tflite")
                         if name.startswith(f"{fmt}-plan-{DEFAULT_RANGES}-bc-")), None)
            if base in results:
                e, d = r["evaluation"], results[base]["evaluation"]
                lines.append(f"- {name} ({r['description']}): {e['sqnr_db']:.1f} dB, {100 * e['top1_agreement']:.1f}%, "
                             f"{100 * e['confident_agreement']:.1f}% against the default's {d['sqnr_db']:.1f} dB, "
                             f"{100 * d['top1_agreement']:.1f}%, {100 * d['confident_agreement']:.1f}%")
    write_results("int8_methods", record, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
