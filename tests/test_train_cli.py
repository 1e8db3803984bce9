"""`edgemb train` as users run it: a real process, killed and resumed; under torchrun."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from edge_mobilenet.checkpoints import load_state_dict
from edge_mobilenet.data.folder import scan_folder
from edge_mobilenet.run import load_run
from tests.test_data_folder import CLASSES, fashion_folder

EDGEMB = [sys.executable, "-m", "edge_mobilenet.cli"]
TINY = ["--alpha", "0.35", "--resolution", "32", "--batch-size", "16", "--lr", "0.02", "--min-crop-scale", "0.6",
        "--val-fraction", "0.25", "--workers", "1"]


def edgemb(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGEMB, *map(str, args)], capture_output=True, text=True, timeout=900, **kw)


def one_line_error(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return fashion_folder(tmp_path_factory.mktemp("data") / "fashion4", per_class=40)


@pytest.mark.parametrize("args,message", [
    (["--data", "no/such/folder"], "does not exist"),
    (["--pretrained", "imagenet"], "ImageNet weights exist for mobilenet_v2 with alpha 1.0 only"),
    (["--batch-size", "1"], "Invalid value for '--batch-size'"),
])
def test_bad_input_is_one_clear_line(folder, tmp_path, args, message):
    result = edgemb("train", "--data", folder, *TINY, "--epochs", "1", "--out", tmp_path / "run", *args)
    assert message in one_line_error(result)
    assert not (tmp_path / "run").exists()


def test_training_reports_skipped_files_progress_and_the_best_epoch(folder, tmp_path):
    result = edgemb("train", "--data", folder, *TINY, "--epochs", "2", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    # Bad files are found as they stream, and each is reported once.
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: skipped")]
    assert 1 <= len(warnings) <= 2 and all(name in " ".join(warnings) for name in
                                           ("truncated.jpg", "notes.txt", "empty.png"))
    # stderr is not a terminal: plain lines, no bar: the epoch's start, then progress (the first
    # right after the first step).
    progress = [line for line in result.stderr.splitlines() if line.startswith("Epoch 1/2: ")]
    assert len(progress) >= 2 and re.fullmatch(r"Epoch 1/2: started, [\d,]+ training images", progress[0])
    assert re.fullmatch(r"Epoch 1/2: \d+/\d+ img, [\d.,]+ img/s, loss [\d.]+, top-1 [\d.]+%, "
                        r"ETA \d+:\d\d", progress[1]), progress
    found = scan_folder(folder, 0.25)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{len(found.train)} training and {len(found.val)} validation images, 4 classes"
    assert [line.split(":")[0] for line in lines[1:3]] == ["Epoch 1", "Epoch 2"]
    best = json.loads((tmp_path / "run" / "edgemb.json").read_text())["best"]
    assert lines[3].startswith(f"Best validation top-1: {100 * best['val_top1']:.2f}% (epoch {best['epoch']})")


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(folder, tmp_path):
    args = ["train", "--data", folder, *TINY, "--epochs", "3"]
    assert edgemb(*args, "--out", tmp_path / "straight").returncode == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen([*EDGEMB, *map(str, args), "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(killed / "last.pt", process)  # epoch 1 finished; epoch 2 is under way
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert load_state_dict(killed / "last.pt")["epoch"] < 3
    load_run(killed)  # what a kill leaves is a usable run: complete edgemb.json and model.pt
    json.loads((killed / "history.json").read_text())
    result = edgemb("train", "--resume", "--out", killed, "--workers", "2")
    assert result.returncode == 0, result.stderr
    straight, resumed = (load_state_dict(run / "model.pt") for run in (tmp_path / "straight", killed))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    straight, resumed = (load_state_dict(run / "last.pt") for run in (tmp_path / "straight", killed))
    assert all(torch.equal(straight["model"][k], resumed["model"][k]) for k in straight["model"])
    assert straight["history"][-1]["val_loss"] == resumed["history"][-1]["val_loss"]


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    folder = fashion_folder(tmp_path / "fashion4", per_class=80)  # 240 training images
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "edge_mobilenet.cli", "train", "--data", str(folder), *TINY, "--epochs", "6",
                             "--out", str(out)], capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Epoch 6:") == 1  # only the first process reports
    info, _ = load_run(out)
    assert info.extra["processes"] == 2 and info.class_names == sorted(CLASSES)
    history = json.loads((out / "history.json").read_text())
    assert [h["train_images"] for h in history] == [240] * 6  # 2 processes x 8 images x 15 steps
    assert info.extra["best"]["val_top1"] >= 0.6  # it learns: 4 classes, chance is 0.25
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "edgemb.json", "history.json", "last.pt",
                                                     "model.pt"]


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_says_where_and_how_to_continue(folder, tmp_path, sig, code):
    out = tmp_path / "run"
    process = subprocess.Popen([*EDGEMB, "train", "--data", str(folder), *TINY, "--epochs", "5", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(out / "last.pt", process)  # epoch 1 saved, epoch 2 under way
    # A second writer of the same run folder is refused while this one lives.
    second = edgemb("train", "--resume", "--out", out)
    assert f"is in use by process {process.pid}" in one_line_error(second)
    process.send_signal(sig)
    assert process.wait(timeout=300) == code
    last = process.stderr.read().strip().splitlines()[-1]
    assert re.fullmatch(rf"interrupted at epoch [2-5], step \d+ \(epochs 1-[1-4] are saved\): continue with "
                        rf"`edgemb train --out {re.escape(str(out))} --resume`", last), last
    assert "Traceback" not in last
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left
    resumed = edgemb("train", "--resume", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4, 5]
