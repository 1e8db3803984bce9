"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package (no download)."""
import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import EdgembError
from .preprocess import Preprocessing, preprocess

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get("EDGEMB_FASHION_MNIST", DEFAULT_DIR))


def read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def load_fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28 uint8, labels N int64) for split "train" (60k) or "test" (10k)."""
    folder = fashion_mnist_dir()
    images_file, labels_file = (folder / name for name in FILES[split])
    if not images_file.is_file():
        raise EdgembError(f"Fashion-MNIST not found at {folder}: install Debian's "
                          "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    images = read_idx(images_file, 16).reshape(-1, 28, 28)
    labels = read_idx(labels_file, 8).astype(np.int64)
    if len(images) != len(labels):
        raise EdgembError(f"Fashion-MNIST files in {folder} are damaged")
    return images, labels


def preprocess_gray(images: np.ndarray, pre: Preprocessing, chunk: int = 256) -> np.ndarray:
    """N x H x W gray uint8 -> N x crop x crop x 3: exactly preprocess() of each image
    repeated to RGB, computed a chunk at a time by treating the images as channels."""
    out = np.empty((len(images), pre.crop, pre.crop), np.uint8)
    for start in range(0, len(images), chunk):
        stacked = images[start:start + chunk].transpose(1, 2, 0)
        out[start:start + chunk] = preprocess(stacked, pre).transpose(2, 0, 1)
    return np.repeat(out[..., None], 3, axis=3)
