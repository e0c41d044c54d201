"""Geometric operations on DCT batches that move whole blocks: translation by the block
grid, on the batch's device, per sample.

torchvision's ``affine(img, translate=[tx, ty])`` with nearest interpolation and fill 0
moves the picture by whole pixels and fills what comes in with black. Here a shift of
``round(t / 8)`` blocks does the same on the block grid: exact where ``t`` is a multiple
of 8 pixels, otherwise the picture lands up to 4 pixels from where torchvision puts it
(the sub-block shift mixes neighbouring blocks' coefficients, a core operation before
masking, not built yet). What comes in is black: luma DC ``8 * (0 - 128) = -1024``, every
other coefficient 0. x: float dequantised channels before normalisation.
"""
from __future__ import annotations

import numpy as np
import torch

from ..codec.mask import as_mask

#: a black block's luma DC (8 x (0 - 128)); its other coefficients are 0
BLACK_DC = -1024.0


def translate(x: torch.Tensor, mask, dx, dy) -> torch.Tensor:
    """Each sample moved by (dx, dy) pixels (floats or [B]; positive: right, down),
    rounded to whole blocks; black comes in."""
    b, c, h, w = x.shape
    channels = [int(i) for i in as_mask(mask).indices]
    if len(channels) != c:
        raise ValueError(f"x: [B, {len(channels)}, H, W] for this mask, got {tuple(x.shape)}")

    def blocks(v):
        v = np.broadcast_to(np.asarray(v, dtype=np.float64), (b,))
        return torch.as_tensor(np.rint(v / 8).astype(np.int64), device=x.device)

    sx, sy = blocks(dx), blocks(dy)
    rows = torch.arange(h, device=x.device).view(1, -1, 1) - sy.view(-1, 1, 1)  # source row
    cols = torch.arange(w, device=x.device).view(1, 1, -1) - sx.view(-1, 1, 1)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)  # [B, H, W]
    flat = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(b, 1, h * w).expand(b, c, -1)
    out = torch.gather(x.reshape(b, c, h * w), 2, flat).view(b, c, h, w)
    fill = torch.zeros(c, dtype=x.dtype, device=x.device)
    if 0 in channels:
        fill[channels.index(0)] = BLACK_DC
    return torch.where(inside.unsqueeze(1), out, fill.view(1, c, 1, 1))


__all__ = ["BLACK_DC", "translate"]
