"""JPEG's 8x8 DCT in numpy, for the pixel-side helpers (to_rgb, the Pillow fallback).

JPEG's forward DCT (ITU T.81, A.3.3) is the orthonormal 2-D DCT-II:
``F = D @ f @ D.T`` on a level-shifted 8x8 block ``f = pixels - 128``, with
``D[k, n] = c(k) / 2 * cos((2n + 1) k pi / 16)``, ``c(0) = 1/sqrt(2)``, else 1.
The inverse is ``f = D.T @ F @ D``. Blocks are indexed ``[..., row, col]``
(row = vertical frequency), matching the raster order of the coefficients.
"""
from __future__ import annotations

import functools

import numpy as np

from .._core import dct_basis


@functools.cache
def dct_matrix() -> np.ndarray:
    """float64 [8, 8] orthonormal DCT-II matrix ``D`` (read-only): the native core's own
    table (``fl_dct_basis``), so Python and C use one basis."""
    d = np.frombuffer(dct_basis(), dtype=np.float64).reshape(8, 8).copy()
    d.setflags(write=False)
    return d


def forward_blocks(plane: np.ndarray) -> np.ndarray:
    """Pixels -> coefficients: float [H, W] (H, W multiples of 8, already level-shifted)
    -> float64 [H/8, W/8, 64], raster order inside each block."""
    h, w = plane.shape
    d = dct_matrix()
    b = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).astype(np.float64)
    return (d @ b @ d.T).reshape(h // 8, w // 8, 64)


def inverse_blocks(coefs: np.ndarray) -> np.ndarray:
    """Coefficients -> pixels: [..., Hb, Wb, 64] -> float64 [..., Hb*8, Wb*8] (no level shift)."""
    d = dct_matrix()
    *lead, hb, wb, _ = coefs.shape
    b = coefs.reshape(*lead, hb, wb, 8, 8).astype(np.float64)
    px = d.T @ b @ d
    px = np.swapaxes(px, -3, -2)  # [..., Hb, 8, Wb, 8]
    return px.reshape(*lead, hb * 8, wb * 8)
