"""The training loop: `train()` runs a whole run, from listing the data to the last epoch.

Images stream from worker processes (loader.py): memory holds a few batches, not the
dataset. Every random draw comes from seeds derived from (seed, epoch, process or
sample) (seeds.py), so an epoch replays exactly from its start: last.pt holds the
weights, optimizer, scheduler and the number of finished epochs, and with the seed that
is the whole random state. That is what makes --resume give the same weights as an
uninterrupted run.
"""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import DistributedSampler

from ..checkpoints import load_state_dict, save_state_dict
from ..data import Samples, Track, describe_dataset, preprocessing_for, split_samples
from ..data.cache import cache_split
from ..data.preprocess import Preprocessing
from ..errors import EdgembError
from ..io import folder_lock, sweep_stale
from ..models import MobileNet, build_model
from ..processes import Interrupted, interruptible
from ..quantization import DEFAULT_RANGES
from ..run import FORMAT_VERSION, RUN_FILE, WEIGHTS_FILE, RunInfo, versions, write_run_info
from .batches import normalize_batch
from .config import TrainConfig
from .distributed import Processes, start_processes
from .loader import EpochStream, ModelInputs, TrainingCrops
from .qat import CALIBRATION_IMAGES, QATNet, calibration_inputs
from .run_files import LAST_FILE, write_curves, write_history
from .seeds import DROPOUT, INIT, derived_seed
from .weights import load_starting_weights, restore_checkpoint, save_checkpoint

LOSS_EVERY = 25  # steps between the training-loss points history.json records


class Reporter(Protocol):
    """What the loop tells whoever shows progress (the CLI's progress bars and log lines)."""
    track: Track

    def data_loaded(self, train: Samples, val: Samples) -> None: ...
    def epoch_started(self, epoch: int, epochs: int, images: int) -> None: ...
    def batch_done(self, images: int, loss: float, top1: float) -> None: ...
    def files_skipped(self, files: list[str]) -> None: ...
    def epoch_done(self, record: dict) -> None: ...
    def interrupted(self, epoch: int, step: int, finished_epochs: int, out: Path) -> None: ...
    def finished(self, best: dict, out: Path) -> None: ...


class Quiet:
    """A reporter that shows nothing: for library callers and for torchrun's other processes."""

    def track(self, items, total, description, unit="img"):
        return items

    def data_loaded(self, train, val): pass
    def epoch_started(self, epoch, epochs, images): pass
    def batch_done(self, images, loss, top1): pass
    def files_skipped(self, files): pass
    def epoch_done(self, record): pass
    def interrupted(self, epoch, step, finished_epochs, out): pass
    def finished(self, best, out): pass


@dataclass
class Data:
    dataset: dict
    pre: Preprocessing
    train: Samples  # augmentation sources
    val: Samples  # model inputs
    skipped: set[str] = field(default_factory=set)  # files found unreadable so far


@dataclass
class Position:
    """Where the run is, for the message when it is interrupted."""
    epoch: int = 0  # 1-based, the epoch being trained
    step: int = 0  # steps done in it
    finished_epochs: int = 0


def load_data(config: TrainConfig, track: Track) -> Data:
    """The splits as sample lists: only file names and labels are read here, unless a
    --cache of a folder is missing or out of date, which is then built first."""
    dataset = describe_dataset(config.data, config.val_fraction, config.seed)
    pre = preprocessing_for(dataset, config.resolution)
    train = split_samples(dataset, "train", pre, training=True, limit=config.train_subset, seed=config.seed)
    val = split_samples(dataset, "val", pre)
    if config.cache and dataset["kind"] == "folder":
        train = cache_split(train, dataset["path"], "train", config.workers, track).samples
        val = cache_split(val, dataset["path"], "val", config.workers, track).samples
    if len(val) == 0:
        raise EdgembError(f"{config.data} leaves no image for validation: raise --val-fraction or add images")
    return Data(dataset, pre, train, val)


def build_training(config: TrainConfig, class_names: list[str], steps: int, processes: Processes,
                   starting_weights: bool = True) -> tuple[MobileNet | QATNet, torch.optim.Optimizer, object]:
    """The model (with --pretrained weights unless told not to), optimizer and LR schedule.
    With --qat the model is the BatchNorm-folded QATNet of those weights."""
    torch.manual_seed(derived_seed(config.seed, INIT))
    model = build_model(config.arch, config.alpha, len(class_names))
    if config.pretrained and starting_weights:
        replaced = load_starting_weights(model, config.pretrained, config.arch, config.alpha, class_names)
        if config.qat and replaced:
            raise EdgembError(f"--qat fine-tunes {config.pretrained} as it is, but its classes differ from "
                              f"those of {config.data}: give the data it was trained on")
    if config.qat:
        model = QATNet.from_model(model)
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


def run_weights(model: MobileNet | QATNet) -> dict[str, torch.Tensor]:
    """What model.pt holds: MobileNet weights (a QATNet's are written back into one)."""
    return model.mobilenet_state() if isinstance(model, QATNet) else model.state_dict()


def set_train_mode(model: MobileNet, freeze_backbone: bool) -> None:
    model.train()
    if freeze_backbone:  # a frozen backbone keeps its BatchNorm statistics too
        model.features.eval()


def epoch_batches(count: int, config: TrainConfig, epoch: int, processes: Processes) -> list[list[int]]:
    """This process's batches of sample indices for an epoch (incomplete last batch dropped)."""
    sampler = DistributedSampler(range(count), num_replicas=processes.world_size, rank=processes.rank,
                                 shuffle=True, seed=config.seed)
    sampler.set_epoch(epoch)
    indices = list(sampler)
    per_process = config.batch_size // processes.world_size
    return [indices[i:i + per_process] for i in range(0, len(indices) - per_process + 1, per_process)]


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module,
               optimizer: torch.optim.Optimizer, scheduler) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch already in memory: (loss, logits). What the
    benchmarks time as the bare step."""
    logits = model(x)
    loss = criterion(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss, logits


def validation_batches(count: int, batch_size: int, processes: Processes) -> list[list[int]]:
    """This process's share of the validation split (every n-th image), in batches of the
    training batch size (a larger one would raise the run's peak memory)."""
    mine = list(range(processes.rank, count, processes.world_size))
    return [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]


@dataclass
class Streams:
    train: EpochStream
    val: EpochStream
    val_batches: int


def start_streams(data: Data, config: TrainConfig, epochs: range, processes: Processes) -> Streams:
    """The data loader workers of the whole run, for training and for validation."""
    def train_batches(epoch: int) -> list[list[int]]:
        return epoch_batches(len(data.train), config, epoch, processes)

    per_process = config.batch_size // processes.world_size
    val = validation_batches(len(data.val), per_process, processes)
    crops = TrainingCrops(data.train, data.pre, config.min_crop_scale, config.seed)
    return Streams(EpochStream(crops, train_batches, epochs, config.workers, processes.device, config.seed),
                   EpochStream(ModelInputs(data.val), lambda epoch: val, epochs, min(config.workers, len(val)),
                               processes.device, config.seed),
                   len(val))


def train_epoch(model: nn.Module, raw_model: MobileNet, data: Data, stream: EpochStream, config: TrainConfig,
                epoch: int, optimizer: torch.optim.Optimizer, scheduler, processes: Processes, reporter: Reporter,
                position: Position) -> dict:
    torch.manual_seed(derived_seed(config.seed, DROPOUT, epoch, processes.rank))
    steps_in_epoch = len(epoch_batches(len(data.train), config, epoch, processes))
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    set_train_mode(raw_model, config.freeze_backbone)
    loss_sum = correct = count = 0.0
    steps, interval_loss, interval_steps, bad = [], 0.0, 0, []
    start = time.perf_counter()
    for step, (pixels, y, bad_files) in enumerate(stream.epoch(epoch), 1):
        x = normalize_batch(pixels.to(processes.device, non_blocking=True), data.pre)
        y = y.to(processes.device, non_blocking=True)
        if not config.channels_last:
            x = x.contiguous()
        loss, logits = train_step(model, x, y, criterion, optimizer, scheduler)
        position.step = step
        bad += bad_files
        loss_sum += loss.item() * len(y)
        interval_loss += loss.item()
        interval_steps += 1
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
        if step % LOSS_EVERY == 0 or step == steps_in_epoch:  # this process's running loss, for the curves
            steps.append({"epoch": epoch + step / steps_in_epoch, "train_loss": interval_loss / interval_steps})
            interval_loss, interval_steps = 0.0, 0
        reporter.batch_done(len(y) * processes.world_size, loss_sum / count, correct / count)
    seconds = time.perf_counter() - start
    loss_sum, correct, count = processes.sum([loss_sum, correct, count])
    return {"train_loss": loss_sum / count, "train_top1": correct / count, "train_images": int(count),
            "train_seconds": seconds, "images_per_second": count / seconds,
            "lr": optimizer.param_groups[0]["lr"], "steps": steps, "train_bad_files": bad}


@torch.no_grad()
def validation_metrics(model: MobileNet, streams: Streams, epoch: int, pre: Preprocessing, processes: Processes,
                       track: Track) -> dict:
    """Validation loss, top-1 and top-5 over the whole split; each process takes every n-th
    image. Unreadable files are left out (and returned as "val_bad_files")."""
    model.eval()
    k = min(5, model.spec.num_classes)
    loss_sum = top1 = top5 = count = 0.0
    bad = []
    for pixels, y, bad_files in track(streams.val.epoch(epoch), streams.val_batches, "Validating", unit="batch"):
        bad += bad_files
        if not len(y):
            continue
        x = normalize_batch(pixels.to(processes.device, non_blocking=True).permute(0, 3, 1, 2), pre)
        y = y.to(processes.device, non_blocking=True)
        logits = model(x)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        best = logits.topk(k, dim=1).indices
        top1 += (best[:, 0] == y).sum().item()
        top5 += (best == y[:, None]).any(1).sum().item()
        count += len(y)
    loss_sum, top1, top5, count = processes.sum([loss_sum, top1, top5, count])
    if not count:
        raise EdgembError("no validation image could be read: every file of the validation split is unreadable")
    return {"val_loss": loss_sum / count, "val_top1": top1 / count, "val_top5": top5 / count,
            "val_images": int(count), "val_bad_files": bad}


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
             "data": {"train_images": len(data.train), "val_images": len(data.val),
                      "skipped_files": sorted(data.skipped),
                      # which images picked the checkpoint: paths relative to the dataset, or indices
                      "val_ids": data.val.ids},
             "processes": processes.world_size, "versions": versions()}
    if config.qat:
        extra["qat"] = {"fine_tune_of": config.pretrained, "weights": "int8 symmetric per output channel",
                        "activations": "8-bit asymmetric per tensor", "ranges": DEFAULT_RANGES,
                        "calibration_images": CALIBRATION_IMAGES}
    return RunInfo(config.arch, config.alpha, config.resolution, data.train.class_names, data.pre,
                   data.dataset, extra)


def train(config: TrainConfig, out: Path, reporter: Reporter = Quiet(), resume: bool = False) -> dict:
    """Train as `config` says into the run directory `out`; returns the best epoch's metrics.
    Under torchrun, every process calls this; only the first one writes, holding the run
    folder's lock. SIGINT and SIGTERM stop it between two writes (each is atomic): the
    reporter is told where, and Interrupted propagates."""
    out = Path(out)
    if problem := config.conflict():
        raise EdgembError(problem)
    check_resumable(out) if resume else check_fresh(out)
    processes = start_processes()  # under torchrun this waits for all: nobody writes before all checked
    position = Position()
    try:
        with interruptible():
            if not processes.is_main:
                return train_processes(config, out, Quiet(), resume, processes, position)
            sweep_stale(out)  # temporary files a killed run left
            with folder_lock(out):
                return train_processes(config, out, reporter, resume, processes, position)
    except Interrupted:
        reporter.interrupted(position.epoch, position.step, position.finished_epochs, out)
        raise
    finally:
        processes.close()


def train_processes(config: TrainConfig, out: Path, reporter: Reporter, resume: bool,
                    processes: Processes, position: Position) -> dict:
    if config.batch_size % processes.world_size:
        raise EdgembError(f"--batch-size {config.batch_size} does not split evenly over "
                          f"{processes.world_size} processes: use a multiple of {processes.world_size}")
    data = load_data(config, reporter.track)
    reporter.data_loaded(data.train, data.val)
    batches = len(epoch_batches(len(data.train), config, 0, processes))
    if batches == 0:
        raise EdgembError(f"only {len(data.train)} training images, fewer than --batch-size "
                          f"{config.batch_size}: use a smaller batch or more images")
    if resume:
        recorded = json.loads((out / RUN_FILE).read_text())
        if recorded["class_names"] != data.train.class_names:
            raise EdgembError(f"the classes in {config.data} changed since the run started: "
                              "resume with the same data, or start a new run")
        data.skipped.update(recorded.get("data", {}).get("skipped_files", []))
    checkpoint_path = out / LAST_FILE
    restoring = resume and checkpoint_path.is_file()
    start_epoch = load_state_dict(checkpoint_path).get("epoch", 0) if restoring else 0
    streams = start_streams(data, config, range(start_epoch, config.epochs), processes)  # before the model
    model, optimizer, scheduler = build_training(config, data.train.class_names, config.epochs * batches,
                                                 processes, starting_weights=not restoring)
    history, best = [], None
    if restoring:
        start_epoch, history, best = restore_checkpoint(checkpoint_path, model, optimizer, scheduler)
    position.finished_epochs = start_epoch
    if processes.is_main:
        write_run_info(out, run_info(config, data, best, processes))
    parallel_model = processes.wrap(model)
    if config.qat:  # ranges of the weights training starts from (when resuming, those last.pt holds)
        qat_inputs = calibration_inputs(data.dataset, data.pre)
        model.calibrate(qat_inputs)
    for epoch in range(start_epoch, config.epochs):
        position.epoch, position.step = epoch + 1, 0
        reporter.epoch_started(epoch + 1, config.epochs, batches * config.batch_size)
        record = {"epoch": epoch + 1}
        record |= train_epoch(parallel_model, model, data, streams.train, config, epoch, optimizer, scheduler,
                              processes, reporter, position)
        if config.qat:  # the ranges an export of the new weights would calibrate: for validation, next epoch
            model.calibrate(qat_inputs)
        record |= validation_metrics(model, streams, epoch, data.pre, processes, reporter.track)
        bad = record.pop("train_bad_files") + record.pop("val_bad_files")
        new_bad = sorted(set(processes.gather(bad)) - data.skipped)
        data.skipped.update(new_bad)
        reporter.files_skipped(new_bad)
        history.append(record)
        if best is None or record["val_top1"] > best["val_top1"]:
            best = {k: record[k] for k in ("epoch", "val_top1", "val_top5", "val_loss")}
            if processes.is_main:
                save_state_dict(out / WEIGHTS_FILE, run_weights(model))
        if processes.is_main:
            write_history(out, history)
            write_curves(out, history)
            write_run_info(out, run_info(config, data, best, processes))
            # last.pt goes last: it marks the epoch as finished for --resume.
            save_checkpoint(checkpoint_path, epoch + 1, config.seed, model, optimizer, scheduler, history, best)
        position.finished_epochs = epoch + 1
        reporter.epoch_done(record)
    reporter.finished(best, out)
    return best
