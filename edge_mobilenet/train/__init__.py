"""Training (transfer learning, resumable, torchrun-distributed), evaluation and prediction."""
from .config import TrainConfig
from .loop import Quiet, Reporter, saved_config, train

__all__ = ["Quiet", "Reporter", "TrainConfig", "saved_config", "train"]
