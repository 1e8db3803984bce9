"""A split as samples read one at a time, for streaming: nothing is decoded up front,
so memory does not grow with the dataset. `read(i)` gives sample i's pixels and raises
images.BadImage for a file that does not decode; data loader workers call it.

The readers are module-level functions bound with functools.partial, so a sample list
can be sent to worker processes however they are started."""
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from .fashion_mnist import preprocess_gray
from .images import read_image, resize_region
from .preprocess import Preprocessing, preprocess


@dataclass
class Samples:
    sources: list | np.ndarray  # file paths, or images held in memory
    labels: np.ndarray  # int64, one per sample
    class_names: list[str]
    ids: list  # what names each sample in the run record: a path relative to the dataset, or an index
    reader: Callable  # source -> uint8 H x W x C pixels

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, i: int) -> np.ndarray:
        return self.reader(self.sources[i])

    def name(self, i: int) -> str:
        return str(self.ids[i])

    def subset(self, keep: np.ndarray) -> "Samples":
        return Samples([self.sources[i] for i in keep] if isinstance(self.sources, list) else self.sources[keep],
                       self.labels[keep], self.class_names, [self.ids[i] for i in keep], self.reader)


def gray_source(image: np.ndarray) -> np.ndarray:
    """A Fashion-MNIST item as the source of training crops: its 28 x 28 x 1 original."""
    return image[..., None]


def gray_input(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """A Fashion-MNIST item as the model sees it (preprocess() of the item as RGB)."""
    return preprocess_gray(image[None], pre)[0]


def photo_source(path: Path, pre: Preprocessing) -> np.ndarray:
    """A photo as the source of training crops: its central square scaled to pre.resize
    pixels a side, which the evaluation's center crop is cut from. A large JPEG decodes at
    reduced size (draft mode)."""
    pixels = read_image(path, min_side=pre.resize)
    height, width = pixels.shape[:2]
    side = min(height, width)
    left, top = (width - side) / 2, (height - side) / 2
    return resize_region(pixels, (left, top, left + side, top + side), pre.resize)


def photo_input(path: Path, pre: Preprocessing) -> np.ndarray:
    """A photo as the model sees it: the one preprocessing of the fully decoded image."""
    return preprocess(read_image(path), pre)


def gray_samples(images: np.ndarray, labels: np.ndarray, class_names: list[str], ids: np.ndarray,
                 pre: Preprocessing, training: bool) -> Samples:
    reader = gray_source if training else partial(gray_input, pre=pre)
    return Samples(images, labels, class_names, [int(i) for i in ids], reader)


def photo_samples(items: list[tuple[Path, int]], root: Path, class_names: list[str], pre: Preprocessing,
                  training: bool) -> Samples:
    reader = partial(photo_source if training else photo_input, pre=pre)
    files = [path for path, _ in items]
    return Samples(files, np.array([label for _, label in items], np.int64), class_names,
                   [str(path.relative_to(root)) for path in files], reader)
