"""The one definition of preprocessing, shared by evaluation, calibration,
export validation and the Android app (android_demo/core mirrors it line by line).

An RGB uint8 image is resized so its shorter side is `resize` pixels, then
center-cropped to `crop` x `crop`. Resizing is bilinear with half-pixel
centers in 11-bit fixed point, integers only, so that any other
implementation of these few lines (Kotlin on the phone) produces the same
bytes. Normalization, (pixel - mean) / std in 0..255 pixel units, happens
inside the int8 models and in float32 for the float ones.
"""
from dataclasses import asdict, dataclass

import numpy as np

FRACTION_BITS = 11
ONE = 1 << FRACTION_BITS

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@dataclass(frozen=True)
class Preprocessing:
    crop: int  # the model's input resolution
    resize: int  # shorter side before the center crop
    mean: tuple[float, float, float] = IMAGENET_MEAN  # pixel units, RGB
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def for_resolution(cls, resolution: int, crop_fraction: float = 0.875, **kw) -> "Preprocessing":
        return cls(crop=resolution, resize=round(resolution / crop_fraction), **kw)

    @classmethod
    def from_json(cls, d: dict) -> "Preprocessing":
        return cls(crop=int(d["crop"]), resize=int(d["resize"]),
                   mean=tuple(map(float, d["mean"])), std=tuple(map(float, d["std"])))

    def to_json(self) -> dict:
        return {**asdict(self), "interpolation": "bilinear-fixed11", "color": "RGB",
                "units": "pixel (0-255)"}


def resized_shape(height: int, width: int, shorter: int) -> tuple[int, int]:
    """The size after scaling the shorter side to `shorter` (aspect ratio kept, rounded half up)."""
    if height <= width:
        return shorter, max(1, (width * shorter * 2 + height) // (2 * height))
    return max(1, (height * shorter * 2 + width) // (2 * width)), shorter


def source_taps(out_positions: np.ndarray, src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For output pixels at `out_positions` of a `dst`-long axis resized from `src`:
    the two source indices and the fixed-point weight of the second.

    The source coordinate is (i + 0.5) * src / dst - 0.5, clamped at 0, kept
    exact as the fraction ((2i + 1) * src - dst) / (2 * dst)."""
    numerator = np.maximum((2 * out_positions.astype(np.int64) + 1) * src - dst, 0)
    fixed = numerator * ONE // (2 * dst)
    first = np.minimum(fixed >> FRACTION_BITS, src - 1)
    second = np.minimum(first + 1, src - 1)
    return first, second, fixed & (ONE - 1)


def resize_center_crop(image: np.ndarray, resize: int, crop: int) -> np.ndarray:
    """HxWxC uint8 -> crop x crop x C uint8 (shorter side to `resize`, then center crop)."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWxC uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    new_h, new_w = resized_shape(height, width, resize)
    crop_h, crop_w = min(crop, new_h), min(crop, new_w)
    if (crop_h, crop_w) != (crop, crop):
        raise ValueError(f"resize {resize} is smaller than crop {crop}")
    top, left = (new_h - crop) // 2, (new_w - crop) // 2
    y0, y1, wy = source_taps(np.arange(top, top + crop), height, new_h)
    x0, x1, wx = source_taps(np.arange(left, left + crop), width, new_w)
    pixels = image.astype(np.int64)
    wx = wx[None, :, None]
    rows0 = pixels[y0][:, x0] * (ONE - wx) + pixels[y0][:, x1] * wx
    rows1 = pixels[y1][:, x0] * (ONE - wx) + pixels[y1][:, x1] * wx
    wy = wy[:, None, None]
    total = rows0 * (ONE - wy) + rows1 * wy
    return ((total + (1 << (2 * FRACTION_BITS - 1))) >> (2 * FRACTION_BITS)).astype(np.uint8)


def preprocess(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """An RGB uint8 image of any size -> the model's uint8 input, crop x crop x 3."""
    return resize_center_crop(image, pre.resize, pre.crop)


def normalize(pixels: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 NHWC/HWC pixels -> float32 (pixel - mean) / std, computed in float32."""
    mean = np.asarray(pre.mean, np.float32)
    std = np.asarray(pre.std, np.float32)
    return (pixels.astype(np.float32) - mean) / std
