"""`edgemb train` in process: the run directory, resuming, starting weights, bad input."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_mobilenet.checkpoints import load_state_dict
from edge_mobilenet.data.preprocess import Preprocessing, normalize, preprocess
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.models import build_model
from edge_mobilenet.pretrained import imagenet_weights_path
from edge_mobilenet.run import load_run
from edge_mobilenet.train import Quiet, TrainConfig, train
from edge_mobilenet.train.batches import crop_resize, eval_batch
from edge_mobilenet.train.weights import load_starting_weights
from tests.photos import photo
from tests.test_data_folder import CLASSES, fashion_folder

TINY = dict(alpha=0.35, resolution=32, batch_size=16, lr=0.02, min_crop_scale=0.6, val_fraction=0.25)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return fashion_folder(tmp_path_factory.mktemp("data") / "fashion4", per_class=40)


class Recorder(Quiet):
    def __init__(self, stop_after: int | None = None):
        self.records, self.loaded, self.skipped, self.stop_after = [], None, [], stop_after

    def data_loaded(self, train, val):
        self.loaded = (len(train), len(val))

    def files_skipped(self, files):
        self.skipped += files

    def epoch_done(self, record):
        self.records.append(record)
        if record["epoch"] == self.stop_after:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C right after this epoch


@pytest.mark.parametrize("size", [64, 400])
def test_train_resize_is_preprocess_resize(size):
    """Training's crops sample like preprocess(): bilinear, half-pixel centres, and
    antialiased when they shrink (300 -> 64) as when they grow (300 -> 400)."""
    square = photo("chelsea")[:, 75:375].copy()  # 300 x 300
    pre = Preprocessing(crop=size, resize=size)
    ours = crop_resize(square, torch.tensor([0.0, 0.0, 1.0, 1.0]), size).permute(1, 2, 0).numpy()
    assert abs(ours.astype(int) - preprocess(square, pre).astype(int)).max() <= 1
    mirrored = crop_resize(square, torch.tensor([0.0, 0.0, -1.0, 1.0]), size)  # width < 0 flips
    assert np.array_equal(mirrored.permute(1, 2, 0).numpy()[:, ::-1], ours)
    pixels = preprocess(photo("coffee"), pre)
    assert torch.equal(eval_batch(torch.from_numpy(pixels[None]), pre).permute(0, 2, 3, 1)[0],
                       torch.from_numpy(normalize(pixels, pre)))


def test_a_run_directory_from_a_folder_with_bad_files(folder, tmp_path):
    out = tmp_path / "run"
    recorder = Recorder()
    best = train(TrainConfig(data=str(folder), epochs=2, **TINY), out, recorder)
    assert sum(recorder.loaded) == 163  # 160 images and 3 broken files, found unreadable as they stream
    assert sorted(Path(p).name for p in recorder.skipped) == ["empty.png", "notes.txt", "truncated.jpg"]
    assert all(r["train_images"] == 112 for r in recorder.records)  # 7 full batches: bad files replaced
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "edgemb.json", "history.json", "last.pt",
                                                     "model.pt"]
    info, model = load_run(out)
    assert info.class_names == sorted(CLASSES) and (info.arch, info.alpha, info.resolution) == ("mobilenet_v2",
                                                                                               0.35, 32)
    assert info.preprocessing == Preprocessing.for_resolution(32)
    assert info.dataset == {"kind": "folder", "path": str(folder), "val_fraction": 0.25, "seed": 0}
    assert info.extra["best"] == best and info.extra["training"]["epochs"] == 2
    assert len(info.extra["data"]["skipped_files"]) == 3 and info.extra["format_version"] == 1
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and history == recorder.records
    assert [len(h["steps"]) for h in history] == [1, 1]  # 7 steps: one training-loss point each epoch
    assert len(info.extra["data"]["val_ids"]) == recorder.loaded[1]
    assert best["val_top1"] == max(h["val_top1"] for h in history)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last = load_state_dict(out / "last.pt")  # weights_only=True
    assert last["epoch"] == 2 and set(last) >= {"model", "optimizer", "scheduler", "history", "best"}


def test_tiny_model_learns_real_images(folder, tmp_path):
    best = train(TrainConfig(data=str(folder), epochs=8, **TINY), tmp_path / "run")
    assert best["val_top1"] >= 0.45  # 4 classes: chance is 0.25 (41 validation images: seeds give 0.52-0.66)


def test_interrupted_then_resumed_equals_uninterrupted(folder, tmp_path):
    config = TrainConfig(data=str(folder), epochs=3, **TINY)
    train(config, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", Recorder(stop_after=1))
    assert json.loads((tmp_path / "resumed" / "history.json").read_text())[-1]["epoch"] == 1
    recorder = Recorder()
    train(config, tmp_path / "resumed", recorder, resume=True)
    assert [r["epoch"] for r in recorder.records] == [2, 3]
    for name in ("last.pt", "model.pt"):
        straight = load_state_dict(tmp_path / "straight" / name)
        resumed = load_state_dict(tmp_path / "resumed" / name)
        straight, resumed = (s.get("model", s) for s in (straight, resumed))
        assert all(torch.equal(straight[k], resumed[k]) for k in straight), name
    assert (json.loads((tmp_path / "straight" / "history.json").read_text())[-1]["val_loss"]
            == json.loads((tmp_path / "resumed" / "history.json").read_text())[-1]["val_loss"])


def test_imagenet_weights_keep_the_backbone_and_replace_the_classifier():
    model = build_model("mobilenet_v2", 1.0, 4)
    assert load_starting_weights(model, "imagenet", "mobilenet_v2", 1.0, list("abcd"))
    imagenet = load_state_dict(imagenet_weights_path())
    state = model.state_dict()
    assert torch.equal(state["features.0.0.weight"], imagenet["features.0.0.weight"])
    assert state["classifier.1.weight"].shape == (4, 1280)
    with pytest.raises(EdgembError, match="alpha 1.0 only"):
        load_starting_weights(build_model("mobilenet_v2", 0.35, 4), "imagenet", "mobilenet_v2", 0.35, list("abcd"))


def test_starting_from_a_run_keeps_its_classifier_when_classes_match(folder, tmp_path):
    first = tmp_path / "first"
    train(TrainConfig(data=str(folder), epochs=1, **TINY), first)
    _, trained = load_run(first)
    model = build_model("mobilenet_v2", 0.35, 4)
    assert not load_starting_weights(model, str(first), "mobilenet_v2", 0.35, sorted(CLASSES))
    assert torch.equal(model.state_dict()["classifier.1.weight"], trained.state_dict()["classifier.1.weight"])
    assert load_starting_weights(model, str(first / "model.pt"), "mobilenet_v2", 0.35, list("wxyz"))
    with pytest.raises(EdgembError, match="does not fit"):
        load_starting_weights(build_model("mobilenet_v2", 0.5, 4), str(first), "mobilenet_v2", 0.5, list("wxyz"))


def test_checkpoints_needing_unpickling_are_refused(folder, tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"model": argparse.Namespace(cmd="rm -rf /")}, evil)
    with pytest.raises(EdgembError, match="only tensor checkpoints"):
        train(TrainConfig(data=str(folder), epochs=1, pretrained=str(evil), **TINY), tmp_path / "run")
    run = tmp_path / "run2"
    train(TrainConfig(data=str(folder), epochs=1, **TINY), run)
    torch.save({"epoch": 1, "model": argparse.Namespace()}, run / "last.pt")
    with pytest.raises(EdgembError, match="only tensor checkpoints"):
        train(TrainConfig(data=str(folder), epochs=2, **TINY), run, resume=True)


def test_runs_are_not_overwritten_and_resume_keeps_the_settings(folder, tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(data=str(folder), epochs=1, **TINY)
    train(config, run)
    with pytest.raises(EdgembError, match="already exists: continue that run with --resume"):
        train(config, run)
    with pytest.raises(EdgembError, match=r"--resume continues the run as it was started \(--lr 0.02\)"):
        config.resumed_with({"lr": 0.1, "workers": 1})
    assert config.resumed_with({"lr": 0.02, "workers": 1}).workers == 1
    with pytest.raises(EdgembError, match="holds no run to resume"):
        train(config, tmp_path / "nothing", resume=True)


def test_freeze_backbone_trains_the_classifier_only(folder, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    train(TrainConfig(data=str(folder), epochs=1, **TINY), first)
    train(TrainConfig(data=str(folder), epochs=1, pretrained=str(first), freeze_backbone=True, **TINY), second)
    before, after = (load_state_dict(run / "last.pt")["model"] for run in (first, second))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.1.weight", "classifier.1.bias"}  # BatchNorm statistics frozen too


def test_resume_refuses_data_whose_classes_changed(tmp_path):
    data = fashion_folder(tmp_path / "data", per_class=12, broken=False)
    config = TrainConfig(data=str(data), epochs=2, **TINY)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", Recorder(stop_after=1))
    (data / "bag").rename(data / "handbag")
    with pytest.raises(EdgembError, match="changed since the run started"):
        train(config, tmp_path / "run", resume=True)
