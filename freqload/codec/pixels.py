"""Coefficients -> RGB pixels, for debugging and pictures (not the data path).

``to_rgb`` runs the same channel regrouping the loader uses (all 192
channels, chroma aligned with ``chroma="dct"``), then an inverse 8x8 DCT per
channel group and JFIF's YCbCr -> RGB conversion in numpy. It matches
libjpeg's own decode to within a few levels (libjpeg uses an integer IDCT and
its own rounding), which is what the tests check.
"""
from __future__ import annotations

import numpy as np

from .channels import to_channels
from .dct import inverse_blocks


def grid_planes(grid: np.ndarray) -> np.ndarray:
    """float [192, H8, W8] dequantised channels (Y, Cb, Cr x 64, chroma aligned) -> float64
    Y, Cb, Cr planes [3, H8*8, W8*8] on 0..255 (level shift added, not rounded)."""
    h8, w8 = grid.shape[1:]
    blocks = grid.reshape(3, 64, h8, w8).transpose(0, 2, 3, 1)  # [3, H8, W8, 64]
    return inverse_blocks(blocks) + 128.0


def ycbcr_to_rgb(y, cb, cr, axis: int = 0) -> np.ndarray:
    """JFIF's full-range YCbCr -> RGB, float, neither rounded nor clipped; the three
    planes stacked on ``axis``."""
    cb = cb - 128.0
    cr = cr - 128.0
    return np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb],
                    axis=axis)


def to_rgb(coeffs) -> np.ndarray:
    """Inverse DCT, chroma upsampling and colour conversion.

    Args:
        coeffs: :class:`~freqload.Coefficients`.

    Returns:
        uint8 ``[H, W, 3]`` at the image's size: e.g. a 500x375 JPEG ->
        uint8 [375, 500, 3]. Greyscale gives three equal channels.
    """
    grid = to_channels(coeffs, None, dequantize=True, chroma="dct")  # [192, H8, W8]
    h8, w8 = grid.shape[1:]
    planes = np.clip(np.rint(grid_planes(grid)), 0, 255)  # [3, H8*8, W8*8]
    h = min(coeffs.info.height, h8 * 8)
    w = min(coeffs.info.width, w8 * 8)
    y, cb, cr = (p[:h, :w] for p in planes)
    rgb = ycbcr_to_rgb(y, cb, cr, axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
