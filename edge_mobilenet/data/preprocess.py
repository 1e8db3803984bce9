"""The one definition of preprocessing, shared by evaluation, calibration,
export validation and the Android app (android_demo/core mirrors it line by line).

An RGB uint8 image is resized so its shorter side is `resize` pixels, then
center-cropped to `crop` x `crop`. Integers only, so that any other
implementation of these few lines (Kotlin on the phone) produces the same
bytes. Along an axis that grows, each output pixel is bilinear between its two
nearest source pixels (half-pixel centers, 11-bit fixed point). Along an axis
that shrinks, it is a triangle-weighted average of every source pixel within
one output pixel's width of its center (Pillow's antialiased bilinear), so fine
detail averages out instead of aliasing. Normalization, (pixel - mean) / std in
0..255 pixel units, happens inside the int8 models and in float32 for the float ones.
"""
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import EdgembError

FRACTION_BITS = 11
ONE = 1 << FRACTION_BITS

# The resize methods a run or a model may name. BILINEAR (two taps also when shrinking,
# which aliases) is what edgemb used before ANTIALIASED; runs saved with it keep it.
ANTIALIASED = "antialiased-bilinear-fixed11"
BILINEAR = "bilinear-fixed11"
INTERPOLATIONS = (ANTIALIASED, BILINEAR)

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@dataclass(frozen=True)
class Preprocessing:
    crop: int  # the model's input resolution
    resize: int  # shorter side before the center crop
    mean: tuple[float, float, float] = IMAGENET_MEAN  # pixel units, RGB
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = ANTIALIASED

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise EdgembError(f"unknown interpolation {self.interpolation!r}; "
                              f"edgemb implements {', '.join(INTERPOLATIONS)}")

    @classmethod
    def for_resolution(cls, resolution: int, crop_fraction: float = 0.875, **kw) -> "Preprocessing":
        return cls(crop=resolution, resize=round(resolution / crop_fraction), **kw)

    @classmethod
    def from_json(cls, d: dict) -> "Preprocessing":
        return cls(crop=int(d["crop"]), resize=int(d["resize"]),
                   mean=tuple(map(float, d["mean"])), std=tuple(map(float, d["std"])),
                   interpolation=d.get("interpolation", BILINEAR))

    def to_json(self) -> dict:
        return {**asdict(self), "color": "RGB", "units": "pixel (0-255)"}


def resized_shape(height: int, width: int, shorter: int) -> tuple[int, int]:
    """The size after scaling the shorter side to `shorter` (aspect ratio kept, rounded half up)."""
    if height <= width:
        return shorter, max(1, (width * shorter * 2 + height) // (2 * height))
    return max(1, (height * shorter * 2 + width) // (2 * width)), shorter


def bilinear_taps(out_positions: np.ndarray, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """For output pixels at `out_positions` of a `dst`-long axis resized from `src`:
    the two nearest source indices and their fixed-point weights, each [n, 2].

    The source coordinate is (i + 0.5) * src / dst - 0.5, clamped at 0, kept
    exact as the fraction ((2i + 1) * src - dst) / (2 * dst)."""
    numerator = np.maximum((2 * out_positions.astype(np.int64) + 1) * src - dst, 0)
    fixed = numerator * ONE // (2 * dst)
    first = np.minimum(fixed >> FRACTION_BITS, src - 1)
    second = np.minimum(first + 1, src - 1)
    weight = fixed & (ONE - 1)
    return np.stack([first, second], 1), np.stack([ONE - weight, weight], 1)


def triangle_taps(out_positions: np.ndarray, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Like bilinear_taps for a shrinking axis (src > dst): every source pixel j whose center
    is within src / dst of output pixel i's center, weighted 1 - distance * dst / src.

    With both centers doubled, that weight is proportional to the integer
    2 * src - |(2j + 1) * dst - (2i + 1) * src|. The weights are scaled to sum
    to exactly ONE by rounding their running sums, so each is within one unit of
    its exact share and none is negative. Pixels outside the image are left out."""
    i = out_positions.astype(np.int64)[:, None]
    first = ((2 * i - 1) * src) // (2 * dst) - 1  # a little wider than the support: extra taps weigh 0
    j = first + np.arange((2 * src + dst - 1) // dst + 4)[None, :]
    raw = np.maximum(2 * src - np.abs((2 * j + 1) * dst - (2 * i + 1) * src), 0)
    raw[(j < 0) | (j >= src)] = 0
    running = np.cumsum(raw, 1)
    total = running[:, -1:]
    rounded = (2 * running * ONE + total) // (2 * total)
    weights = np.diff(rounded, prepend=0, axis=1)
    return np.clip(j, 0, src - 1), weights


def taps(out_positions: np.ndarray, src: int, dst: int, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    if src > dst and interpolation == ANTIALIASED:
        return triangle_taps(out_positions, src, dst)
    return bilinear_taps(out_positions, src, dst)


def resize_center_crop(image: np.ndarray, resize: int, crop: int, interpolation: str = ANTIALIASED) -> np.ndarray:
    """HxWxC uint8 -> crop x crop x C uint8 (shorter side to `resize`, then center crop)."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWxC uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    new_h, new_w = resized_shape(height, width, resize)
    crop_h, crop_w = min(crop, new_h), min(crop, new_w)
    if (crop_h, crop_w) != (crop, crop):
        raise ValueError(f"resize {resize} is smaller than crop {crop}")
    top, left = (new_h - crop) // 2, (new_w - crop) // 2
    ys, wy = taps(np.arange(top, top + crop), height, new_h, interpolation)
    xs, wx = taps(np.arange(left, left + crop), width, new_w, interpolation)
    # Horizontal pass on the rows the vertical pass reads, kept at full precision (at most
    # 255 * ONE), then the vertical pass; one rounding at the end. Sums stay below 2^31.
    low, high = ys.min(), ys.max() + 1
    rows = image[low:high].astype(np.int32)
    wx, wy = wx.astype(np.int32), wy.astype(np.int32)
    across = sum(rows[:, xs[:, k]] * wx[None, :, k, None] for k in range(xs.shape[1]))
    total = sum(across[ys[:, k] - low] * wy[:, k, None, None] for k in range(ys.shape[1]))
    return ((total + (1 << (2 * FRACTION_BITS - 1))) >> (2 * FRACTION_BITS)).astype(np.uint8)


def preprocess(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """An RGB uint8 image of any size -> the model's uint8 input, crop x crop x 3."""
    return resize_center_crop(image, pre.resize, pre.crop, pre.interpolation)


def normalize(pixels: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 NHWC/HWC pixels -> float32 (pixel - mean) / std, computed in float32."""
    mean = np.asarray(pre.mean, np.float32)
    std = np.asarray(pre.std, np.float32)
    return (pixels.astype(np.float32) - mean) / std


def normalize_nchw(pixels: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 NHWC pixels -> float32 normalized NCHW, contiguous: the PyTorch model's input."""
    return np.ascontiguousarray(normalize(pixels, pre).transpose(0, 3, 1, 2))
