"""RandomErasing on the block grid, per sample, drawn from the sample's key.

torchvision.transforms.v2.RandomErasing's draw (``_get_params``: with probability ``p``,
up to ten tries of an area in ``scale`` of the image and a log-uniform aspect in
``ratio``, sides rounded, kept when both are smaller than the image, then a uniform
corner; ten misses erase nothing) made on the sample's block grid, from its key on the
core's stream with a seed of its own (``fl_erasing_draw``): every engine, worker and rank
erases the same blocks of the same sample, independently of its crop and its policy ops.

A box of whole 8x8 blocks is the same box of pixels, so the erasing is exact: the box's
coefficients (every channel) become ``value`` (default 0). On dequantised channels
before normalisation 0 is a flat grey of 128 (the JPEG level shift): exactly
``RandomErasing(value=128)`` on the decoded pixels with the box times 8 (tested). After
normalisation (torchvision's recipe erases the normalised tensor), 0 is each channel's
mean, as torchvision's 0 is each RGB channel's mean.
"""
from __future__ import annotations

import numpy as np
import torch

from .._core import erasing_draw


class RandomErasing:
    """RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0), torchvision's
    defaults, on the block grid of x ``[B, C, H, W]`` with the samples' keys ``[B]``."""

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
                 value: float = 0.0):
        self.p = float(p)
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.value = float(value)
        self.boxes(np.zeros(1, np.uint64), 1, 1)  # the core checks the numbers (ValueError)

    def boxes(self, keys, height: int, width: int) -> np.ndarray:
        """int32 ``[n, 4]``: each key's box on a ``height x width`` grid as (top, left,
        height, width); all zero where nothing is erased."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64).reshape(-1)
        out = np.zeros((len(keys), 4), dtype=np.int32)
        erasing_draw(keys, int(height), int(width), self.p, *self.scale, *self.ratio, out)
        return out

    def __call__(self, x: torch.Tensor, keys) -> torch.Tensor:
        """x with each sample's box set to ``value`` (a new tensor)."""
        if x.dim() != 4:
            raise ValueError(f"x: [B, C, H, W], got shape {tuple(x.shape)}")
        b = torch.from_numpy(self.boxes(keys, x.shape[-2], x.shape[-1])).to(x.device)
        if b.shape[0] != x.shape[0]:
            raise ValueError(f"one key per sample: {b.shape[0]} keys for a batch of "
                             f"{x.shape[0]}")
        rows = torch.arange(x.shape[-2], device=x.device).view(1, -1, 1)
        cols = torch.arange(x.shape[-1], device=x.device).view(1, 1, -1)
        top, left, h, w = (b[:, k].view(-1, 1, 1) for k in range(4))
        inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        return x.masked_fill(inside.unsqueeze(1), self.value)

    def __repr__(self) -> str:
        return (f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, "
                f"value={self.value})")


__all__ = ["RandomErasing"]
