"""edgemb preprocess: the exact pixels the model sees, as PNG, for an app developer to compare."""
import numpy as np
from click.testing import CliRunner
from PIL import Image

from edge_mobilenet.cli import cli
from edge_mobilenet.data.preprocess import BILINEAR, Preprocessing, resize_center_crop
from edge_mobilenet.run import RunInfo, write_run_info
from tests.photos import photo, photo_path


def run_dir(tmp_path, pre: Preprocessing):
    folder = tmp_path / "run"
    write_run_info(folder, RunInfo(arch="mobilenet_v2", alpha=0.35, resolution=pre.crop,
                                   class_names=["a", "b"], preprocessing=pre))
    return folder


def test_writes_what_the_model_sees_as_png(tmp_path):
    folder = run_dir(tmp_path, Preprocessing.for_resolution(96))
    result = CliRunner().invoke(cli, ["preprocess", str(folder), str(photo_path("astronaut")),
                                      str(photo_path("chelsea")), "--out", str(tmp_path / "seen")])
    assert result.exit_code == 0, result.output
    for name in ("astronaut", "chelsea"):
        seen = np.asarray(Image.open(tmp_path / "seen" / f"{name}.png"))
        assert seen.shape == (96, 96, 3)
        assert np.array_equal(seen, resize_center_crop(photo(name), 110, 96))
    assert "antialiased-bilinear-fixed11" in result.output


def test_a_run_saved_with_the_old_resize_is_shown_with_it(tmp_path):
    folder = run_dir(tmp_path, Preprocessing(crop=96, resize=110, interpolation=BILINEAR))
    result = CliRunner().invoke(cli, ["preprocess", str(folder), str(photo_path("astronaut")), "--out",
                                      str(tmp_path / "seen")])
    assert result.exit_code == 0, result.output
    seen = np.asarray(Image.open(tmp_path / "seen" / "astronaut.png"))
    assert np.array_equal(seen, resize_center_crop(photo("astronaut"), 110, 96, BILINEAR))


def test_a_file_that_is_not_an_image_is_one_line(tmp_path):
    folder = run_dir(tmp_path, Preprocessing.for_resolution(96))
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    result = CliRunner().invoke(cli, ["preprocess", str(folder), str(bad), "--out", str(tmp_path / "seen")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: cannot read {bad} as a JPEG/PNG/BMP/WebP image")
    missing = CliRunner().invoke(cli, ["preprocess", str(tmp_path / "nowhere"), str(bad), "--out", str(tmp_path)])
    assert missing.exit_code == 1 and "is not a run directory" in missing.output
