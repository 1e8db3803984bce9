"""A run directory: what `edgemb train` and `edgemb pretrained` write and every
later step reads. `edgemb.json` is the single record of the architecture, the
class names and the preprocessing; `model.pt` holds the best weights as a plain
state_dict."""
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__
from .checkpoints import load_state_dict
from .data.preprocess import Preprocessing
from .errors import EdgembError
from .io import write_json_atomic
from .models import ARCHS, build_model

if TYPE_CHECKING:
    from .models import MobileNet

RUN_FILE = "edgemb.json"
WEIGHTS_FILE = "model.pt"
FORMAT_VERSION = 1


@dataclass
class RunInfo:
    arch: str
    alpha: float
    resolution: int
    class_names: list[str]
    preprocessing: Preprocessing
    dataset: dict = field(default_factory=dict)  # {"kind": "fashion-mnist"|"folder"|"imagenet", "path": ...}
    extra: dict = field(default_factory=dict)  # training config, best metrics, versions: kept as written

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> dict:
        return {**self.extra, "arch": self.arch, "alpha": self.alpha, "resolution": self.resolution,
                "num_classes": self.num_classes, "class_names": self.class_names,
                "preprocessing": self.preprocessing.to_json(), "dataset": self.dataset}

    @classmethod
    def from_json(cls, d: dict) -> "RunInfo":
        known = {"arch", "alpha", "resolution", "num_classes", "class_names", "preprocessing", "dataset"}
        info = cls(arch=d["arch"], alpha=float(d["alpha"]), resolution=int(d["resolution"]),
                   class_names=list(d["class_names"]),
                   preprocessing=Preprocessing.from_json(d["preprocessing"]),
                   dataset=d.get("dataset", {}), extra={k: v for k, v in d.items() if k not in known})
        if info.arch not in ARCHS:
            raise ValueError(f"unknown arch {info.arch!r}")
        if d.get("num_classes", info.num_classes) != info.num_classes:
            raise ValueError("num_classes does not match class_names")
        return info

    def build_model(self) -> "MobileNet":
        return build_model(self.arch, self.alpha, self.num_classes)


def versions() -> dict:
    """What made a run: recorded in its edgemb.json."""
    import torch  # here, not at the top: reading a run directory needs no torch
    return {"edgemb": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def write_run_info(out: Path, info: RunInfo) -> None:
    write_json_atomic(Path(out) / RUN_FILE, info.to_json())


def read_run_info(run_dir: Path) -> RunInfo:
    path = Path(run_dir) / RUN_FILE
    if not Path(run_dir).is_dir():
        raise EdgembError(f"{run_dir} is not a run directory (make one with edgemb train or edgemb pretrained)")
    if not path.is_file():
        raise EdgembError(f"{path} is missing: {run_dir} is not a finished run directory")
    try:
        return RunInfo.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as e:
        raise EdgembError(f"{path} is damaged ({type(e).__name__}: {e})") from None


def load_run(run_dir: Path) -> tuple[RunInfo, "MobileNet"]:
    """The run's description and its best weights in eval mode."""
    info = read_run_info(run_dir)
    weights = Path(run_dir) / WEIGHTS_FILE
    if not weights.is_file():
        raise EdgembError(f"{weights} is missing: the run has not finished an epoch yet")
    model = info.build_model()
    try:
        model.load_state_dict(load_state_dict(weights), strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise EdgembError(f"{weights} does not fit {info.arch} alpha={info.alpha:g} with "
                          f"{info.num_classes} classes ({first})") from None
    return info, model.eval()

