import numpy as np
import pytest
from PIL import Image

from edge_mobilenet.data.preprocess import (ANTIALIASED, BILINEAR, Preprocessing, normalize, preprocess,
                                           resize_center_crop, resized_shape)
from edge_mobilenet.errors import EdgembError
from tests.photos import photo


def test_identity_size_is_a_plain_center_crop():
    image = photo("chelsea")  # 300 x 451
    out = resize_center_crop(image, 300, 300)
    left = (451 - 300) // 2
    assert np.array_equal(out, image[:, left:left + 300])


def test_upscaling_matches_pillow_bilinear():
    image = photo("coffee")[100:128, 200:228]  # a real 28x28 patch, like Fashion-MNIST
    ours = resize_center_crop(image, 64, 64).astype(int)
    pillow = np.asarray(Image.fromarray(image).resize((64, 64), Image.BILINEAR)).astype(int)
    assert np.abs(ours - pillow).max() <= 1


def test_shorter_side_and_center():
    assert resized_shape(300, 451, 256) == (256, 385)
    assert resized_shape(451, 300, 256) == (385, 256)
    out = preprocess(photo("chelsea"), Preprocessing.for_resolution(96))
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    assert Preprocessing.for_resolution(224).resize == 256


def test_normalize_is_pixel_units():
    pre = Preprocessing(crop=4, resize=4, mean=(127.5,) * 3, std=(127.5,) * 3)
    x = normalize(np.array([[[0, 255, 127]]], np.uint8), pre)
    assert x.dtype == np.float32
    assert x.tolist() == [[[-1.0, 1.0, pytest.approx(-0.00392, abs=1e-4)]]]


def test_refuses_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        resize_center_crop(np.zeros((8, 8, 3), np.float32), 4, 4)


def pillow_resize_center_crop(image: np.ndarray, resize: int, crop: int) -> np.ndarray:
    """The independent reference: Pillow's bilinear resize (antialiased when shrinking), center crop."""
    height, width = image.shape[:2]
    new_h, new_w = resized_shape(height, width, resize)
    out = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    top, left = (new_h - crop) // 2, (new_w - crop) // 2
    return out[top:top + crop, left:left + crop]


@pytest.mark.parametrize("name, size, resize, crop", [
    ("astronaut", None, 96, 96),  # 512 -> 96: 5.3x
    ("chelsea", None, 64, 56),  # 300 x 451 -> 64 x 96: 4.7x
    ("coffee", (1800, 1200), 256, 224),  # a large photo, 4.7x
    ("astronaut", (1280, 720), 256, 224),  # a camera-sized frame, 2.8x
])
def test_shrinking_matches_pillows_antialiased_resize(name, size, resize, crop):
    image = photo(name)
    if size is not None:
        image = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
    difference = resize_center_crop(image, resize, crop).astype(int) - pillow_resize_center_crop(image, resize, crop)
    assert np.abs(difference).max() <= 1 and np.abs(difference).mean() < 0.25


def test_fine_detail_averages_out_instead_of_aliasing():
    checkerboard = np.repeat((np.indices((1200, 1200)).sum(0) % 2 * 255).astype(np.uint8)[:, :, None], 3, 2)
    assert resize_center_crop(checkerboard, 128, 112).std() < 8
    assert resize_center_crop(checkerboard, 128, 112, BILINEAR).std() > 30  # the old two-tap method aliases


def test_hand_computed_values():
    # 4x4 -> 2x2: output pixel 0 weighs source pixels 0..3 as 6, 6, 2, 0 (the triangle 1 - d / 2
    # at distances 0.5, 0.5, 1.5, 2.5), pixel 1 the mirror image. On a 0/255 checkerboard the
    # top-left output is 255 * (6*6 + 6*8 + 2*6) / 14^2 = 124.9 and its neighbour 255 * 100 / 196 = 130.1.
    checkerboard = np.repeat((np.indices((4, 4)).sum(0) % 2 * 255).astype(np.uint8)[:, :, None], 3, 2)
    assert resize_center_crop(checkerboard, 2, 2)[:, :, 0].tolist() == [[125, 130], [130, 125]]
    # Weights sum to exactly one at every factor: a flat image stays flat.
    flat = np.full((1000, 700, 3), 201, np.uint8)
    assert np.unique(resize_center_crop(flat, 97, 97)).tolist() == [201]
    # Growing is unchanged: bilinear between the two nearest pixels, 2 -> 4: 0, 64, 191, 255 (of 255).
    ramp = np.array([[[0] * 3, [255] * 3]] * 2, np.uint8)
    assert resize_center_crop(ramp, 4, 4)[0, :, 0].tolist() == [0, 64, 191, 255]


def test_a_run_saved_with_the_old_method_keeps_it():
    old = {"crop": 32, "resize": 37, "mean": [0, 0, 0], "std": [1, 1, 1], "interpolation": BILINEAR}
    pre = Preprocessing.from_json(old)
    assert pre.interpolation == BILINEAR and pre.to_json()["interpolation"] == BILINEAR
    assert Preprocessing.for_resolution(32).to_json()["interpolation"] == ANTIALIASED
    image = photo("astronaut")
    assert np.array_equal(preprocess(image, pre), resize_center_crop(image, 37, 32, BILINEAR))
    with pytest.raises(EdgembError, match="unknown interpolation 'bicubic'"):
        Preprocessing.from_json({**old, "interpolation": "bicubic"})
