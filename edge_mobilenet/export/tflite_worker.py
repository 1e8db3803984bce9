"""The TensorFlow side of the TFLite export, run as its own process by tflite.py:
python -m edge_mobilenet.export.tflite_worker JOB.json"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ..models import build_spec  # noqa: E402
from .keras_model import build_keras_model, fold_normalization  # noqa: E402


def calibration_inputs(pixels: np.ndarray, center: float) -> np.ndarray:
    """Calibration inputs `pixel - center`, float32. The first sample carries one black
    and one white pixel so the uint8 input quantizes to exactly scale 1 and zero point
    `center`: a camera frame's bytes go into the model as they are."""
    inputs = pixels.astype(np.float32) - center
    inputs[0, 0, 0, :] = -center
    inputs[0, 0, 1, :] = 255.0 - center
    return inputs


def convert_fp32(keras_model) -> bytes:
    return tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()


def convert_int8(keras_model, inputs: np.ndarray, io_type=tf.uint8) -> bytes:
    """Full-integer TFLite: every op int8 (per-channel weights), `io_type` (uint8 or int8)
    input and output, activation ranges from `inputs` (float32, one sample per row,
    as the Keras model takes them)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[None]] for sample in inputs)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type
    return converter.convert()


def main(job_path: str) -> None:
    job = json.loads(open(job_path).read())
    spec = build_spec(job["arch"], job["alpha"], job["num_classes"])
    weights = dict(np.load(job["weights"]))
    resolution, mean, std = job["resolution"], job["mean"], job["std"]
    with open(job["fp32"], "wb") as f:
        f.write(convert_fp32(build_keras_model(spec, resolution, weights, mean, std)))
    if "calibration" in job:
        # int8: normalization folded into the first conv, so no op runs before it (a 1x1
        # depthwise normalization costs ~5% of the whole model in int8). The input is
        # `pixel - center`, centred on the mean pixel so that the first conv's zero padding
        # is close to PyTorch's (the mean pixel); the uint8 zero point absorbs the shift.
        center = float(round(np.mean(mean)))
        folded = fold_normalization(weights, mean, std, center)
        with open(job["int8"], "wb") as f:
            f.write(convert_int8(build_keras_model(spec, resolution, folded),
                                 calibration_inputs(np.load(job["calibration"]), center)))

if __name__ == "__main__":
    main(sys.argv[1])
