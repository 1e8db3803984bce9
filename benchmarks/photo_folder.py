"""A large folder of JPEG photos made from Fashion-MNIST, for training at scale.

    .venv/bin/python benchmarks/photo_folder.py OUT [--images 30000] [--size 320x240]

Each item is upscaled to the frame's height, coloured (a random tint on a random
background), placed at a random spot, given sensor-like noise and saved as a JPEG
(quality 90) in OUT/<class>/NNNNN.jpg. Every draw is seeded by the item's index, so the
same command makes the same folder. Written in a temporary sibling, renamed at the end.
"""
import argparse
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_mobilenet.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist  # noqa: E402
from edge_mobilenet.io import atomic_dir  # noqa: E402

FOLDERS = [name.replace("/", "-").replace(" ", "-").lower() for name in CLASS_NAMES]


def photo(item: np.ndarray, index: int, width: int, height: int) -> Image.Image:
    rng = np.random.default_rng([7, index])
    side = int(height * rng.uniform(0.7, 1.0))
    gray = np.asarray(Image.fromarray(item).resize((side, side), Image.BICUBIC), np.float32) / 255
    background = rng.uniform(0, 255, 3)
    tint = rng.uniform(60, 255, 3)
    frame = np.tile(background, (height, width, 1))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    region = frame[top:top + side, left:left + side]
    frame[top:top + side, left:left + side] = region * (1 - gray[..., None]) + tint * gray[..., None]
    frame += rng.normal(0, 6, frame.shape)
    return Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))


def write(job: tuple) -> None:
    folder, index, item, label, width, height = job
    photo(item, index, width, height).save(folder / FOLDERS[label] / f"{index:05d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=30_000)
    parser.add_argument("--size", default="320x240")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    images, labels = load_fashion_mnist("train")
    with atomic_dir(args.out) as folder:
        for name in FOLDERS:
            (folder / name).mkdir()
        jobs = [(folder, i, images[i], int(labels[i]), width, height) for i in range(args.images)]
        with Pool() as pool:
            for done, _ in enumerate(pool.imap_unordered(write, jobs, chunksize=256), 1):
                if done % 5000 == 0:
                    print(f"{done}/{args.images} photos", flush=True)
    print(f"{args.images} photos ({width}x{height} JPEG) in {args.out}")


if __name__ == "__main__":
    main()
