"""The files of a run directory besides the weights: edgemb.json, history.json, curves.png.
Each is written atomically."""
import io
import platform
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..io import write_bytes_atomic, write_json_atomic
from ..run import RUN_FILE, RunInfo

HISTORY_FILE = "history.json"
CURVES_FILE = "curves.png"
LAST_FILE = "last.pt"
FORMAT_VERSION = 1


def versions() -> dict:
    return {"edgemb": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def write_run_info(out: Path, info: RunInfo) -> None:
    write_json_atomic(Path(out) / RUN_FILE, info.to_json())


def write_history(out: Path, history: list[dict]) -> None:
    write_json_atomic(Path(out) / HISTORY_FILE, history)


def write_curves(out: Path, history: list[dict]) -> None:
    """Loss and top-1 accuracy per epoch, training and validation."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [h["epoch"] for h in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axes.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    loss_axes.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
    loss_axes.set(title="Loss", xlabel="epoch")
    accuracy_axes.plot(epochs, [100 * h["train_top1"] for h in history], "o-", label="train")
    accuracy_axes.plot(epochs, [100 * h["val_top1"] for h in history], "o-", label="validation")
    accuracy_axes.set(title="Top-1 accuracy (%)", xlabel="epoch")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_bytes_atomic(Path(out) / CURVES_FILE, buffer.getvalue())
