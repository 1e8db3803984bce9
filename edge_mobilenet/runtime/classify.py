"""Running any model (run directory, checkpoint, .onnx, .tflite) over many images: its
accuracy on a dataset (`edgemb eval`) and the classes of image files (`edgemb predict`)."""
from pathlib import Path

import numpy as np

from ..data import FASHION_MNIST, LabeledImages, Track, describe_dataset, load_split, no_progress
from ..data.images import BadImage, read_image
from ..data.preprocess import preprocess
from ..errors import EdgembError
from ..metrics import top_k_accuracy
from ..run import RunInfo
from .base import Runner

CHUNK = 64  # images per predict() call, between progress updates


def eval_dataset(info: RunInfo, data: str | None) -> dict:
    """The dataset to score on: --data if given, else the run's own. The data the run
    was trained on keeps the run's split, so its validation images stay unseen."""
    if data is None:
        if info.dataset.get("kind") not in ("folder", FASHION_MNIST):
            raise EdgembError("this model records no dataset of its own: give one with --data")
        return info.dataset
    if data == FASHION_MNIST:
        return info.dataset if info.dataset.get("kind") == FASHION_MNIST else describe_dataset(data)
    own = info.dataset.get("kind") == "folder" and Path(info.dataset["path"]) == Path(data).resolve()
    return info.dataset if own else describe_dataset(data)


def predict_all(runner: Runner, pixels: np.ndarray, track: Track = no_progress) -> np.ndarray:
    """Probabilities N x classes, predicted a chunk at a time."""
    chunks = range(0, len(pixels), CHUNK)
    parts = [runner.predict(pixels[start:start + CHUNK])
             for start in track(chunks, len(chunks), "Evaluating", unit="batch")]
    return np.concatenate(parts) if parts else np.zeros((0, runner.info.num_classes), np.float32)


def accuracy(runner: Runner, images: LabeledImages, track: Track = no_progress) -> dict:
    """Top-1 and top-5 of `runner` on `images` (whose classes must be the model's)."""
    if images.class_names != runner.info.class_names:
        raise EdgembError(f"the model's classes ({', '.join(runner.info.class_names[:5])}, ...) are not the "
                          f"data's ({', '.join(images.class_names[:5])}, ...): evaluate it on the data it "
                          "was trained for")
    probabilities = predict_all(runner, images.pixels, track)
    return {"images": len(images.labels), "top1": top_k_accuracy(probabilities, images.labels, 1),
            "top5": top_k_accuracy(probabilities, images.labels, min(5, runner.info.num_classes))}


def split_accuracy(runner: Runner, data: str | None, split: str = "val", track: Track = no_progress) -> dict:
    """`edgemb eval`: accuracy on a split ("val" or "test") of --data (or of the run's data)."""
    dataset = eval_dataset(runner.info, data)
    images = load_split(dataset, split, runner.info.preprocessing, track=track)
    return {**accuracy(runner, images, track), "dataset": dataset, "split": split,
            "skipped_files": images.skipped}


def read_for_prediction(path: Path, runner: Runner) -> np.ndarray:
    try:
        return preprocess(read_image(path), runner.info.preprocessing)
    except BadImage as e:
        raise EdgembError(f"cannot read {path} as a JPEG/PNG/BMP/WebP image ({e})") from None


def predict_files(runner: Runner, paths: list[Path], top_k: int = 5) -> list[dict]:
    """For each image file, its top_k classes with their probabilities, most likely first."""
    pixels = np.stack([read_for_prediction(Path(p), runner) for p in paths])
    probabilities = predict_all(runner, pixels)
    results = []
    for path, p in zip(paths, probabilities):
        best = np.argsort(-p, kind="stable")[:top_k]
        results.append({"image": str(path), "predictions": [
            {"class": runner.info.class_names[i], "index": int(i), "probability": float(p[i])} for i in best]})
    return results
