"""What a training run is asked to do; recorded in edgemb.json and read back by --resume."""
import os
from dataclasses import asdict, dataclass, fields, replace

from ..errors import EdgembError

# One data worker per two cores: the training step already keeps every core busy, and each
# worker takes its CPU from the step. On 2 cores, 2 workers were the slowest on 224 px photos
# and 1 was within 5% of the best on photos and on Fashion-MNIST at 32 px
# (benchmarks/results/data_scale.md).
TRAINING_WORKERS = max(1, min(8, (os.cpu_count() or 1) // 2))

# Settings that may differ when a run is resumed: they do not change the results.
RESUMABLE_CHANGES = {"workers", "cache"}


@dataclass
class TrainConfig:
    data: str  # "fashion-mnist" or a folder of class subfolders
    arch: str = "mobilenet_v2"
    alpha: float = 1.0
    resolution: int = 224
    epochs: int = 10
    batch_size: int = 64  # images per optimizer step, split across torchrun processes
    lr: float = 0.05
    schedule: str = "cosine"  # or "constant"
    momentum: float = 0.9
    weight_decay: float = 4e-5  # on conv and linear weights, not on BatchNorm or biases
    label_smoothing: float = 0.1
    min_crop_scale: float = 0.5  # smallest random crop, as a fraction of the image's area
    val_fraction: float = 0.1  # held out from a folder without val/
    train_subset: int | None = None  # train on a seeded random subset of this many images
    pretrained: str | None = None  # "imagenet", or a run directory or checkpoint
    freeze_backbone: bool = False
    qat: bool = False  # fine-tune the run given as `pretrained` through the simulated int8 network (train/qat.py)
    seed: int = 0
    workers: int = TRAINING_WORKERS  # data loader processes decoding images; results do not depend on it
    cache: bool = False  # keep a folder's decoded images on disk for later runs; results do not depend on it
    channels_last: bool = True  # memory format of the model and its inputs (faster on CPU)

    def conflict(self) -> str | None:
        """What is wrong with this combination of options, if anything."""
        if self.qat and self.pretrained in (None, "imagenet"):
            return "--qat fine-tunes a finished run for int8: give that run with --pretrained RUN"
        if self.qat and self.freeze_backbone:
            return "--qat trains every layer through fake quantization: drop --freeze-backbone"
        return None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def resumed_with(self, given: dict) -> "TrainConfig":
        """This saved configuration, with the settings given again on resuming: those that
        would change the results must equal the saved ones."""
        differing = sorted(k for k, v in given.items() if k not in RESUMABLE_CHANGES and getattr(self, k) != v)
        if differing:
            saved = ", ".join(f"--{k.replace('_', '-')} {getattr(self, k)}" for k in differing)
            raise EdgembError(f"--resume continues the run as it was started ({saved}): drop the "
                              "differing options, or start a new run with another --out")
        return replace(self, **{k: v for k, v in given.items() if k in RESUMABLE_CHANGES})
