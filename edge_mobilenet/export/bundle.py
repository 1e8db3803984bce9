"""`edgemb export`: a run directory -> a validated bundle of models, one export backend per format
(export/backend.py: ONNX, TFLite, ExecuTorch).

Everything is written into a temporary sibling folder and renamed into place
at the end, so a failed or interrupted export leaves no half-written bundle.
"""
import importlib.metadata
import shutil
import time
from pathlib import Path

import torch

from ..data import calibration_images, load_split
from ..data.preprocess import normalize, normalize_nchw
from ..errors import EdgembError
from ..io import (DISK_FULL, DiskFull, atomic_dir, folder_lock, sweep_stale, write_bytes_atomic, write_json_atomic,
                  write_text_atomic)
from ..metrics import top_k_accuracy
from ..run import WEIGHTS_FILE, load_run
from ..runtime import load_runner
from ..quantization import DEFAULT_RANGES, folded_weights
from .backend import Job
from .calibration import describe_plan, plan_int8
from .executorch import ExecuTorchBackend
from .layer_report import artifact_layers
from .onnx import OPSET, OnnxBackend
from .report import report_markdown, worst_layers_line
from .tflite import TFLiteBackend
from .validate import FP32_TOLERANCE, compare

BACKENDS = {backend.name: backend for backend in (OnnxBackend(), TFLiteBackend(), ExecuTorchBackend())}
FORMATS = tuple(BACKENDS)
MIN_CALIBRATION = 100
# The formats whose int8 export takes export.calibration's plan (ranges, corrected biases);
# ExecuTorch's PT2E quantizer calibrates itself.
PLANNED_FORMATS = {"onnx", "tflite"}
PARITY_IMAGES = 32


def versions() -> dict:
    names = ["edge-mobilenet", "torch", "onnx", "onnxruntime", "onnxscript", "tensorflow-cpu", "ai-edge-litert",
             "executorch"]
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def export_bundle(run_dir: Path, out_dir: Path, **options) -> dict:
    """Export a run; return the report (also written as report.json and report.md).
    Refused while another live process writes out_dir (its lock); a disk that fills
    up leaves nothing behind and any previous bundle as it was."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(out_dir):
        sweep_stale(out_dir.parent, out_dir.name)
        try:
            return write_bundle(run_dir, out_dir, **options)
        except (DiskFull, OSError) as e:
            if not isinstance(e, DiskFull) and e.errno not in DISK_FULL:
                raise
            previous = f"; the previous {out_dir} is intact" if out_dir.exists() else ""
            raise EdgembError(f"no space left on device in {out_dir.parent.resolve()}: "
                              f"nothing was written{previous}") from None


def write_bundle(run_dir: Path, out_dir: Path, *, formats=FORMATS, int8: bool = False,
                 calib_data: str | None = None, calib_samples: int = 300, calib_ranges: str = DEFAULT_RANGES,
                 bias_correction: bool = True, float_layers: int = 0, onnx_reduce_range: bool = True,
                 val_samples: int = 1000, force: bool = False,
                 android_demo: Path | None = None, log=print) -> dict:
    start = time.perf_counter()
    info, model = load_run(run_dir)
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise EdgembError(f"{out_dir} already exists: pass --force to replace it, or --out another folder")
    pre = info.preprocessing

    def stage(message: str, since: float) -> float:
        now = time.perf_counter()
        log(f"{message} ({now - since:.1f}s)")
        return now

    t = start
    calibration = None
    if int8:
        source = calib_data or info.dataset.get("path") or info.dataset.get("kind")
        if not source or source == "imagenet":
            raise EdgembError("this run has no training data of its own to calibrate int8 with: "
                              "pass --calib-data DIR (a folder of a few dozen real photos) or fashion-mnist")
        calibration = calibration_images(source, pre, calib_samples)
        if calibration.ndim != 4 or calibration.shape[1:] != (info.resolution, info.resolution, 3):
            raise EdgembError(f"calibration images have shape {calibration.shape[1:]}, "
                              f"the model takes {(info.resolution, info.resolution, 3)}")
        if len(calibration) < MIN_CALIBRATION:
            log(f"warning: only {len(calibration)} calibration images (fewer than {MIN_CALIBRATION}); "
                "int8 ranges may clip: pass more with --calib-samples or --calib-data")
        t = stage(f"calibration: {len(calibration)} images from {source}", t)
    plan = None
    if int8 and PLANNED_FORMATS & set(formats):
        inputs = normalize_nchw(calibration, pre)
        plan = plan_int8(model.spec, folded_weights(model), inputs, calib_ranges, bias_correction,
                         float_layers=float_layers)
        t = stage(f"int8 plan: {describe_plan(plan.method)}", t)

    labels = None
    if info.dataset.get("kind") in ("fashion-mnist", "folder"):
        val = load_split(info.dataset, "val", pre, limit=val_samples or None)
        images, labels = val.pixels, val.labels
    elif calibration is not None:
        images = calibration  # no labelled data: agreement with PyTorch only
    else:
        raise EdgembError("this run has no validation data: pass --calib-data DIR so the export can be "
                          "checked against PyTorch on real images")
    with torch.inference_mode():
        x = torch.from_numpy(normalize(images, pre)).permute(0, 3, 1, 2)
        reference = torch.cat([model(batch).softmax(1) for batch in x.split(64)]).numpy()
    t = stage(f"validation set: {len(images)} images, PyTorch reference", t)

    report = {"run": str(run_dir), "arch": info.arch, "alpha": info.alpha, "resolution": info.resolution,
              "num_classes": info.num_classes, "validation_images": len(images),
              "labelled": labels is not None, "artifacts": {}}
    torch_metrics = {"size_bytes": (Path(run_dir) / WEIGHTS_FILE).stat().st_size}
    if labels is not None:
        torch_metrics |= {"top1": top_k_accuracy(reference, labels, 1),
                          "top5": top_k_accuracy(reference, labels, min(5, info.num_classes))}
    report["pytorch"] = torch_metrics
    if plan is not None:
        report["int8_method"] = plan.method | {"formats": sorted(PLANNED_FORMATS & set(formats)),
                                               "onnx_weight_bits": 7 if onnx_reduce_range else 8,
                                               "chosen_by": "benchmarks/results/int8_methods.md"}

    with atomic_dir(out_dir, force=force) as tmp:
        work = tmp / ".work"
        work.mkdir()
        def step(message: str) -> None:
            nonlocal t
            t = stage(message, t)

        backends = [BACKENDS[name] for name in formats]
        for backend in backends:
            backend.build(Job(model, info, calibration, tmp, work, step, plan, onnx_reduce_range))
        shutil.rmtree(work)

        write_text_atomic(tmp / "labels.txt", "\n".join(info.class_names) + "\n")
        bundle_info = info.to_json() | {"export": {"opset": OPSET, "versions": versions(),
                                                   "calibration": None if calibration is None else
                                                   {"source": calib_data or info.dataset, "samples": len(calibration)},
                                                   "artifacts": {}}}
        write_json_atomic(tmp / "edgemb.json", bundle_info)

        for backend, name in ((b, name) for b in backends for name in b.files(int8)):
            runner = load_runner(tmp / name)
            outputs = runner.predict(images)
            metrics = {"format": runner.format, "precision": runner.precision,
                       "size_bytes": runner.size_bytes, **compare(outputs, reference, labels),
                       "input": {"shape": [int(d) for d in runner.input_shape], "dtype": runner.input_dtype.name,
                                 **backend.input_contract(runner.precision)},
                       **backend.inspect(tmp / name, plan.float_layers if plan else [])}
            if runner.precision == "fp32" and metrics["max_abs_diff"] > FP32_TOLERANCE:
                raise EdgembError(f"{name} disagrees with PyTorch (max abs diff {metrics['max_abs_diff']:.2g} "
                                  f"> {FP32_TOLERANCE}): nothing was written")
            report["artifacts"][name] = metrics
            bundle_info["export"]["artifacts"][name] = metrics["input"]
        t = stage(f"validated {len(report['artifacts'])} artifacts on {len(images)} images", t)
        for name, metrics in report["artifacts"].items():
            if metrics["precision"] == "int8" and metrics["format"] in ("onnx", "tflite"):
                metrics |= artifact_layers(tmp / name, model, images, pre)
                step(f"{name} per-layer SQNR on {metrics['layer_images']} images: {worst_layers_line(metrics)}")

        report["headline"] = headline(report)
        report["seconds"] = round(time.perf_counter() - start, 1)
        write_json_atomic(tmp / "edgemb.json", bundle_info)
        write_json_atomic(tmp / "report.json", report)
        write_text_atomic(tmp / "report.md", report_markdown(report))

    if android_demo is not None:
        install_in_android_demo(out_dir, Path(android_demo))
    return report


def headline(report: dict) -> dict:
    """The int8 accuracy drop vs fp32, per format: what a user looks at first."""
    out = {}
    for fp32_name, metrics in report["artifacts"].items():
        int8_name = fp32_name.replace("model.", "model.int8.")
        if ".int8." in fp32_name or int8_name not in report["artifacts"]:
            continue
        q = report["artifacts"][int8_name]
        entry = {"size_ratio": q["size_bytes"] / metrics["size_bytes"], "top1_agreement": q["top1_agreement"],
                 "sqnr_db": q["sqnr_db"]}
        if "top1" in q:
            entry["top1_drop_points"] = round(100 * (metrics["top1"] - q["top1"]), 2)
        out[metrics["format"]] = entry
    return out


def install_in_android_demo(bundle: Path, app_dir: Path) -> Path:
    """Copy the bundle's best .tflite (int8 if present) into the demo app's assets."""
    source = bundle / "model.int8.tflite"
    if not source.is_file():
        source = bundle / "model.tflite"
    if not source.is_file():
        raise EdgembError(f"{bundle} has no .tflite to copy: export with --formats tflite")
    if not (app_dir / "app").is_dir():
        raise EdgembError(f"{app_dir} is not the android_demo project (no app/ folder)")
    target = app_dir / "app" / "src" / "main" / "assets" / "model.tflite"
    write_bytes_atomic(target, source.read_bytes())
    return target
