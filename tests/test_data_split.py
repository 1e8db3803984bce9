"""load_split and calibration_images: the contract export and the other steps read data through."""
import shutil

import numpy as np
import pytest

from edge_mobilenet.data import calibration_images, describe_dataset, load_split, preprocessing_for, split_samples
from edge_mobilenet.data.fashion_mnist import load_fashion_mnist
from edge_mobilenet.data.preprocess import Preprocessing, preprocess
from edge_mobilenet.errors import EdgembError
from tests.photos import PHOTO_DIR
from tests.test_data_folder import fashion_folder, write_broken_files

FASHION = describe_dataset("fashion-mnist")


def test_fashion_mnist_test_set_is_preprocessed_exactly():
    pre = preprocessing_for(FASHION, 48)
    assert (pre.crop, pre.resize) == (48, 48)  # the whole 28 x 28 item, scaled
    full = load_split(FASHION, "test", pre)
    images, labels = load_fashion_mnist("test")
    assert full.pixels.shape == (10_000, 48, 48, 3) and full.pixels.dtype == np.uint8
    assert full.labels.dtype == np.int64 and full.class_names[9] == "Ankle boot"
    assert np.array_equal(full.labels, labels)
    # Batched preprocessing of gray items equals preprocess() of each item as RGB.
    for i in (0, 4321, 9999):
        assert np.array_equal(full.pixels[i], preprocess(np.repeat(images[i][:, :, None], 3, axis=2), pre))
    part = load_split(FASHION, "test", pre, limit=50, seed=3)
    assert part.pixels.shape == (50, 48, 48, 3)
    for i in (0, 49):
        match = np.flatnonzero((full.pixels == part.pixels[i]).all(axis=(1, 2, 3)))
        assert len(match) and full.labels[match[0]] == part.labels[i]


def test_fashion_mnist_validation_is_held_out_of_training_not_the_test_set():
    """Validation (which picks the checkpoint) is a seeded, class-stratified 10% of the
    60k training images; the 10k test images take no part in training or choosing."""
    pre = preprocessing_for(FASHION, 32)
    train, val = (split_samples(FASHION, split, pre) for split in ("train", "val"))
    assert (len(train), len(val)) == (54_000, 6_000)
    assert not set(train.ids) & set(val.ids) and len(set(train.ids) | set(val.ids)) == 60_000
    assert np.bincount(val.labels).tolist() == [600] * 10
    images, _ = load_fashion_mnist("train")
    assert np.array_equal(load_split(FASHION, "val", pre, limit=5, seed=1).pixels,
                          load_split(FASHION, "val", pre, limit=5, seed=1).pixels)
    assert np.array_equal(val.read(7), preprocess(np.repeat(images[val.ids[7]][:, :, None], 3, axis=2), pre))
    other_seed = split_samples(describe_dataset("fashion-mnist", seed=1), "val", pre)
    assert other_seed.ids != val.ids
    # A run recorded by edgemb 0.1 says {"kind": "fashion-mnist"}: it validated on the test set.
    assert len(split_samples({"kind": "fashion-mnist"}, "val", pre)) == 10_000


def test_limit_is_a_seeded_subset():
    pre = Preprocessing.for_resolution(32, crop_fraction=1.0)
    a, b, c = (load_split(FASHION, "train", pre, limit=20, seed=s) for s in (0, 0, 1))
    assert np.array_equal(a.pixels, b.pixels) and not np.array_equal(a.pixels, c.pixels)
    assert len(load_split(FASHION, "test", pre).labels) == 10_000


def test_calibration_from_every_kind_of_source(tmp_path):
    pre = Preprocessing.for_resolution(64)
    assert calibration_images("fashion-mnist", pre, 8).shape == (8, 64, 64, 3)
    folder = fashion_folder(tmp_path / "classes", per_class=5)
    assert calibration_images(str(folder), pre, 6).shape == (6, 64, 64, 3)
    photos = tmp_path / "photos"  # a flat folder of real photos, plus broken files
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"):
        shutil.copy(PHOTO_DIR / name, photos)
    write_broken_files(photos)
    pixels = calibration_images(str(photos), pre, 100)
    assert pixels.shape == (4, 64, 64, 3) and pixels.dtype == np.uint8


def test_calibration_without_usable_images_is_a_clear_error(tmp_path):
    (tmp_path / "junk").mkdir()
    write_broken_files(tmp_path / "junk")
    with pytest.raises(EdgembError, match="no readable"):
        calibration_images(str(tmp_path / "junk"), Preprocessing.for_resolution(32), 10)
    with pytest.raises(EdgembError, match="not a folder"):
        calibration_images(str(tmp_path / "missing"), Preprocessing.for_resolution(32), 10)


def test_folder_record_is_absolute_and_keeps_the_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record = describe_dataset("data", val_fraction=0.2, seed=5)
    assert record == {"kind": "folder", "path": str(tmp_path / "data"), "val_fraction": 0.2, "seed": 5}
