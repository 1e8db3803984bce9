"""Streaming training data: workers, rank shares, the on-disk image cache."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from edge_mobilenet.checkpoints import load_state_dict
from edge_mobilenet.data import describe_dataset, no_progress, split_samples
from edge_mobilenet.data.cache import MANIFEST_FILE, cache_split
from edge_mobilenet.data.preprocess import Preprocessing
from edge_mobilenet.train import TrainConfig, train
from edge_mobilenet.train.distributed import Processes
from edge_mobilenet.train.loop import epoch_batches
from tests.test_data_folder import fashion_folder

TINY = dict(alpha=0.35, resolution=32, batch_size=16, lr=0.02, min_crop_scale=0.6, val_fraction=0.25)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return fashion_folder(tmp_path_factory.mktemp("data") / "fashion4", per_class=30)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "images"


def test_results_do_not_depend_on_workers_or_the_cache(folder, tmp_path, cache_dir):
    """Each sample's crop is seeded by (seed, epoch, sample): in the training process, in two
    workers, or read back from the cache, the same weights come out."""
    runs = {"inline": dict(workers=0), "workers": dict(workers=2), "cached": dict(workers=2, cache=True)}
    for name, options in runs.items():
        train(TrainConfig(data=str(folder), epochs=2, **TINY, **options), tmp_path / name)
    weights = {name: load_state_dict(tmp_path / name / "model.pt") for name in runs}
    for name in ("workers", "cached"):
        assert all(torch.equal(weights["inline"][k], weights[name][k]) for k in weights["inline"]), name
    skipped = {name: json.loads((tmp_path / name / "edgemb.json").read_text())["data"]["skipped_files"]
               for name in runs}
    # Bad files are reported when an epoch meets them (each epoch drops its incomplete last batch).
    assert skipped["inline"] == skipped["workers"] == skipped["cached"]
    assert set(skipped["inline"]) <= {"bag/empty.png", "bag/notes.txt", "bag/truncated.jpg"} and skipped["inline"]


def test_ranks_read_disjoint_shares_that_cover_the_epoch():
    config = TrainConfig(data="", batch_size=8)
    shares = [sum(epoch_batches(100, config, 3, Processes(rank, 2, torch.device("cpu"))), []) for rank in (0, 1)]
    assert not set(shares[0]) & set(shares[1]) and len(shares[0]) == len(shares[1]) == 48
    alone = sum(epoch_batches(100, config, 3, Processes(0, 1, torch.device("cpu"))), [])
    assert len(alone) == 96 and set(alone) != set(range(96))  # shuffled, incomplete batch dropped


def test_cache_is_reused_rebuilt_when_files_change_and_matches_decoding(folder, tmp_path, cache_dir):
    pre = Preprocessing.for_resolution(32)
    dataset = describe_dataset(str(folder), val_fraction=0.25)
    samples = split_samples(dataset, "train", pre, training=True)
    first = cache_split(samples, dataset["path"], "train", 2, no_progress)
    assert first.built and not cache_split(samples, dataset["path"], "train", 2, no_progress).built
    readable = [i for i in range(len(samples)) if not samples.name(i).endswith((".txt", "empty.png", "truncated.jpg"))]
    for i in readable[:10]:
        assert np.array_equal(first.samples.read(i), samples.read(i))
    # A file changed since: the next run builds the cache again.
    changed = folder / samples.name(readable[0])
    os.utime(changed, ns=(time.time_ns(), time.time_ns()))
    again = cache_split(split_samples(dataset, "train", pre, training=True), dataset["path"], "train", 2, no_progress)
    assert again.built and again.folder == first.folder


KILLED_BUILD = """
import sys, time
from edge_mobilenet.data import describe_dataset, split_samples
from edge_mobilenet.data.cache import cache_split
from edge_mobilenet.data.preprocess import Preprocessing
def slow(items, total, description, unit="img"):
    for i, item in enumerate(items):
        if i == 20:
            print("half", flush=True)
            time.sleep(600)
        yield item
dataset = describe_dataset(sys.argv[1], val_fraction=0.25)
cache_split(split_samples(dataset, "train", Preprocessing.for_resolution(32), training=True),
            dataset["path"], "train", 1, slow)
"""


def test_a_half_written_cache_is_never_used(folder, cache_dir):
    process = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(folder)], stdout=subprocess.PIPE, text=True,
                               env=os.environ)
    assert process.stdout.readline() == "half\n"
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = [p for p in cache_dir.iterdir() if ".partial-" in p.name]
    assert len(partial) == 1 and not any(p.name == MANIFEST_FILE for p in partial[0].iterdir())
    pre = Preprocessing.for_resolution(32)
    dataset = describe_dataset(str(folder), val_fraction=0.25)
    samples = split_samples(dataset, "train", pre, training=True)
    result = cache_split(samples, dataset["path"], "train", 1, no_progress)
    assert result.built and np.array_equal(result.samples.read(0), samples.read(0))
    assert sorted(p.name for p in cache_dir.iterdir()) == [result.folder.name]  # the dead one's folder is gone
