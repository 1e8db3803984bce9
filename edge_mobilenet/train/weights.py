"""Starting weights (ImageNet or a user's checkpoint) and the files holding weights.

Every load goes through checkpoints.load_state_dict (torch.load with
weights_only=True): a file that needs arbitrary objects unpickled is refused."""
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import load_state_dict, save_state_dict
from ..errors import EdgembError
from ..pretrained import imagenet_class_names, imagenet_weights_path
from ..run import FORMAT_VERSION, RUN_FILE, WEIGHTS_FILE, read_run_info

CLASSIFIER_PREFIX = "classifier."
CHECKPOINT_KEYS = {"epoch", "seed", "model", "optimizer", "scheduler", "history", "best"}


def model_weights(path: Path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """The weights in a run directory, a model.pt or a last.pt, and the class names
    when an edgemb.json beside them tells."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise EdgembError(f"{path} does not exist: give a run directory or a .pt checkpoint")
    state = load_state_dict(path)
    if isinstance(state.get("model"), dict):  # a last.pt resume checkpoint
        state = state["model"]
    names = read_run_info(path.parent).class_names if (path.parent / RUN_FILE).is_file() else None
    return state, names


def starting_weights(pretrained: str, arch: str, alpha: float) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    if pretrained == "imagenet":
        if arch != "mobilenet_v2" or alpha != 1.0:
            raise EdgembError(f"ImageNet weights exist for mobilenet_v2 with alpha 1.0 only, not {arch} "
                              f"alpha {alpha:g}: use --arch mobilenet_v2 --alpha 1.0, or drop --pretrained")
        return load_state_dict(imagenet_weights_path()), imagenet_class_names()
    return model_weights(Path(pretrained))


def load_starting_weights(model: nn.Module, pretrained: str, arch: str, alpha: float,
                          class_names: list[str]) -> bool:
    """Load `pretrained` into `model`, keeping its fresh classifier when the classes
    differ. Returns whether the classifier was replaced."""
    state, names = starting_weights(pretrained, arch, alpha)
    own = model.state_dict()
    replace = names != class_names if names is not None else any(
        k.startswith(CLASSIFIER_PREFIX) and k in own and v.shape != own[k].shape for k, v in state.items())
    if replace:
        state = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIX)}
    mismatched = [k for k, v in state.items() if k in own and v.shape != own[k].shape]
    missing = [k for k in own if k not in state and not (replace and k.startswith(CLASSIFIER_PREFIX))]
    unexpected = [k for k in state if k not in own]
    if mismatched or missing or unexpected:
        first = (mismatched or missing or unexpected)[0]
        raise EdgembError(f"{pretrained} does not fit {arch} alpha {alpha:g} ({len(mismatched)} mismatched, "
                          f"{len(missing)} missing, {len(unexpected)} unexpected tensors, e.g. {first}): "
                          "give weights of the same architecture and width")
    model.load_state_dict(state, strict=False)
    return replace


def save_checkpoint(path: Path, epoch: int, seed: int, model: nn.Module, optimizer, scheduler,
                    history: list[dict], best: dict) -> None:
    """last.pt: all that resuming after `epoch` finished epochs needs. Every random stream
    is seeded from (seed, epoch), so the seed and the epoch are the random state."""
    save_state_dict(path, {"format_version": FORMAT_VERSION, "epoch": epoch, "seed": seed, "model": model.state_dict(),
                       "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                       "history": history, "best": best})


def restore_checkpoint(path: Path, model: nn.Module, optimizer, scheduler) -> tuple[int, list[dict], dict]:
    """Load last.pt into the model, optimizer and scheduler: (finished epochs, history, best)."""
    checkpoint = load_state_dict(path)
    if not CHECKPOINT_KEYS <= checkpoint.keys():
        raise EdgembError(f"{path} is not a checkpoint of edgemb train: delete it to restart the run "
                          "from the beginning")
    try:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise EdgembError(f"{path} does not fit this run ({type(e).__name__}): it was written by "
                          "another configuration") from None
    return checkpoint["epoch"], checkpoint["history"], checkpoint["best"]
