"""Training (transfer learning, resumable, torchrun-distributed), evaluation and prediction."""
from .config import TrainConfig

LOOP_NAMES = ("Quiet", "Reporter", "saved_config", "train")


def __getattr__(name: str):
    """The loop (and with it torch) is imported on first use, so that the command line,
    which reads TrainConfig's defaults, starts fast for commands that do not train."""
    if name in LOOP_NAMES:
        from . import loop
        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TrainConfig", *LOOP_NAMES]
