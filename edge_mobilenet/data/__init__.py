"""Datasets for training, evaluation and calibration.

A dataset is a small dict, recorded in a run's edgemb.json so that every later
step reads the same images: {"kind": "fashion-mnist", "val_fraction": ..., "seed": ...},
or {"kind": "folder", "path": ..., "val_fraction": ..., "seed": ...}. Images come out as
uint8 pixels made by preprocess.py, the one preprocessing definition.

Splits: "train"; "val", which picks checkpoints (Fashion-MNIST: a seeded, class-stratified
part of its 60k training images; a folder: its val/ or a seeded part of its images); and
"test" (Fashion-MNIST's 10k test set, a folder's test/), read only when asked for.
"""
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EdgembError
from .fashion_mnist import CLASS_NAMES as FASHION_MNIST_CLASSES, load_fashion_mnist, preprocess_gray
from .folder import files_under, has_class_folders, scan_folder, stratified_indices, visible
from .images import BadImage, read_image
from .preprocess import Preprocessing, preprocess
from .samples import Samples, gray_samples, photo_samples

FASHION_MNIST = "fashion-mnist"
SPLITS = ("train", "val", "test")
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)

# track(items, total, description, unit="img") yields the items, showing progress if it likes
# (the command line passes a progress bar); unit names what an item is.
Track = Callable[..., Iterable]


def no_progress(items: Iterable, total: int, description: str, unit: str = "img") -> Iterable:
    return items


@dataclass
class LabeledImages:
    pixels: np.ndarray  # uint8 N x H x W x C
    labels: np.ndarray  # int64 N
    class_names: list[str]
    skipped: list[str] = field(default_factory=list)  # files that are not readable images


def describe_dataset(data: str, val_fraction: float = 0.1, seed: int = 0) -> dict:
    """The dataset record for a --data argument: "fashion-mnist" or a folder."""
    if data == FASHION_MNIST:
        return {"kind": FASHION_MNIST, "val_fraction": val_fraction, "seed": seed}
    return {"kind": "folder", "path": str(Path(data).resolve()), "val_fraction": val_fraction, "seed": seed}


def preprocessing_for(dataset: dict, resolution: int) -> Preprocessing:
    """Photos: shorter side to resolution / 0.875, center crop. Fashion-MNIST's
    28 x 28 items are already framed: the whole image is scaled to the resolution."""
    if dataset["kind"] == FASHION_MNIST:
        return Preprocessing.for_resolution(resolution, crop_fraction=1.0)
    return Preprocessing.for_resolution(resolution)


def subset(count: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of `limit` out of `count` (all if no limit)."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).permutation(count)[:limit])


def decode_files(files: list[Path], transform: Callable[[np.ndarray], np.ndarray], workers: int,
                 track: Track, description: str) -> list[np.ndarray | None]:
    """Read and transform each file in parallel threads (PIL and numpy release the GIL);
    None for a file that is not a readable image."""
    def load(path: Path) -> np.ndarray | None:
        try:
            return transform(read_image(path))
        except BadImage:
            return None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(track(pool.map(load, files), len(files), description))


def decode_subset(files: list[Path], transform: Callable[[np.ndarray], np.ndarray], limit: int | None,
                  seed: int, workers: int, track: Track, description: str) -> tuple[list, list[str]]:
    """All files decoded, or with a limit, files taken in a seeded random order until
    `limit` of them decode. Returns ([(index in files, pixels)] in file order, bad files)."""
    order = np.arange(len(files)) if limit is None else np.random.default_rng(seed).permutation(len(files))
    wanted = len(files) if limit is None else limit
    decoded, skipped, start = [], [], 0
    while len(decoded) < wanted and start < len(order):
        chunk = order[start:start + wanted - len(decoded)]
        start += len(chunk)
        results = decode_files([files[i] for i in chunk], transform, workers, track, description)
        decoded += [(i, pixels) for i, pixels in zip(chunk, results) if pixels is not None]
        skipped += [str(files[i]) for i, pixels in zip(chunk, results) if pixels is None]
    return sorted(decoded, key=lambda item: item[0]), skipped


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")


def fashion_mnist_split(dataset: dict, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, their indices in the source file) of a Fashion-MNIST split."""
    if split == "test":
        images, labels = load_fashion_mnist("test")
        return images, labels, np.arange(len(labels))
    images, labels = load_fashion_mnist("train")
    if "val_fraction" not in dataset:  # a run recorded by edgemb 0.1, which validated on the test set
        if split == "val":
            images, labels = load_fashion_mnist("test")
        return images, labels, np.arange(len(labels))
    train, val = stratified_indices(labels, len(FASHION_MNIST_CLASSES), dataset["val_fraction"], dataset["seed"])
    keep = train if split == "train" else val
    return images[keep], labels[keep], keep


def folder_split(dataset: dict, split: str) -> tuple[list[tuple[Path, int]], list[str]]:
    """The (file, class index) items of a folder dataset's split, and its class names."""
    root = Path(dataset["path"])
    found = scan_folder(root, dataset.get("val_fraction", 0.1), dataset.get("seed", 0))
    items = {"train": found.train, "val": found.val, "test": found.test}[split]
    if items is None:
        raise EdgembError(f"{root} has no test/ folder (beside train/) to score: give --split val, "
                          "or add test/ with one subfolder of images per class")
    return items, found.class_names


def split_samples(dataset: dict, split: str, pre: Preprocessing, *, training: bool = False,
                  limit: int | None = None, seed: int = 0) -> Samples:
    """A split as samples to stream: model inputs, or with `training` the sources training
    crops are cut from (Fashion-MNIST's 28 x 28 x 1 originals, a photo's central pre.resize
    square). `limit` takes a seeded random subset."""
    check_split(split)
    if dataset["kind"] == FASHION_MNIST:
        images, labels, ids = fashion_mnist_split(dataset, split)
        samples = gray_samples(images, labels, list(FASHION_MNIST_CLASSES), ids, pre, training)
    elif dataset["kind"] == "folder":
        items, class_names = folder_split(dataset, split)
        samples = photo_samples(items, Path(dataset["path"]), class_names, pre, training)
    else:
        raise EdgembError(f"a {dataset['kind']!r} run records no dataset of its own: give the data to use")
    if limit is not None and limit < len(samples):
        samples = samples.subset(subset(len(samples), limit, seed))
    return samples


def load_folder(dataset: dict, split: str, pre: Preprocessing, limit: int | None, seed: int, workers: int,
                track: Track) -> LabeledImages:
    items, class_names = folder_split(dataset, split)
    decoded, skipped = decode_subset([f for f, _ in items], lambda image: preprocess(image, pre), limit, seed,
                                     workers, track, f"Reading {split} images")
    labels = np.array([items[i][1] for i, _ in decoded], np.int64)
    if split == "train" and limit is None:
        empty = [name for i, name in enumerate(class_names) if i not in set(labels.tolist())]
        if empty:
            raise EdgembError(f"class {empty[0]!r} in {dataset['path']} has no readable image "
                              f"({len(skipped)} file(s) skipped): add JPEG/PNG/BMP/WebP images")
    if not decoded:
        raise EdgembError(f"{dataset['path']} has no readable {split} image: add JPEG/PNG/BMP/WebP images")
    return LabeledImages(np.stack([pixels for _, pixels in decoded]), labels, class_names, skipped)


def load_split(dataset: dict, split: str, pre: Preprocessing, limit: int | None = None, seed: int = 0, *,
               workers: int = DEFAULT_WORKERS, track: Track = no_progress) -> LabeledImages:
    """The model inputs (uint8 N x crop x crop x 3, from preprocess()) and labels of a
    split, decoded into memory (for evaluation, export validation and calibration).
    `limit` takes a seeded random subset."""
    check_split(split)
    if dataset["kind"] == FASHION_MNIST:
        images, labels, _ = fashion_mnist_split(dataset, split)
        keep = subset(len(images), limit, seed)
        return LabeledImages(preprocess_gray(images[keep], pre), labels[keep], list(FASHION_MNIST_CLASSES))
    if dataset["kind"] == "folder":
        return load_folder(dataset, split, pre, limit, seed, workers, track)
    raise EdgembError(f"a {dataset['kind']!r} run records no dataset of its own: give the data to use")


def calibration_images(source: str, pre: Preprocessing, limit: int, seed: int = 0) -> np.ndarray:
    """Model inputs (uint8 N x crop x crop x 3) for quantization calibration from
    "fashion-mnist", a class-folder dataset (its train split) or any other folder of photos
    (every image below it; other files are skipped)."""
    if source == FASHION_MNIST:
        return load_split({"kind": FASHION_MNIST}, "train", pre, limit, seed).pixels
    folder = Path(source)
    if not folder.is_dir():
        raise EdgembError(f"calibration data {source} is not a folder of images (nor {FASHION_MNIST})")
    loose_files = any(p.is_file() and visible(p) for p in folder.iterdir())
    if has_class_folders(folder) and not loose_files:  # a dataset: calibrate on its train split
        return load_split(describe_dataset(source), "train", pre, limit, seed).pixels
    decoded, _ = decode_subset(files_under(folder), lambda image: preprocess(image, pre), limit, seed,
                               DEFAULT_WORKERS, no_progress, "")
    if not decoded:
        raise EdgembError(f"{source} holds no readable JPEG/PNG/BMP/WebP image for calibration")
    return np.stack([pixels for _, pixels in decoded])
