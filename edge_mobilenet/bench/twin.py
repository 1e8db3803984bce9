"""The standard-conv twin for `edgemb bench --compare-conv`.

The twin is the arch's `conv_` description with the same alpha, resolution and
classes and random weights (latency does not depend on them), built by the very
export backends `edgemb export` uses, into the same format and precision: the
same input contract and the same metadata as the model it is set against, so the
same runner and target time both on the same input bytes.
"""
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..errors import EdgembError
from ..export.backend import Job
from ..export.bundle import BACKENDS
from ..io import write_json_atomic
from ..run import RUN_FILE, WEIGHTS_FILE, RunInfo


def twin_info(info: RunInfo) -> RunInfo:
    if info.arch.startswith("conv_"):
        raise EdgembError(f"{info.arch} has no depthwise separable convs to compare with: "
                          "benchmark a mobilenet_v1/v2 model instead")
    return replace(info, arch="conv_" + info.arch, extra={})


def export_random(info: RunInfo, fmt: str, precision: str, pixels: np.ndarray | None, folder: Path) -> Path:
    """A randomly initialised model of `info`'s arch as `fmt` ("pytorch", or an export
    backend's format) and `precision`, written into `folder` beside its edgemb.json
    (int8 leaves the fp32 model there too); int8 calibrates on `pixels` (uint8
    N x R x R x 3). Returns the path to benchmark."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RUN_FILE, info.to_json())
    model = info.build_model().eval()
    if fmt == "pytorch":
        torch.save(model.state_dict(), folder / WEIGHTS_FILE)
        return folder
    if fmt not in BACKENDS:
        raise EdgembError(f"no standard-conv twin can be exported as {fmt}")
    work = folder / "work"
    work.mkdir()
    backend = BACKENDS[fmt]
    backend.build(Job(model, info, pixels if precision == "int8" else None, folder, work, log=lambda line: None))
    shutil.rmtree(work)
    return twin_file(folder, fmt, precision)


def twin_file(folder: Path, fmt: str, precision: str) -> Path:
    """Where export_random(..., fmt, ...) into `folder` left the model of `precision`."""
    if fmt == "pytorch":
        return folder
    fp32, int8 = BACKENDS[fmt].files(True)
    return folder / (int8 if precision == "int8" else fp32)
