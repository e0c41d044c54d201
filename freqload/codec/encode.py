"""Coefficients -> JPEG bytes, and coefficients split by a mask.

:func:`write_jpeg` writes a baseline JPEG (optimised Huffman tables) holding given
coefficients exactly, with the source's size, sampling and quant tables: libjpeg's
transcoder, no DCT and no quantisation. :func:`split_coefficients` divides an image's
coefficients into a mask's bands and the rest (``freqload pack`` writes the first, and
with ``--residual`` the second).
"""
from __future__ import annotations

import numpy as np

from .._core import write_jpeg as native_write_jpeg
from .coefficients import Coefficients, core_arrays
from .mask import ChannelMask, as_mask


def _keep_tables(mask: ChannelMask, num_components: int) -> list[np.ndarray]:
    keep = [np.zeros(64, dtype=bool) for _ in range(num_components)]
    for k in mask.indices:
        if k // 64 < num_components:
            keep[k // 64][k % 64] = True
    return keep


def split_coefficients(coeffs: Coefficients, mask) -> tuple[list, list]:
    """(kept, residual): per component int16 [bh, bw, 64] arrays, the mask's bands and
    the rest (each zero where the other is not), summing to the original."""
    m = as_mask(mask)
    arrays, _, _ = core_arrays(coeffs)
    keep = _keep_tables(m, len(arrays))
    kept = [np.where(k, a, 0).astype(np.int16) for a, k in zip(arrays, keep)]
    rest = [np.where(k, 0, a).astype(np.int16) for a, k in zip(arrays, keep)]
    return kept, rest


def write_jpeg(coeffs: Coefficients, components=None, *, row_restarts: bool = False) -> bytes:
    """A baseline JPEG (optimised Huffman tables) holding ``components`` (default: the
    coefficients' own) with coeffs' size, sampling and quant tables.

    row_restarts: restart intervals of ceil(MCUs per row / 16) MCUs, and freqload's APP15
    segment saying so (version 2; ``freqload pack`` writes its files so): a loader with
    ``partial_decode`` starts decoding such a file at the restart marker above the first
    row a sample reads, and passes over the intervals left and right of the columns it
    reads. Any JPEG decoder reads the file as before."""
    arrays, sampling, quant = core_arrays(coeffs)
    if components is not None:
        arrays = [np.ascontiguousarray(a, dtype=np.int16) for a in components]
    return native_write_jpeg(arrays, sampling, quant, coeffs.info.width, coeffs.info.height,
                             row_restarts)


__all__ = ["write_jpeg", "split_coefficients"]
