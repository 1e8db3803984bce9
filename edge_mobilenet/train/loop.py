"""The training loop: `train()` runs a whole run, from reading the data to the last epoch.

Every random draw comes from seeds derived from (seed, epoch, process): the
shuffle, the crops and flips, the dropout masks. An epoch therefore replays
exactly from its start, which is what makes --resume give the same weights as
an uninterrupted run: last.pt holds the weights, optimizer, scheduler and the
number of finished epochs, and with the seed that is the whole random state.
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from ..data import LabeledImages, Track, describe_dataset, load_split, preprocessing_for, training_images
from ..data.preprocess import Preprocessing
from ..errors import EdgembError
from ..models import MobileNet, build_model
from ..run import RUN_FILE, WEIGHTS_FILE, RunInfo
from .batches import eval_batch, train_batch
from .config import TrainConfig
from .distributed import Processes, start_processes
from .run_files import FORMAT_VERSION, LAST_FILE, versions, write_curves, write_history, write_run_info
from .weights import load_starting_weights, restore_checkpoint, save_atomic, save_checkpoint

EVAL_BATCH = 256


class Reporter(Protocol):
    """What the loop tells whoever shows progress (the CLI's progress bars)."""
    track: Track

    def data_loaded(self, train: LabeledImages, val: LabeledImages) -> None: ...
    def epoch_started(self, epoch: int, epochs: int, images: int) -> None: ...
    def batch_done(self, images: int, loss: float, top1: float) -> None: ...
    def epoch_done(self, record: dict) -> None: ...
    def finished(self, best: dict, out: Path) -> None: ...


class Quiet:
    """A reporter that shows nothing: for library callers and for torchrun's other processes."""

    def track(self, items, total, description, unit="img"):
        return items

    def data_loaded(self, train, val): pass
    def epoch_started(self, epoch, epochs, images): pass
    def batch_done(self, images, loss, top1): pass
    def epoch_done(self, record): pass
    def finished(self, best, out): pass


@dataclass
class Data:
    dataset: dict
    pre: Preprocessing
    train: LabeledImages  # augmentation sources
    val: LabeledImages  # model inputs


INIT, DROPOUT, CROPS = range(3)  # the random streams, each seeded from (seed, stream, epoch, rank)


def derived_seed(seed: int, stream: int, epoch: int = 0, rank: int = 0) -> int:
    return int(np.random.SeedSequence([seed, stream, epoch, rank]).generate_state(1)[0])


def load_data(config: TrainConfig, reporter: Reporter) -> Data:
    dataset = describe_dataset(config.data, config.val_fraction, config.seed)
    pre = preprocessing_for(dataset, config.resolution)
    train = training_images(dataset, pre, config.train_subset, config.seed,
                            workers=config.workers, track=reporter.track)
    val = load_split(dataset, "val", pre, workers=config.workers, track=reporter.track)
    reporter.data_loaded(train, val)
    return Data(dataset, pre, train, val)


def build_training(config: TrainConfig, class_names: list[str], steps: int, processes: Processes,
                   starting_weights: bool = True) -> tuple[MobileNet, torch.optim.Optimizer, object]:
    """The model (with --pretrained weights unless told not to), optimizer and LR schedule."""
    torch.manual_seed(derived_seed(config.seed, INIT))
    model = build_model(config.arch, config.alpha, len(class_names))
    if config.pretrained and starting_weights:
        load_starting_weights(model, config.pretrained, config.arch, config.alpha, class_names)
    if config.freeze_backbone:
        model.features.requires_grad_(False)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(processes.device, memory_format=memory_format)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in trainable if p.ndim > 1]  # conv and linear weights; not BatchNorm, biases
    undecayed = [p for p in trainable if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decayed, "weight_decay": config.weight_decay},
                                 {"params": undecayed, "weight_decay": 0.0}],
                                lr=config.lr, momentum=config.momentum, nesterov=True)
    if config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    else:
        scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return model, optimizer, scheduler


def set_train_mode(model: MobileNet, freeze_backbone: bool) -> None:
    model.train()
    if freeze_backbone:  # a frozen backbone keeps its BatchNorm statistics too
        model.features.eval()


def epoch_batches(count: int, config: TrainConfig, epoch: int, processes: Processes) -> list[np.ndarray]:
    """This process's batches of image indices for an epoch (incomplete last batch dropped)."""
    sampler = DistributedSampler(range(count), num_replicas=processes.world_size, rank=processes.rank,
                                 shuffle=True, seed=config.seed)
    sampler.set_epoch(epoch)
    indices = np.fromiter(sampler, np.int64)
    per_process = config.batch_size // processes.world_size
    return [indices[i:i + per_process] for i in range(0, len(indices) - per_process + 1, per_process)]


def train_epoch(model: nn.Module, raw_model: MobileNet, data: Data, config: TrainConfig, epoch: int,
                optimizer: torch.optim.Optimizer, scheduler, processes: Processes, reporter: Reporter) -> dict:
    torch.manual_seed(derived_seed(config.seed, DROPOUT, epoch, processes.rank))
    crops = torch.Generator().manual_seed(derived_seed(config.seed, CROPS, epoch, processes.rank))
    batches = epoch_batches(len(data.train.labels), config, epoch, processes)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    set_train_mode(raw_model, config.freeze_backbone)
    images = torch.from_numpy(data.train.pixels)
    labels = torch.from_numpy(data.train.labels)
    loss_sum = correct = count = 0.0
    start = time.perf_counter()
    for batch in batches:
        x = train_batch(images[batch].to(processes.device), data.pre, config.min_crop_scale, crops)
        y = labels[batch].to(processes.device)
        if not config.channels_last:
            x = x.contiguous()
        logits = model(x)
        loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.item() * len(batch)
        correct += (logits.argmax(1) == y).sum().item()
        count += len(batch)
        reporter.batch_done(len(batch) * processes.world_size, loss_sum / count, correct / count)
    seconds = time.perf_counter() - start
    loss_sum, correct, count = processes.sum([loss_sum, correct, count])
    return {"train_loss": loss_sum / count, "train_top1": correct / count, "train_images": int(count),
            "train_seconds": seconds, "images_per_second": count / seconds,
            "lr": optimizer.param_groups[0]["lr"]}


@torch.no_grad()
def evaluate(model: MobileNet, val: LabeledImages, pre: Preprocessing, processes: Processes,
             track: Track) -> dict:
    """Validation loss, top-1 and top-5 over the whole split; each process takes every n-th image."""
    model.eval()
    pixels = torch.from_numpy(val.pixels[processes.rank::processes.world_size])
    labels = torch.from_numpy(val.labels[processes.rank::processes.world_size])
    k = min(5, model.spec.num_classes)
    loss_sum = top1 = top5 = 0.0
    starts = range(0, len(labels), EVAL_BATCH)
    for start in track(starts, len(starts), "Validating", unit="batch"):
        x = eval_batch(pixels[start:start + EVAL_BATCH].to(processes.device), pre)
        y = labels[start:start + EVAL_BATCH].to(processes.device)
        logits = model(x)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        best = logits.topk(k, dim=1).indices
        top1 += (best[:, 0] == y).sum().item()
        top5 += (best == y[:, None]).any(1).sum().item()
    loss_sum, top1, top5 = processes.sum([loss_sum, top1, top5])
    return {"val_loss": loss_sum / len(val.labels), "val_top1": top1 / len(val.labels),
            "val_top5": top5 / len(val.labels)}


def check_resumable(out: Path) -> None:
    if not (out / RUN_FILE).is_file():
        raise EdgembError(f"{out} holds no run to resume ({RUN_FILE} is missing): start it without --resume")


def saved_config(out: Path) -> TrainConfig:
    """The configuration of the run in `out`, for --resume."""
    path = Path(out) / RUN_FILE
    check_resumable(Path(out))
    training = json.loads(path.read_text()).get("training")
    if not isinstance(training, dict):
        raise EdgembError(f"{path} was not written by edgemb train: there is nothing to resume")
    return TrainConfig.from_json(training)


def check_fresh(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EdgembError(f"{out} already exists: continue that run with --resume, or choose a new --out")


def run_info(config: TrainConfig, data: Data, best: dict | None, processes: Processes) -> RunInfo:
    extra = {"format_version": FORMAT_VERSION, "training": config.to_json(), "best": best,
             "data": {"train_images": len(data.train.labels), "val_images": len(data.val.labels),
                      "skipped_files": data.train.skipped + data.val.skipped},
             "processes": processes.world_size, "versions": versions()}
    return RunInfo(config.arch, config.alpha, config.resolution, data.train.class_names, data.pre,
                   data.dataset, extra)


def train(config: TrainConfig, out: Path, reporter: Reporter = Quiet(), resume: bool = False) -> dict:
    """Train as `config` says into the run directory `out`; returns the best epoch's metrics.
    Under torchrun, every process calls this; only the first one writes."""
    out = Path(out)
    check_resumable(out) if resume else check_fresh(out)
    processes = start_processes()  # under torchrun this waits for all: nobody writes before all checked
    try:
        return train_processes(config, out, reporter if processes.is_main else Quiet(), resume, processes)
    finally:
        processes.close()


def train_processes(config: TrainConfig, out: Path, reporter: Reporter, resume: bool,
                    processes: Processes) -> dict:
    if config.batch_size % processes.world_size:
        raise EdgembError(f"--batch-size {config.batch_size} does not split evenly over "
                          f"{processes.world_size} processes: use a multiple of {processes.world_size}")
    data = load_data(config, reporter)
    batches = len(epoch_batches(len(data.train.labels), config, 0, processes))
    if batches == 0:
        raise EdgembError(f"only {len(data.train.labels)} training images, fewer than --batch-size "
                          f"{config.batch_size}: use a smaller batch or more images")
    if resume:
        recorded = json.loads((out / RUN_FILE).read_text())["class_names"]
        if recorded != data.train.class_names:
            raise EdgembError(f"the classes in {config.data} changed since the run started: "
                              "resume with the same data, or start a new run")
    checkpoint_path = out / LAST_FILE
    restoring = resume and checkpoint_path.is_file()
    model, optimizer, scheduler = build_training(config, data.train.class_names, config.epochs * batches,
                                                 processes, starting_weights=not restoring)
    history, best, start_epoch = [], None, 0
    if restoring:
        start_epoch, history, best = restore_checkpoint(checkpoint_path, model, optimizer, scheduler)
    if processes.is_main:
        write_run_info(out, run_info(config, data, best, processes))
    parallel_model = processes.wrap(model)
    for epoch in range(start_epoch, config.epochs):
        reporter.epoch_started(epoch + 1, config.epochs, batches * config.batch_size)
        record = {"epoch": epoch + 1}
        record |= train_epoch(parallel_model, model, data, config, epoch, optimizer, scheduler, processes,
                              reporter)
        record |= evaluate(model, data.val, data.pre, processes, reporter.track)
        history.append(record)
        if best is None or record["val_top1"] > best["val_top1"]:
            best = {k: record[k] for k in ("epoch", "val_top1", "val_top5", "val_loss")}
            if processes.is_main:
                save_atomic(out / WEIGHTS_FILE, model.state_dict())
        if processes.is_main:
            write_history(out, history)
            write_curves(out, history)
            write_run_info(out, run_info(config, data, best, processes))
            # last.pt goes last: it marks the epoch as finished for --resume.
            save_checkpoint(checkpoint_path, epoch + 1, config.seed, model, optimizer, scheduler, history, best)
        reporter.epoch_done(record)
    reporter.finished(best, out)
    return best
