"""Reading one image file as RGB uint8, whatever its format's mode."""
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


IMAGE_FORMATS = {"JPEG", "MPO", "PNG", "BMP", "WEBP"}  # MPO: the JPEG variant many cameras write
MIN_SIDE = 8  # smaller images hold no usable picture once scaled up to the model's input


class BadImage(Exception):
    """The file is not a readable JPEG/PNG/BMP/WebP image of a usable size (skipped, not fatal)."""


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> H x W x 3 uint8. Alpha is dropped; 16-bit gray keeps its top 8 bits
    (PIL's own conversion would clip everything above 255 to white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(image, dtype=np.int64)
        gray = (np.clip(gray, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def draft_size(width: int, height: int, min_side: int) -> tuple[int, int]:
    """The size to ask JPEG's draft mode for: the shorter side still at least `min_side`."""
    scale = min_side / min(width, height)
    return math.ceil(width * scale), math.ceil(height * scale)


def read_image(path: Path, min_side: int | None = None) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB, upright per its EXIF orientation.

    With `min_side`, a large JPEG is decoded at a reduced size (1/2, 1/4 or 1/8:
    the decoder skips work) that keeps its shorter side at least `min_side`; for
    training, where the image is scaled down to that size anyway. Without it,
    the full image, as the one preprocessing (and the phone) sees it.

    Raises BadImage for anything that does not decode completely (non-image,
    truncated, unsupported format) or is too small to hold a usable picture."""
    try:
        with Image.open(path) as image:
            if image.format not in IMAGE_FORMATS:
                raise BadImage(f"{image.format} is not JPEG/PNG/BMP/WebP")
            if min_side and image.format in ("JPEG", "MPO") and min(image.size) > 2 * min_side:
                image.draft(image.mode, draft_size(*image.size, min_side))
            image.load()  # decodes fully: a truncated file fails here
            pixels = to_rgb(ImageOps.exif_transpose(image))
    except BadImage:
        raise
    except Exception as e:  # PIL raises many kinds for broken files (OSError, SyntaxError, ValueError...)
        raise BadImage(f"{type(e).__name__}: {e}") from None
    if min(pixels.shape[:2]) < MIN_SIDE:
        height, width = pixels.shape[:2]
        raise BadImage(f"only {width}x{height} pixels, images must be at least {MIN_SIDE}x{MIN_SIDE}")
    return pixels


def resize_region(pixels: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """The region box = (left, top, right, bottom) of an H x W x C uint8 image (source pixel
    coordinates, fractions allowed) scaled to size x size: Pillow's bilinear, half-pixel
    centred and antialiased where it shrinks (what preprocess() computes in integers), in C.
    For training inputs, which need not match preprocess() to the last bit but must be fast."""
    gray = pixels.shape[2] == 1
    image = Image.fromarray(pixels[:, :, 0] if gray else pixels)
    out = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box))
    return out[:, :, None] if gray else out
