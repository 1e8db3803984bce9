"""The files only training writes into a run directory: history.json, curves.png, and
the name of last.pt (edgemb.json and model.pt are run.py's). Each is written atomically."""
import io
from pathlib import Path

from ..io import write_bytes_atomic, write_json_atomic

HISTORY_FILE = "history.json"
CURVES_FILE = "curves.png"
LAST_FILE = "last.pt"


def write_history(out: Path, history: list[dict]) -> None:
    write_json_atomic(Path(out) / HISTORY_FILE, history)


def write_curves(out: Path, history: list[dict]) -> None:
    """Training loss every few dozen steps, and per epoch the loss and top-1 accuracy of
    training and validation: a one-epoch run still shows the shape of its loss."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [h["epoch"] for h in history]
    steps = [point for h in history for point in h.get("steps", [])]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    if steps:
        loss_axes.plot([p["epoch"] for p in steps], [p["train_loss"] for p in steps], "-", alpha=0.6,
                       label="train (every few steps)")
    loss_axes.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (epoch mean)")
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
