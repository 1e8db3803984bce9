"""Training throughput (images/second) of `edgemb train`'s step, channels-last vs not.

    .venv/bin/python benchmarks/train_speed.py [--rounds 5] [--steps 4]

For each setting it builds the model and optimizer as training does and times full
steps (augmented batch from real photos: random crop + flip + normalize, forward,
backward, SGD update), interleaving channels-last and contiguous rounds so that
the shared machine's noise hits both alike. Reports medians, the ratio, and the
share of each step spent making the batch (the data pipeline).
Results: benchmarks/results/train_speed.{md,json}.
"""
import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import skimage
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_info  # noqa: E402
from edge_mobilenet.data.images import read_image  # noqa: E402
from edge_mobilenet.data.preprocess import Preprocessing, resize_center_crop  # noqa: E402
from edge_mobilenet.io import write_json_atomic, write_text_atomic  # noqa: E402
from edge_mobilenet.data.samples import Samples  # noqa: E402
from edge_mobilenet.train.batches import normalize_batch  # noqa: E402
from edge_mobilenet.train.config import TrainConfig  # noqa: E402
from edge_mobilenet.train.distributed import Processes  # noqa: E402
from edge_mobilenet.train.loader import TrainingCrops, collate  # noqa: E402
from edge_mobilenet.train.loop import build_training, train_step  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SETTINGS = [  # (name, alpha, resolution, batch size)
    ("mobilenet_v2 1.0-224, batch 32 (the standard setting)", 1.0, 224, 32),
    ("mobilenet_v2 1.0-96, batch 64 (fine-tuning Fashion-MNIST)", 1.0, 96, 64),
    ("mobilenet_v2 0.35-64, batch 64 (from scratch, Fashion-MNIST)", 0.35, 64, 64),
]


def photo_squares(size: int) -> Samples:
    """scikit-image's real photos as size x size squares: the sources training crops from."""
    folder = Path(skimage.__file__).parent / "data"
    photos = [read_image(p) for p in sorted(folder.glob("*")) if p.suffix in (".png", ".jpg")]
    squares = np.stack([resize_center_crop(p, size, size) for p in photos if min(p.shape[:2]) >= 64])
    labels = np.arange(len(squares)) % 10
    return Samples(squares, labels, [str(i) for i in range(10)], list(range(len(squares))), np.asarray)


def time_steps(config: TrainConfig, sources: Samples, steps: int) -> tuple[float, float]:
    """(seconds per step, seconds of it spent making batches in this process: the crops a
    data loader worker makes, and normalizing), after one warm-up step."""
    cpu = Processes(0, 1, torch.device("cpu"))
    model, optimizer, scheduler = build_training(config, sources.class_names, 1000, cpu)
    model.train()
    pre = Preprocessing.for_resolution(config.resolution)
    crops = TrainingCrops(sources, pre, config.min_crop_scale, seed=0)
    criterion = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    batch_seconds = 0.0
    for step in range(steps + 1):
        if step == 1:
            start, batch_seconds = time.perf_counter(), 0.0
        t = time.perf_counter()
        pixels, labels, _ = collate([crops[0, int(i)] for i in rng.integers(len(sources), size=config.batch_size)])
        x = normalize_batch(pixels, pre)
        if not config.channels_last:
            x = x.contiguous()
        batch_seconds += time.perf_counter() - t
        train_step(model, x, labels, criterion, optimizer, scheduler)
    total = time.perf_counter() - start
    return total / steps, batch_seconds / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    rows = []
    for name, alpha, resolution, batch_size in SETTINGS:
        config = TrainConfig(data="", alpha=alpha, resolution=resolution, batch_size=batch_size)
        sources = photo_squares(Preprocessing.for_resolution(resolution).resize)
        rates = {True: [], False: []}
        batch_shares = []
        for _ in range(args.rounds):
            for channels_last in (True, False):
                seconds, batch_seconds = time_steps(replace(config, channels_last=channels_last), sources, args.steps)
                rates[channels_last].append(batch_size / seconds)
                if channels_last:
                    batch_shares.append(batch_seconds / seconds)
        row = {"setting": name, "alpha": alpha, "resolution": resolution, "batch_size": batch_size,
               "images_per_second_channels_last": statistics.median(rates[True]),
               "images_per_second_contiguous": statistics.median(rates[False]),
               "batch_making_share": statistics.median(batch_shares), "all_rates": {
                   "channels_last": rates[True], "contiguous": rates[False]}}
        row["channels_last_speedup"] = row["images_per_second_channels_last"] / row["images_per_second_contiguous"]
        rows.append(row)
        print(f"{name}: {row['images_per_second_channels_last']:.1f} img/s channels-last, "
              f"{row['images_per_second_contiguous']:.1f} contiguous ({row['channels_last_speedup']:.2f}x), "
              f"batch making {100 * row['batch_making_share']:.1f}% of a step", flush=True)
    record = {"machine": {**machine_info(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                          "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                          "load_average_at_end": os.getloadavg()},
              "rounds": args.rounds, "steps_per_round": args.steps, "results": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / "train_speed.json", record)
    write_text_atomic(RESULTS / "train_speed.md", markdown(record))


def markdown(record: dict) -> str:
    m = record["machine"]
    lines = ["# Training throughput: channels-last vs contiguous", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} with {m['torch_threads']} threads "
             f"(OMP_WAIT_POLICY={m['OMP_WAIT_POLICY'] or 'unset'}); load average at the end {m['load_average_at_end'][0]:.1f}. "
             f"Medians of {record['rounds']} interleaved rounds of {record['steps_per_round']} steps; a step is "
             "making the augmented batch from real photos, forward, backward and the SGD update.", "",
             "| setting | channels-last img/s | contiguous img/s | speed-up | batch making |",
             "|---|---:|---:|---:|---:|"]
    for r in record["results"]:
        lines.append(f"| {r['setting']} | {r['images_per_second_channels_last']:.1f} | "
                     f"{r['images_per_second_contiguous']:.1f} | {r['channels_last_speedup']:.2f}x | "
                     f"{100 * r['batch_making_share']:.1f}% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
