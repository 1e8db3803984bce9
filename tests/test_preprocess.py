import numpy as np
import pytest
from PIL import Image

from edge_mobilenet.data.preprocess import Preprocessing, normalize, preprocess, resize_center_crop, resized_shape
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
