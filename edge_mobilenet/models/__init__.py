"""MobileNet families, built from one architecture description (spec.py)."""
from .mobilenet_v1 import conv_mobilenet_v1, mobilenet_v1, mobilenet_v1_spec
from .mobilenet_v2 import conv_mobilenet_v2, mobilenet_v2, mobilenet_v2_spec
from typing import TYPE_CHECKING

from .spec import ArchSpec, standard_conv_twin

if TYPE_CHECKING:
    from .torch_model import MobileNet

SPECS = {"mobilenet_v1": mobilenet_v1_spec, "mobilenet_v2": mobilenet_v2_spec}
ARCHS = ["mobilenet_v1", "mobilenet_v2", "conv_mobilenet_v1", "conv_mobilenet_v2"]


def build_spec(arch: str, alpha: float = 1.0, num_classes: int = 1000) -> ArchSpec:
    """The description of any of ARCHS; `conv_` names give the standard-conv twin."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}: choose one of {', '.join(ARCHS)}")
    twin = arch.startswith("conv_")
    spec = SPECS[arch.removeprefix("conv_")](alpha, num_classes)
    return standard_conv_twin(spec) if twin else spec


def build_model(arch: str, alpha: float = 1.0, num_classes: int = 1000) -> "MobileNet":
    from .torch_model import MobileNet
    return MobileNet(build_spec(arch, alpha, num_classes))


def __getattr__(name: str):
    """MobileNet (the PyTorch module) is imported on first use: the architecture
    descriptions and ARCHS load without torch, so commands that need no torch start fast."""
    if name == "MobileNet":
        from .torch_model import MobileNet
        return MobileNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ARCHS", "ArchSpec", "MobileNet", "build_model", "build_spec", "mobilenet_v1",
           "mobilenet_v2", "conv_mobilenet_v1", "conv_mobilenet_v2", "mobilenet_v1_spec",
           "mobilenet_v2_spec", "standard_conv_twin"]
