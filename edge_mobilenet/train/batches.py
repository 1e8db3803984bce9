"""From uint8 images to model input batches, in torch.

Evaluation feeds the pixels made by preprocess() and only normalizes them.
Training cuts a random crop (random area and aspect ratio), flips it half the
time and scales it to the model's resolution, with the same bilinear,
half-pixel-centred sampling as preprocess() (antialiased when it shrinks), one
image at a time in a data loader worker, by Pillow in C: preprocess()'s integer
version is written for bit-exact ports, not speed."""
import math

import numpy as np
import torch

from ..data.images import resize_region
from ..data.preprocess import Preprocessing


def normalize_batch(pixels: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """N x C x H x W pixel values (any dtype, C = 1 or 3) -> float32 (x - mean) / std, channels-last.
    Gray images are repeated to RGB first: the three channels have different means."""
    x = pixels.float().expand(-1, 3, -1, -1)
    mean = torch.tensor(pre.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def eval_batch(pixels: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """uint8 N x H x W x 3 (output of preprocess()) -> the model input."""
    return normalize_batch(pixels.permute(0, 3, 1, 2), pre)


def random_boxes(n: int, min_scale: float, generator: torch.Generator) -> torch.Tensor:
    """n crop boxes (left, top, width, height as fractions of the image; width < 0 flips).

    Each covers a fraction of the image's area drawn from [min_scale, 1] with an
    aspect ratio from [3/4, 4/3] (log-uniform), at a random place, flipped half the time."""
    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    area = uniform(min_scale, 1.0)
    ratio = torch.exp(uniform(math.log(3 / 4), math.log(4 / 3)))
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    left = uniform(0.0, 1.0) * (1 - width)
    top = uniform(0.0, 1.0) * (1 - height)
    flip = torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
    return torch.stack([left, top, width * flip, height], dim=1)


def crop_resize(image: np.ndarray, box: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 H x W x C -> uint8 C x size x size: the box (rounded to whole pixels) scaled
    to size x size, bilinear with half-pixel centres like preprocess(), antialiased where
    it shrinks (data.images.resize_region), and flipped if its width is negative."""
    left, top, width, height = box.tolist()
    rows, cols = image.shape[:2]
    x0, y0 = min(round(left * cols), cols - 1), min(round(top * rows), rows - 1)
    x1 = max(x0 + 1, min(round((left + abs(width)) * cols), cols))
    y1 = max(y0 + 1, min(round((top + height) * rows), rows))
    crop = resize_region(image, (x0, y0, x1, y1), size)
    if width < 0:
        crop = crop[:, ::-1]
    return torch.from_numpy(crop.transpose(2, 0, 1).copy())  # Pillow's pixels are read-only
