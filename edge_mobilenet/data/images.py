"""Reading one image file as RGB uint8, whatever its format's mode."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import EdgembError

IMAGE_FORMATS = {"JPEG", "MPO", "PNG", "BMP", "WEBP"}  # MPO: the JPEG variant many cameras write
MIN_SIDE = 8  # smaller images hold no usable picture once scaled up to the model's input


class BadImage(Exception):
    """The file is not a readable JPEG/PNG/BMP/WebP image (skipped, not fatal)."""


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> H x W x 3 uint8. Alpha is dropped; 16-bit gray keeps its top 8 bits
    (PIL's own conversion would clip everything above 255 to white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(image, dtype=np.int64)
        gray = (np.clip(gray, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def read_image(path: Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB, upright per its EXIF orientation.

    Raises BadImage for anything that does not decode completely (non-image,
    truncated, unsupported format) and EdgembError for an image too small to use."""
    try:
        with Image.open(path) as image:
            if image.format not in IMAGE_FORMATS:
                raise BadImage(f"{image.format} is not JPEG/PNG/BMP/WebP")
            image.load()  # decodes fully: a truncated file fails here
            pixels = to_rgb(ImageOps.exif_transpose(image))
    except BadImage:
        raise
    except Exception as e:  # PIL raises many kinds for broken files (OSError, SyntaxError, ValueError...)
        raise BadImage(f"{type(e).__name__}: {e}") from None
    if min(pixels.shape[:2]) < MIN_SIDE:
        height, width = pixels.shape[:2]
        raise EdgembError(f"{path} is only {width}x{height} pixels: images must be at least "
                          f"{MIN_SIDE}x{MIN_SIDE}; remove it or replace it with a larger one")
    return pixels
