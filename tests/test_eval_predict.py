"""`edgemb eval`, `edgemb predict` and `edgemb pretrained`, run as users run them."""
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from edge_mobilenet.run import read_run_info
from edge_mobilenet.train import TrainConfig, train
from tests.photos import photo_path
from tests.test_data_folder import fashion_folder
from tests.test_train_cli import edgemb, one_line_error


@pytest.fixture(scope="module")
def imagenet_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrained") / "mobilenet_v2"
    result = edgemb("pretrained", "mobilenet_v2", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    data = fashion_folder(root / "fashion4", per_class=40)
    train(TrainConfig(data=str(data), alpha=0.35, resolution=32, epochs=4, batch_size=16, lr=0.02,
                      min_crop_scale=0.6, val_fraction=0.25), root / "run")
    return root / "run"


def test_pretrained_run_is_a_complete_run_directory(imagenet_run):
    assert sorted(p.name for p in imagenet_run.iterdir()) == ["edgemb.json", "model.pt"]
    info = read_run_info(imagenet_run)
    assert info.num_classes == 1000 and info.class_names[285] == "Egyptian cat"
    assert (info.preprocessing.crop, info.preprocessing.resize) == (224, 256)
    assert info.dataset == {"kind": "imagenet"}
    assert "already exists" in one_line_error(edgemb("pretrained", "mobilenet_v2", "--out", imagenet_run))


def test_predict_names_real_photos(imagenet_run):
    result = edgemb("predict", imagenet_run, photo_path("chelsea"), photo_path("coffee"), "--top-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    chelsea, coffee = json.loads(result.stdout)
    assert chelsea["predictions"][0]["class"] in {"Egyptian cat", "tabby", "tiger cat"}
    assert coffee["predictions"][0]["class"] in {"espresso", "cup", "coffee mug"}
    probabilities = [p["probability"] for p in chelsea["predictions"]]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1.0001
    text = edgemb("predict", imagenet_run, photo_path("chelsea")).stdout.splitlines()
    assert text[0] == str(photo_path("chelsea")) and len(text) == 6
    assert text[1].strip().endswith(chelsea["predictions"][0]["class"])


def test_predict_refuses_unreadable_images_in_one_line(imagenet_run, tmp_path):
    broken = tmp_path / "photo.jpg"
    broken.write_text("not a photo")
    assert "cannot read" in one_line_error(edgemb("predict", imagenet_run, broken))
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4)).save(tiny)
    assert "only 4x4 pixels" in one_line_error(edgemb("predict", imagenet_run, tiny))


def test_eval_of_a_run_matches_its_recorded_validation(folder_run):
    result = edgemb("eval", folder_run, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    info = read_run_info(folder_run)
    assert report["images"] == 40 and report["dataset"] == info.dataset and report["format"] == "pytorch"
    # The same 40 held-out images, the same preprocessing: the recorded score (batched,
    # in training) and eval's (one image at a time) may differ only by a near-tie.
    assert abs(report["top1"] - info.extra["best"]["val_top1"]) <= 1 / 40
    assert len(report["skipped_files"]) == 1  # the val part of the broken files
    checkpoint = json.loads(edgemb("eval", folder_run / "model.pt", "--json").stdout)
    assert checkpoint["top1"] == report["top1"]


def test_eval_refuses_data_of_other_classes(folder_run, imagenet_run):
    assert "are not the data's" in one_line_error(edgemb("eval", folder_run, "--data", "fashion-mnist"))
    assert "give one with --data" in one_line_error(edgemb("eval", imagenet_run))


@pytest.mark.slow
def test_eval_of_an_onnx_export(folder_run, tmp_path):
    bundle = tmp_path / "bundle"
    result = edgemb("export", folder_run, "--formats", "onnx", "--out", bundle)
    assert result.returncode == 0, result.stderr[-2000:]
    pytorch = json.loads(edgemb("eval", folder_run, "--json").stdout)
    onnx = json.loads(edgemb("eval", bundle / "model.onnx", "--json").stdout)
    assert onnx["format"] == "onnx" and onnx["images"] == pytorch["images"]
    assert abs(onnx["top1"] - pytorch["top1"]) <= 1 / 40
    shutil.rmtree(bundle)


@pytest.mark.slow
def test_eval_on_fashion_mnist_validation_and_test_splits(fashion_run):
    report = json.loads(edgemb("eval", fashion_run, "--json").stdout)
    dataset = {"kind": "fashion-mnist", "val_fraction": 0.1, "seed": 0}
    assert report["images"] == 6_000 and report["dataset"] == dataset and report["split"] == "val"
    # The checkpoint was picked on these 6000 held-out training images: eval reproduces its score.
    assert report["top1"] == pytest.approx(read_run_info(fashion_run).extra["best"]["val_top1"], abs=3e-4)
    test = json.loads(edgemb("eval", fashion_run, "--split", "test", "--json").stdout)
    assert test["images"] == 10_000 and test["split"] == "test" and abs(test["top1"] - report["top1"]) < 0.05
    # 10 classes: top-5 is a real second figure, well above top-1 (~0.8) and short of all.
    assert test["top1"] + 0.1 < test["top5"] < 1.0
