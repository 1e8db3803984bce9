"""From uint8 images to model input batches, in torch.

Evaluation feeds the pixels made by preprocess() and only normalizes them.
Training cuts a random crop (random area and aspect ratio), flips it half the
time and scales it to the model's resolution, with the same bilinear,
half-pixel-centred sampling as preprocess(), for a whole batch at once."""
import math

import torch
from torch.nn import functional as F

from ..data.preprocess import Preprocessing


def normalize(pixels: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """N x C x H x W pixel values (any dtype, C = 1 or 3) -> float32 (x - mean) / std, channels-last.
    Gray images are repeated to RGB first: the three channels have different means."""
    x = pixels.float().expand(-1, 3, -1, -1)
    mean = torch.tensor(pre.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def eval_batch(pixels: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """uint8 N x H x W x 3 (output of preprocess()) -> the model input."""
    return normalize(pixels.permute(0, 3, 1, 2), pre)


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


def crop_resize(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N x H x W x C -> float32 N x C x size x size: each box scaled to size x size
    (bilinear), rounded to whole pixel values like preprocess()'s output."""
    left, top, width, height = boxes.unbind(1)
    # affine_grid maps output coordinates in [-1, 1] to input ones; with
    # align_corners=False both address pixel edges: half-pixel-centred sampling.
    theta = torch.zeros(len(boxes), 2, 3)
    theta[:, 0, 0] = width
    theta[:, 0, 2] = 2 * left + width.abs() - 1
    theta[:, 1, 1] = height
    theta[:, 1, 2] = 2 * top + height - 1
    source = images.permute(0, 3, 1, 2).float()
    grid = F.affine_grid(theta.to(source.device), [len(boxes), source.shape[1], size, size],
                         align_corners=False)
    crops = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return crops.round_()


def train_batch(images: torch.Tensor, pre: Preprocessing, min_scale: float,
                generator: torch.Generator) -> torch.Tensor:
    """uint8 N x H x W x C source images -> an augmented model input batch."""
    boxes = random_boxes(len(images), min_scale, generator)
    return normalize(crop_resize(images, boxes, pre.crop), pre)
