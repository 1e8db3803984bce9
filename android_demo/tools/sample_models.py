"""Small real classifiers for testing the metadata and the Android core module.

A tiny CNN is trained for a few hundred steps on real Fashion-MNIST images (so
its predictions vary with the image) and converted with TensorFlow's
TFLiteConverter into the two kinds of model `edgemb export` writes:
  fashion32.int8.tflite  uint8 raw RGB pixels in, uint8 probabilities out, int8 inside
  fashion32.tflite       float32 (pixel - mean) / std in, float32 probabilities out
both with edgemb metadata; fashion32.plain_metadata.tflite, the int8 model with
metadata but no preprocessing.properties (as other tools write it); and, under
bad/, real models the app must refuse with a clear message. TensorFlow and
torch must not share a process: run this as a script.

    python android_demo/tools/sample_models.py OUT_DIR
"""
import contextlib
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from edge_mobilenet.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist  # noqa: E402
from edge_mobilenet.data.preprocess import Preprocessing, preprocess  # noqa: E402
from edge_mobilenet.tflite_metadata import LABELS_FILE, add_metadata, attach_metadata, build_metadata  # noqa: E402
from edge_mobilenet.export.tflite_worker import convert_fp32, convert_int8  # noqa: E402
from edge_mobilenet.io import write_bytes_atomic  # noqa: E402

RESOLUTION = 32
TRAIN_IMAGES = 6000
EPOCHS = 3
PRE = Preprocessing.for_resolution(RESOLUTION)
INFO = dict(name="fashion32", version="1", author="edgemb tests",
            description="A tiny CNN trained briefly on Fashion-MNIST (a test model)")


def training_pixels() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images as the app would see them: RGB, resized and center-cropped."""
    images, labels = load_fashion_mnist("train")
    rgb = np.repeat(images[:TRAIN_IMAGES, :, :, None], 3, axis=3)
    return np.stack([preprocess(image, PRE) for image in rgb]).astype(np.float32), labels[:TRAIN_IMAGES]


def train(pixels: np.ndarray, labels: np.ndarray) -> tuple[tf.keras.Model, tf.keras.Model]:
    """(pixel model: raw 0-255 pixels in, body: normalized input), sharing weights."""
    keras = tf.keras
    normalized = keras.Input((RESOLUTION, RESOLUTION, 3))
    x = keras.layers.Conv2D(12, 3, strides=2, padding="same", activation="relu")(normalized)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(24, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    probabilities = keras.layers.Softmax()(keras.layers.Dense(len(CLASS_NAMES))(x))
    body = keras.Model(normalized, probabilities)

    raw = keras.Input((RESOLUTION, RESOLUTION, 3))
    mean, std = np.array(PRE.mean, np.float32), np.array(PRE.std, np.float32)
    pixel_model = keras.Model(raw, body(keras.layers.Normalization(mean=mean, variance=std ** 2)(raw)))
    pixel_model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"])
    pixel_model.fit(pixels, labels, batch_size=64, epochs=EPOCHS, verbose=0)
    return pixel_model, body


def to_tflite(model: tf.keras.Model, calibration: np.ndarray | None = None, io_type=tf.uint8) -> bytes:
    """fp32, or full integer (int8 ops, `io_type` input and output) with `calibration` images."""
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its SavedModel signature
        return convert_fp32(model) if calibration is None else convert_int8(model, calibration, io_type)


def not_an_image_model() -> bytes:
    features = tf.keras.Input((64,))
    return to_tflite(tf.keras.Model(features, tf.keras.layers.Dense(len(CLASS_NAMES), activation="softmax")(features)))


def with_metadata(model: bytes, class_names: list[str], normalized_input: bool) -> bytes:
    """Metadata written without add_metadata's checks, to make broken models on purpose."""
    metadata, files = build_metadata(**INFO, class_names=class_names, preprocessing=PRE,
                                     normalized_input=normalized_input)
    return attach_metadata(model, metadata, files)


def without_preprocessing_file(model: bytes) -> bytes:
    """Metadata as other tools write it: labels but no preprocessing.properties."""
    metadata, files = build_metadata(**INFO, class_names=CLASS_NAMES, preprocessing=PRE, normalized_input=False)
    metadata.associatedFiles = []
    return attach_metadata(model, metadata, {LABELS_FILE: files[LABELS_FILE]})


def main(out_dir: Path) -> None:
    tf.keras.utils.set_random_seed(0)
    pixels, labels = training_pixels()
    pixel_model, body = train(pixels, labels)
    # Calibration from images the model did not train on: every 30th of the test split.
    test_images, _ = load_fashion_mnist("test")
    calibration = np.stack([preprocess(np.repeat(image[:, :, None], 3, axis=2), PRE)
                            for image in test_images[::30][:200]]).astype(np.float32)
    int8 = to_tflite(pixel_model, calibration)
    fp32 = to_tflite(body)

    models = {
        "fashion32.int8.tflite": add_metadata(int8, **INFO, class_names=CLASS_NAMES, preprocessing=PRE),
        "fashion32.tflite": add_metadata(fp32, **INFO, class_names=CLASS_NAMES, preprocessing=PRE),
        "fashion32.plain_metadata.tflite": without_preprocessing_file(int8),
        "fashion32.int8_input.tflite": add_metadata(to_tflite(pixel_model, calibration, tf.int8), **INFO,
                                                    class_names=CLASS_NAMES, preprocessing=PRE),
        "bad/no_metadata.tflite": int8,
        "bad/labels_mismatch.tflite": with_metadata(int8, CLASS_NAMES[:-1], normalized_input=False),
        "bad/empty_labels.tflite": with_metadata(int8, [], normalized_input=False),
        "bad/not_an_image.tflite": with_metadata(not_an_image_model(), CLASS_NAMES, normalized_input=True),
        "bad/float_without_normalization.tflite": with_metadata(fp32, CLASS_NAMES, normalized_input=False),
    }
    for name, data in models.items():
        write_bytes_atomic(out_dir / name, data)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    main(Path(sys.argv[1]))
