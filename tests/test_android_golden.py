"""The golden vectors that the Android core module's JVM tests check (make android-test):
they must be edgemb's own preprocessing of real photos and LiteRT's real outputs."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from edge_mobilenet.data.preprocess import normalize, preprocess
from edge_mobilenet.tflite_metadata import read_metadata
from tests.test_metadata import PRE, REPO, build_samples, run_litert

GENERATOR = REPO / "android_demo/tools/golden_vectors.py"


def generate(out: Path, *models: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATOR), "--out", str(out), *map(str, models)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    return build_samples(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def golden(tmp_path_factory, samples) -> Path:
    out = tmp_path_factory.mktemp("golden") / "golden"
    result = generate(out, samples / "fashion32.int8.tflite", samples / "fashion32.tflite")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def frames(folder: Path) -> list[tuple[str, np.ndarray, int]]:
    """(name, the pixels as the camera or file delivers them, clockwise rotation to upright)."""
    out = []
    for line in (folder / "cases.tsv").read_text().splitlines():
        name, width, height, rotation = line.split("\t")
        pixels = np.frombuffer((folder / f"{name}.rgb").read_bytes(), np.uint8)
        out.append((name, pixels.reshape(int(height), int(width), 3), int(rotation)))
    return out


def cases(folder: Path) -> list[tuple[str, np.ndarray]]:
    """(name, upright image)."""
    return [(name, np.ascontiguousarray(np.rot90(frame, -(rotation // 90))))
            for name, frame, rotation in frames(folder)]


@pytest.mark.slow
def test_photos_are_real_and_of_several_shapes(golden):
    shapes = {image.shape[:2] for _, image in cases(golden / "0-fashion32.int8")}
    assert any(h < w for h, w in shapes) and any(h > w for h, w in shapes) and any(h == w for h, w in shapes)
    assert any(max(h, w) < PRE.crop for h, w in shapes)  # scaled up, like Fashion-MNIST
    chelsea = dict(cases(golden / "0-fashion32.int8"))["chelsea"]
    photo = Path(skimage.__file__).parent / "data" / "chelsea.png"
    assert np.array_equal(chelsea, np.asarray(Image.open(photo).convert("RGB")))
    assert any(min(h, w) >= 4 * 256 for h, w in shapes)  # shrunk 4x or more even for a 224 model
    delivered = {(frame.shape[1], frame.shape[0], rotation) for _, frame, rotation in frames(golden / "0-fashion32.int8")}
    assert {(640, 480, 90), (1280, 720, 270), (1280, 720, 0)} <= delivered


@pytest.mark.slow
def test_vectors_stay_within_a_grey_level_of_pillow(golden):
    """The oracle the Kotlin side also checks: Pillow's antialiased resize, not edgemb's code."""
    folder = golden / "0-fashion32.int8"  # uint8 input: the .input bytes are the pixels
    for name, image in cases(folder):
        ours = np.frombuffer((folder / f"{name}.input").read_bytes(), np.uint8).astype(int)
        pillow = np.frombuffer((folder / f"{name}.pillow").read_bytes(), np.uint8).astype(int)
        assert np.abs(ours - pillow).max() <= 1 and np.abs(ours - pillow).mean() < 0.25, name


@pytest.mark.slow
@pytest.mark.parametrize("folder, float_input", [("0-fashion32.int8", False), ("1-fashion32", True)])
def test_vectors_are_edgemb_preprocessing_and_litert_outputs(golden, folder, float_input):
    folder = golden / folder
    model = (folder / "model.tflite").read_bytes()
    meta = read_metadata(model)
    for name, image in cases(folder):
        pixels = preprocess(image, PRE)[None]
        expected = normalize(pixels, PRE) if float_input else pixels
        assert (folder / f"{name}.input").read_bytes() == expected.tobytes(), name
        output = run_litert(model, expected)
        assert (folder / f"{name}.output").read_bytes() == output.tobytes(), name
        top = [line.split("\t") for line in (folder / f"{name}.top.tsv").read_text().splitlines()]
        assert len(top) == 3
        assert int(top[0][0]) in np.flatnonzero(output[0] == output[0].max())
        assert [label for _, _, label in top] == [meta["labels"][int(i)] for i, _, _ in top]
        assert [float(s) for _, s, _ in top] == sorted((float(s) for _, s, _ in top), reverse=True)


@pytest.mark.slow
def test_a_model_the_app_cannot_use_is_one_error_line(tmp_path, samples):
    bad = samples / "bad/no_metadata.tflite"
    result = generate(tmp_path / "out", bad)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"Error: {bad}: the model has no TFLite metadata " \
        "(labels, normalization); export it with edgemb export, which adds them"
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
    missing = generate(tmp_path / "out", tmp_path / "nothing.tflite")
    assert missing.returncode == 1 and "Error: no such model:" in missing.stderr
