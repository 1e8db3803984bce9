"""The TFLite metadata the Android app reads: written by add_metadata, checked by
read_metadata, and understood by MediaPipe's real ImageClassifier."""
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_mobilenet.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from edge_mobilenet.data.preprocess import ANTIALIASED, Preprocessing, normalize, preprocess
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.tflite_metadata import add_metadata, read_metadata

REPO = Path(__file__).resolve().parents[1]
PRE = Preprocessing.for_resolution(32)  # what android_demo/tools/sample_models.py trains with

# The broken sample models and the message the app shows for each (ModelReaderTest.kt expects the same).
REFUSALS = {
    "no_metadata": "the model has no TFLite metadata (labels, normalization); "
                   "export it with edgemb export, which adds them",
    "labels_mismatch": "labels.txt has 9 labels but the output has 10 scores",
    "empty_labels": "labels.txt is empty",
    "not_an_image": "the input tensor has shape [1, 64]; an image classifier takes [1, height, width, 3] RGB pixels",
    "float_without_normalization": "the float32 input has no NormalizationOptions (mean, std) in its metadata",
}


def build_samples(base: Path) -> Path:
    """The sample models (TensorFlow, in its own process), built once per test session."""
    out = base / "android-samples"
    if not (out / ".built").exists():
        result = subprocess.run([sys.executable, str(REPO / "android_demo/tools/sample_models.py"), str(out)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        (out / ".built").touch()
    return out


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> Path:
    return build_samples(tmp_path_factory.getbasetemp())


def fashion_inputs(count: int) -> np.ndarray:
    """Real Fashion-MNIST test images as the app feeds them: RGB uint8, preprocessed, NHWC."""
    images = load_fashion_mnist("test")[0][:count]
    return np.stack([preprocess(np.repeat(image[:, :, None], 3, axis=2), PRE) for image in images])


def run_litert(model: bytes, inputs: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for x in inputs:
        interpreter.set_tensor(source["index"], x[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target["index"])[0].copy())
    return np.array(outputs)


def test_refuses_bytes_that_are_not_a_model():
    for data in (b"", b"labels.txt\n", b"PK\x03\x04" + bytes(100)):
        with pytest.raises(EdgembError, match="not a TFLite model"):
            read_metadata(data)
    with pytest.raises(EdgembError, match="not a TFLite model"):
        add_metadata(b"labels", name="m", description="", version="1", class_names=["a"], preprocessing=PRE)


@pytest.mark.slow
@pytest.mark.parametrize("name, dtype", [("fashion32.int8.tflite", "uint8"), ("fashion32.tflite", "float32"),
                                         ("fashion32.int8_input.tflite", "int8")])
def test_sample_models_meet_the_app_contract(samples, name, dtype):
    meta = read_metadata((samples / name).read_bytes())
    image, scores = meta["input"], meta["output"]
    assert image["shape"] == [1, 32, 32, 3] and image["dtype"] == dtype
    assert scores["shape"] == [1, len(meta["labels"])] and meta["labels"] == CLASS_NAMES
    assert meta["preprocessing"] == {"resize": PRE.resize, "crop": PRE.crop, "interpolation": PRE.interpolation}
    assert meta["associated_files"] == ["labels.txt", "preprocessing.properties"]
    if dtype == "uint8":  # raw pixels in, normalization inside; quantized probabilities out
        assert image["normalization"] is None
        assert image["scale"] == pytest.approx(1.0, rel=0.02) and image["zero_point"] == 0
        assert scores["dtype"] == "uint8" and scores["scale"] == pytest.approx(1 / 256)
    elif dtype == "int8":  # quantized pixels: the app feeds round(pixel / scale) + zero point
        assert image["scale"] == pytest.approx(1.0, rel=0.02) and image["zero_point"] == -128
    else:
        assert image["normalization"] == {"mean": np.float32(PRE.mean).tolist(), "std": np.float32(PRE.std).tolist()}
        assert scores["dtype"] == "float32" and scores["scale"] is None


@pytest.mark.slow
def test_metadata_leaves_the_model_unchanged(samples):
    """Same outputs, bit for bit, with and without the metadata."""
    inputs = fashion_inputs(50)
    with_metadata = run_litert((samples / "fashion32.int8.tflite").read_bytes(), inputs)
    without = run_litert((samples / "bad/no_metadata.tflite").read_bytes(), inputs)
    assert np.array_equal(with_metadata, without)
    assert len(set(with_metadata.argmax(axis=1))) > 3  # a real model: its answers depend on the image


@pytest.mark.slow
def test_adding_metadata_again_replaces_it(samples):
    model = (samples / "fashion32.int8.tflite").read_bytes()
    again = add_metadata(model, name="fashion32", description="A tiny CNN trained briefly on Fashion-MNIST "
                         "(a test model)", version="1", author="edgemb tests", class_names=CLASS_NAMES,
                         preprocessing=PRE)
    assert again == model
    renamed = add_metadata(model, name="renamed", description="", version="2", class_names=list("abcdefghij"),
                           preprocessing=PRE)
    meta = read_metadata(renamed)
    assert meta["name"] == "renamed" and meta["labels"] == list("abcdefghij")


@pytest.mark.slow
def test_attached_files_are_a_stored_zip(samples):
    """MediaPipe and the Task Library read the files in place: they must not be compressed."""
    model = (samples / "fashion32.tflite").read_bytes()
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        assert {info.filename: info.compress_type for info in archive.infolist()} == {
            "labels.txt": zipfile.ZIP_STORED, "preprocessing.properties": zipfile.ZIP_STORED}
        assert archive.read("labels.txt").decode().splitlines() == CLASS_NAMES
        properties = archive.read("preprocessing.properties").decode()
    assert f"resize={PRE.resize}\n" in properties and f"crop={PRE.crop}\n" in properties


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refuses_models_the_app_cannot_use(samples, name):
    with pytest.raises(EdgembError) as refusal:
        read_metadata((samples / "bad" / f"{name}.tflite").read_bytes())
    assert refusal.value.format_message() == REFUSALS[name]


@pytest.mark.slow
def test_truncated_model_is_refused_with_a_message(samples):
    model = (samples / "fashion32.int8.tflite").read_bytes()
    for size in (8, 64, len(model) // 3, len(model) // 2):
        with pytest.raises(EdgembError):
            read_metadata(model[:size])


@pytest.mark.slow
def test_metadata_from_other_tools_means_a_plain_center_crop(samples):
    meta = read_metadata((samples / "fashion32.plain_metadata.tflite").read_bytes())
    assert meta["preprocessing"] == {"resize": 32, "crop": 32, "interpolation": ANTIALIASED}
    assert meta["labels"] == CLASS_NAMES


@pytest.mark.slow
def test_add_metadata_checks_what_it_is_given(samples):
    model = (samples / "bad/no_metadata.tflite").read_bytes()
    info = dict(name="m", description="", version="1")
    with pytest.raises(EdgembError, match="9 class names given but the model has 10 outputs"):
        add_metadata(model, **info, class_names=CLASS_NAMES[:9], preprocessing=PRE)
    with pytest.raises(EdgembError, match="the model's input is 32x32 but the preprocessing crops 64x64"):
        add_metadata(model, **info, class_names=CLASS_NAMES, preprocessing=Preprocessing.for_resolution(64))
    with pytest.raises(EdgembError, match="single lines"):
        add_metadata(model, **info, class_names=CLASS_NAMES[:9] + ["two\nlines"], preprocessing=PRE)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fashion32.int8.tflite", "fashion32.tflite"])
def test_mediapipe_image_classifier_reads_the_metadata(samples, name):
    """MediaPipe loads the model from its metadata alone, names the classes, and its top-1
    agrees with running the model directly on the same pixels."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    model = (samples / name).read_bytes()
    pre = PRE
    if name == "fashion32.tflite":
        # MediaPipe 1.0.1 refuses per-channel normalization ("Per-channel image normalization
        # is not available"); one mean and std for all channels it accepts.
        pre = Preprocessing(crop=PRE.crop, resize=PRE.resize, mean=(114.5,) * 3, std=(57.6,) * 3)
        model = add_metadata(model, name="fashion32", description="", version="1", class_names=CLASS_NAMES,
                             preprocessing=pre)
        assert read_metadata(model)["input"]["normalization"] == {"mean": [114.5], "std": [57.599998474121094]}
    inputs = fashion_inputs(30)  # already at the input size: MediaPipe's own resize does nothing
    direct = run_litert(model, inputs if name.endswith(".int8.tflite") else normalize(inputs, pre))

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model), max_results=3)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for pixels, expected in zip(inputs, direct):
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels)))
            best = result.classifications[0].categories[0]
            assert expected[best.index] == expected.max()  # quantized scores can tie: any of the best
            assert best.category_name == CLASS_NAMES[best.index]
            scale = 1 / 256 if expected.dtype == np.uint8 else 1
            assert best.score == pytest.approx(float(expected.max()) * scale, abs=1e-6)
