"""TFLite export: rebuild the network in Keras from the same ArchSpec, copy the
(BatchNorm-folded) weights, and convert with TFLiteConverter.

This path gives NHWC with zero TRANSPOSE ops and every op in int8 with per-channel
weights (tests/test_export.py checks both on every export), at keras.applications'
int8 speed at 1.0-64 (benchmarks/results/export_targets.md). litert-torch and ai-edge-quantizer
were tried by hand and lost int8 accuracy; no benchmark in this repository records
that comparison. TensorFlow runs in a worker process of its own:
torch's exporter and TensorFlow in one process have been seen to fail silently.
"""
import errno
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import EdgembError
from ..io import write_bytes_atomic
from ..models import MobileNet
from ..processes import dies_with_parent
from ..tflite_metadata import add_metadata
from .backend import Backend, Job
from .validate import tflite_ops
from .calibration import Int8Plan
from ..quantization import folded_weights


def convert_tflite(model: MobileNet, resolution: int, mean, std, calibration: np.ndarray | None,
                   workdir: Path, plan: Int8Plan | None = None) -> dict[str, Path]:
    """Write model.tflite (float32 in and out) and, given calibration pixels (uint8
    N x R x R x 3), model.int8.tflite (uint8 in and out, int8 inside) into workdir;
    return their paths by precision. Both take raw 0..255 RGB pixels: normalization
    is inside the model, so MediaPipe (which refuses per-channel normalization
    metadata) and a camera frame can feed them as they are."""
    workdir = Path(workdir)
    np.savez(workdir / "weights.npz", **folded_weights(model))
    job = {"arch": model.spec.name, "alpha": model.spec.alpha, "num_classes": model.spec.num_classes,
           "resolution": resolution, "mean": list(mean), "std": list(std),
           "weights": str(workdir / "weights.npz"), "fp32": str(workdir / "model.tflite")}
    if calibration is not None:
        np.save(workdir / "calibration.npy", calibration)
        job |= {"calibration": str(workdir / "calibration.npy"), "int8": str(workdir / "model.int8.tflite")}
    if calibration is not None and plan is not None:  # corrected weights and ranges for int8
        np.savez(workdir / "int8_weights.npz", **plan.weights)
        job |= {"int8_weights": str(workdir / "int8_weights.npz"), "ranges": plan.ranges,
                "float_layers": plan.float_layers}
    (workdir / "tflite_job.json").write_text(json.dumps(job))
    # The worker dies with us (a killed export leaves no TensorFlow converting for nobody).
    proc = subprocess.run([sys.executable, "-m", "edge_mobilenet.export.tflite_worker",
                           str(workdir / "tflite_job.json")], capture_output=True, text=True,
                          preexec_fn=dies_with_parent())
    if proc.returncode != 0:
        if os.strerror(errno.ENOSPC) in proc.stderr:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(workdir))
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"TFLite conversion failed:\n{tail}")
    paths = {"fp32": Path(job["fp32"])}
    if calibration is not None:
        paths["int8"] = Path(job["int8"])
    for path in paths.values():
        if not path.is_file() or path.stat().st_size == 0:
            raise EdgembError(f"TFLite conversion wrote no {path.name}")
    return paths


class TFLiteBackend(Backend):
    name = suffix = "tflite"

    def build(self, job: Job) -> None:
        info = job.info
        pre = info.preprocessing
        paths = convert_tflite(job.model, info.resolution, pre.mean, pre.std, job.calibration, job.work, job.plan)
        # Both take raw pixels: the float one declares the identity normalization.
        raw_pixels = replace(pre, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        for precision, path in paths.items():
            name = "model.tflite" if precision == "fp32" else "model.int8.tflite"
            write_bytes_atomic(job.out / name, add_metadata(
                path.read_bytes(), name=f"{info.arch} {info.alpha:g}-{info.resolution} {precision}",
                description=f"edgemb {info.arch} alpha={info.alpha:g} classifier, {precision}",
                version=__version__, class_names=info.class_names, preprocessing=raw_pixels))
        job.log(" + ".join(self.files(job.int8)) + ": Keras rebuild, TFLiteConverter, metadata")

    def input_contract(self, precision: str) -> dict:
        return {"layout": "NHWC", "normalized": False}  # raw 0..255 RGB: normalization is inside

    def inspect(self, path: Path, float_layers: list[str]) -> dict:
        census, problems = tflite_ops(path)
        # Layers left in float on request run in float between a DEQUANTIZE and a QUANTIZE.
        mixed = [p for p in problems if float_layers and ("runs in float" in p or "inside the graph" in p)]
        problems = [p for p in problems if p not in mixed]
        if problems:
            raise RuntimeError(f"{path.name} breaks the all-int8/NHWC contract: {'; '.join(problems)}")
        return {"ops": dict(census.most_common()), "problems": problems, "float_ops": len(mixed)}
