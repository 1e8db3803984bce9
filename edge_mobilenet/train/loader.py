"""Batches for training and validation, decoded and augmented in data loader worker
processes while the training step runs (so memory holds a few batches, not the dataset).
The workers start once per run, before the model allocates anything: a worker forked
later would keep its own copy of every page the training process rewrites afterwards.

A training sample's crop and flip are drawn from a generator seeded by (seed, epoch,
sample index), so batch contents do not depend on which worker made them. A file that
does not decode is replaced by the next readable sample of the split (the same one every
time), so batches keep their size and an epoch replays exactly; the bad file is reported.
Validation skips bad files instead: counting a substitute would bias the score."""
import os
from collections.abc import Callable, Iterator
from functools import partial

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import Samples
from ..data.images import BadImage
from ..data.preprocess import Preprocessing
from ..errors import EdgembError
from ..processes import start_worker_process
from .batches import crop_resize, random_boxes
from .seeds import CROPS, LOADER, derived_seed

PREFETCH_BATCHES = 4  # per worker: enough that the step never waits while cores are free


def read_or_substitute(samples: Samples, i: int) -> tuple[object, int, list[str]]:
    """Sample i's pixels, or the next readable sample's: (pixels, index used, names of bad files)."""
    bad = []
    for used in (j % len(samples) for j in range(i, i + len(samples))):
        try:
            return samples.read(used), used, bad
        except BadImage:
            bad.append(samples.name(used))
    raise EdgembError(f"no training image can be read ({len(bad)} files tried, e.g. {bad[0]}): "
                      "give a folder of JPEG/PNG/BMP/WebP images")


class TrainingCrops(Dataset):
    """Sample (epoch, i): a random crop of its source, flipped half the time, scaled to
    the model's resolution (uint8 C x H x W), with its label and the bad files met."""

    def __init__(self, samples: Samples, pre: Preprocessing, min_scale: float, seed: int):
        self.samples, self.pre, self.min_scale, self.seed = samples, pre, min_scale, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        source, used, bad = read_or_substitute(self.samples, i)
        generator = torch.Generator().manual_seed(derived_seed(self.seed, CROPS, epoch, i))
        box = random_boxes(1, self.min_scale, generator)[0]
        return crop_resize(source, box, self.pre.crop), int(self.samples.labels[used]), bad


class ModelInputs(Dataset):
    """Sample (epoch, i): sample i as the model sees it (uint8 H x W x 3), or None for a bad file."""

    def __init__(self, samples: Samples):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]):
        _, i = key
        try:
            return torch.from_numpy(self.samples.read(i)), int(self.samples.labels[i]), []
        except BadImage:
            return None, -1, [self.samples.name(i)]


def collate(items: list) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(pixels N x ..., labels N, bad files); items that are None (bad files) are left out."""
    kept = [(pixels, label) for pixels, label, _ in items if pixels is not None]
    bad = [name for _, _, names in items for name in names]
    if not kept:
        return torch.zeros(0, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64), bad
    return (torch.stack([pixels for pixels, _ in kept]), torch.tensor([label for _, label in kept]), bad)


def worker_started(parent: int, worker_id: int) -> None:
    start_worker_process(parent)  # a killed training run takes its workers with it


class EpochBatches:
    """The batches of every epoch in turn, as lists of (epoch, sample index)."""

    def __init__(self, batches_for: Callable[[int], list[list[int]]], epochs: range):
        self.batches_for, self.epochs = batches_for, epochs

    def __iter__(self):
        for epoch in self.epochs:
            for batch in self.batches_for(epoch):
                yield [(epoch, int(i)) for i in batch]

    def __len__(self) -> int:
        return sum(len(self.batches_for(epoch)) for epoch in self.epochs)


class EpochStream:
    """One data loader over all epochs of a run: its worker processes start here, once,
    and read ahead across epoch boundaries. Take each epoch's batches with epoch(e), in order."""

    def __init__(self, dataset: Dataset, batches_for: Callable[[int], list[list[int]]], epochs: range,
                 workers: int, device: torch.device, seed: int):
        self.batches_for = batches_for
        loader = DataLoader(dataset, batch_sampler=EpochBatches(batches_for, epochs), num_workers=workers,
                            collate_fn=collate, prefetch_factor=PREFETCH_BATCHES if workers else None,
                            pin_memory=device.type == "cuda",
                            worker_init_fn=partial(worker_started, os.getpid()) if workers else None,
                            # its own generator: starting workers draws no number from the dropout stream
                            generator=torch.Generator().manual_seed(derived_seed(seed, LOADER)))
        self.batches = iter(loader)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
        for _ in range(len(self.batches_for(epoch))):
            yield next(self.batches)
