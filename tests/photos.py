"""Real photos from scikit-image's wheel, for tests."""
from pathlib import Path

import numpy as np
import skimage
from PIL import Image

PHOTO_DIR = Path(skimage.__file__).parent / "data"


def photo_path(name: str) -> Path:
    return next(PHOTO_DIR.glob(f"{name}.*"))


def photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(photo_path(name)).convert("RGB"))
