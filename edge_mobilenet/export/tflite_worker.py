"""The TensorFlow side of the TFLite export, run as its own process by tflite.py:
python -m edge_mobilenet.export.tflite_worker JOB.json"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ..models import build_spec  # noqa: E402
from .keras_model import build_keras_model  # noqa: E402


def representative_dataset(pixels: np.ndarray):
    """Raw 0..255 pixels, float32. The first sample carries one black and one white
    pixel so the uint8 input quantizes to exactly scale 1, zero point 0 and a
    camera frame can be fed to the model as is."""
    pixels = pixels.astype(np.float32)
    pixels[0, 0, 0, :] = 0.0
    pixels[0, 0, 1, :] = 255.0
    for image in pixels:
        yield [image[None]]


def convert(keras_model, int8_pixels: np.ndarray | None = None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if int8_pixels is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: representative_dataset(int8_pixels)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def main(job_path: str) -> None:
    job = json.loads(open(job_path).read())
    spec = build_spec(job["arch"], job["alpha"], job["num_classes"])
    model = build_keras_model(spec, job["resolution"], dict(np.load(job["weights"])), job["mean"], job["std"])
    with open(job["fp32"], "wb") as f:
        f.write(convert(model))
    if "calibration" in job:
        with open(job["int8"], "wb") as f:
            f.write(convert(model, np.load(job["calibration"])))


if __name__ == "__main__":
    main(sys.argv[1])
