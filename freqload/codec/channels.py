"""Coefficients -> the (H/8, W/8, 192) grid of the paper, channels first, masked.

The work is done by the native core (``fl_channels.c``); this module checks
arguments and allocates the output. Channel ``k`` of the full grid is
``component * 64 + 8 * row + col`` (Y, Cb, Cr; raster order in the block);
with a mask, output channel ``i`` is grid channel ``mask.indices[i]``.

Chroma alignment, for a chroma component sampled more coarsely than luma:

==============  ===========================================================
``chroma=``     luma block (y, x) gets
==============  ===========================================================
``"dct"``       the 8x8 DCT of the chroma plane upsampled to luma resolution
                with linear interpolation between sample centres (libjpeg's
                "fancy" 3/4-1/4 triangle filter for 2x), edges replicated;
                computed exactly in the DCT domain, rounded to int16
``"nearest"``   the coefficients of the chroma block that covers it, as they
                are (block replication: cheap, but a 2x2 chroma block's
                frequencies are those of a 16x16 pixel area)
==============  ===========================================================

Greyscale files give zero chroma channels (neutral grey after dequantisation).
"""
from __future__ import annotations

import numpy as np

from .._core import to_channels as native_to_channels
from .coefficients import core_arrays
from .lossless import orient
from .read import check_orientation
from .recipe import recipe_for


def to_channels(coeffs, mask=None, *, dequantize: bool = True, chroma: str = "dct",
                size: tuple[int, int] | None = None, orientation: str = "ignore") -> np.ndarray:
    """Regroup a JPEG's coefficients into channels on the luma block grid.

    Args:
        coeffs: :class:`~freqload.Coefficients` (from ``read_coefficients``).
        mask: a :class:`~freqload.ChannelMask`, a preset name ("dctnet24", ...),
            a mask JSON path, or an index list; None = all 192 channels.
            Only the selected channels are computed and written.
        dequantize: multiply by the quant tables (True), or keep quantised
            values (False; upsampled chroma is then divided back by its table
            and rounded).
        chroma: "dct" (exact DCT-domain upsampling) or "nearest" (block
            replication); see the module docstring.
        size: None for the whole grid, or (out_h, out_w) in blocks: a centre
            crop (offsets rounded down to whole MCUs, so chroma blocks stay
            whole; the components are cropped before chroma is aligned, as
            ``jpegtran -crop`` would) or a centred zero padding, per axis.
            This is what ``DCTLoader`` does to every image.
        orientation: "ignore" (default: the coefficients as stored, exact access) or
            "exif": of the picture turned upright by ``coeffs.info.orientation``
            (:func:`freqload.orient`, lossless; what ``DCTLoader(transform="blocks")``
            gives by default).

    Returns:
        int16 ``[C, H8, W8]``: C = ``len(mask)`` (192 without one), H8 x W8 =
        the luma block grid (or ``size``). E.g. a 448x448 4:2:0 JPEG with the
        dctnet24 mask -> int16 [24, 56, 56]; a 500x375 one with size=(56, 56)
        -> rows 0..46 image, 47..55 zero; columns 3..58 of its 63. Values
        saturate at the int16 range.

    Raises:
        ValueError: bad ``chroma`` or coefficient arrays.
        UnsupportedImageError: chroma sampled more finely than luma, or by a
            non-integer factor.
    """
    check_orientation(orientation)
    if orientation == "exif":
        coeffs = orient(coeffs)
    # size None: the whole grid (the recipe's size is then not used)
    r = recipe_for(mask, (1, 1) if size is None else size, chroma, dequantize)
    arrays, sampling, quant = core_arrays(coeffs)
    out_h, out_w = arrays[0].shape[:2] if size is None else r.grid
    out = np.empty((r.channels, out_h, out_w), dtype=np.int16)
    native_to_channels(arrays, sampling, quant, r.packed, out, size is not None)
    return out


__all__ = ["to_channels"]
