"""The folder dataset: layout, stratified split, odd image modes, bad files, clear errors.

`fashion_folder()` is also the real-image dataset of the training tests: Fashion-MNIST
items saved as files in the modes and formats users' folders hold, plus broken files."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_mobilenet.data import describe_dataset, load_split
from edge_mobilenet.data.fashion_mnist import load_fashion_mnist
from edge_mobilenet.data.folder import scan_folder
from edge_mobilenet.data.images import read_image
from edge_mobilenet.data.preprocess import Preprocessing
from edge_mobilenet.errors import EdgembError
from tests.photos import photo_path

CLASSES = {"bag": 8, "sneaker": 7, "trouser": 1, "tshirt": 0}  # folder name -> Fashion-MNIST label
SAVERS = [  # (suffix, how to save a gray uint8 image): every mode a user's folder may hold
    (".png", lambda g, p: Image.fromarray(g).save(p)),
    (".jpg", lambda g, p: Image.fromarray(g).convert("RGB").save(p, quality=95)),
    (".png", lambda g, p: Image.fromarray(g).convert("RGBA").save(p)),
    (".png", lambda g, p: Image.fromarray(g).convert("P").save(p)),
    (".jpg", lambda g, p: Image.fromarray(g).convert("CMYK").save(p, quality=95)),
    (".png", lambda g, p: Image.fromarray(g.astype(np.uint16) * 257).save(p)),  # I;16
    (".bmp", lambda g, p: Image.fromarray(g).convert("RGB").save(p)),
    (".webp", lambda g, p: Image.fromarray(g).convert("RGB").save(p, lossless=True)),
]


def write_broken_files(folder: Path) -> None:
    """A truncated JPEG, a text file, an empty PNG: what must be skipped, not fatal."""
    truncated = folder / "truncated.jpg"
    Image.open(photo_path("chelsea")).convert("RGB").save(truncated, quality=90)
    truncated.write_bytes(truncated.read_bytes()[:20_000])
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")


def fashion_folder(root: Path, per_class: int = 60, broken: bool = True) -> Path:
    """Fashion-MNIST items of 4 classes as files (cycling through SAVERS' modes)."""
    images, labels = load_fashion_mnist("test")
    for name, label in CLASSES.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            suffix, save = SAVERS[i % len(SAVERS)]
            save(images[index], folder / f"{i:03d}{suffix}")
    if broken:
        write_broken_files(root / "bag")
        (root / "tshirt" / ".DS_Store").write_bytes(b"\0\1")  # hidden: ignored, not even reported
    return root


def test_every_mode_reads_as_the_same_rgb_picture(tmp_path):
    gray = load_fashion_mnist("test")[0][0]
    for i, (suffix, save) in enumerate(SAVERS):
        path = tmp_path / f"{i}{suffix}"
        save(gray, path)
        pixels = read_image(path)
        assert pixels.shape == (28, 28, 3) and pixels.dtype == np.uint8, path
        error = np.abs(pixels.astype(int) - gray[:, :, None]).mean()
        assert error < (3 if suffix == ".jpg" else 0.5), (Image.open(path).mode, error)


def test_folder_split_is_stratified_seeded_and_disjoint(tmp_path):
    root = fashion_folder(tmp_path / "data", per_class=20, broken=False)
    found = scan_folder(root, val_fraction=0.25, seed=0)
    assert found.class_names == sorted(CLASSES)
    val_per_class = np.bincount([label for _, label in found.val], minlength=4)
    assert val_per_class.tolist() == [5, 5, 5, 5]
    assert not {f for f, _ in found.train} & {f for f, _ in found.val}
    assert len(found.train) + len(found.val) == 80
    assert scan_folder(root, 0.25, seed=0).val == found.val
    assert scan_folder(root, 0.25, seed=1).val != found.val


def test_train_and_val_folders_are_used_as_given(tmp_path):
    fashion_folder(tmp_path / "data" / "train", per_class=6, broken=False)
    fashion_folder(tmp_path / "data" / "val", per_class=2, broken=False)
    found = scan_folder(tmp_path / "data")
    assert found.class_names == sorted(CLASSES)
    assert len(found.train) == 24 and len(found.val) == 8
    assert all("/val/" in str(f) for f, _ in found.val)


def test_bad_files_are_skipped_and_named(tmp_path):
    root = fashion_folder(tmp_path / "data", per_class=10)
    dataset = describe_dataset(str(root), val_fraction=0.5)
    pre = Preprocessing.for_resolution(32)
    train, val = (load_split(dataset, split, pre) for split in ("train", "val"))
    skipped = sorted(Path(p).name for p in train.skipped + val.skipped)
    assert skipped == ["empty.png", "notes.txt", "truncated.jpg"]
    assert len(train.labels) + len(val.labels) == 40
    assert train.pixels.shape[1:] == (32, 32, 3) and train.pixels.dtype == np.uint8
    assert train.labels.dtype == np.int64 and train.class_names == sorted(CLASSES)


@pytest.mark.parametrize("make,message", [
    (lambda root: None, "does not exist"),
    (lambda root: (root / "only").mkdir(parents=True), "at least 2 are needed"),
    (lambda root: [(root / c).mkdir(parents=True) for c in ("a", "b")], "is empty"),
])
def test_unusable_folders_fail_with_one_clear_line(tmp_path, make, message):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(EdgembError, match=message):
        scan_folder(root)


def test_a_tiny_image_is_skipped_and_named(tmp_path):
    root = fashion_folder(tmp_path / "data", per_class=4, broken=False)
    Image.new("RGB", (3, 40)).save(root / "bag" / "speck.png")
    images = load_split(describe_dataset(str(root), val_fraction=0.01), "train", Preprocessing.for_resolution(32))
    assert [Path(p).name for p in images.skipped] == ["speck.png"] and len(images.labels) == 12


def test_a_class_with_only_broken_files_is_an_error(tmp_path):
    root = fashion_folder(tmp_path / "data", per_class=4, broken=False)
    for f in (root / "bag").iterdir():
        f.write_bytes(b"broken")
    with pytest.raises(EdgembError, match="class 'bag' .* has no readable image"):
        load_split(describe_dataset(str(root)), "train", Preprocessing.for_resolution(32))
