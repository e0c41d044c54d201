"""Resampling in the DCT domain: what the loader's train and eval transforms run.

* :func:`resize_crop` - the dequantised coefficients of any pixel box resized onto a
  block grid. Definition: each component's plane (at its own resolution) is resized from
  the box (scaled into the component's coordinates) to ``size*8`` pixels with Pillow's
  BILINEAR filter (triangle filter, widened by the reduction factor when downscaling, taps
  clipped to the plane and renormalised), then every 8x8 block is DCT-transformed
  (orthonormal, JPEG's). The core computes this as one banded matrix per axis acting on
  the coefficients (no inverse DCT, no frequency dropped), so it matches the pixel-domain
  reference to float rounding (the tests measure > 80 dB PSNR against Pillow on the shared
  photos). Chroma thereby comes out at full resolution: no separate chroma alignment.
* :func:`sample` - one loader sample from coefficients by a recipe (the core's
  ``fl_sample``, what the engines run after decoding).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._core import resize_channels
from .._core import sample as native_sample
from .coefficients import Coefficients, core_arrays
from .mask import as_mask
from .recipe import Recipe, recipe_for
from .transform import check_size


def resize_crop(coeffs: Coefficients, box: Sequence[float], size=(56, 56), *,
                mask=None, flip: bool = False) -> np.ndarray:
    """The dequantised coefficients of a pixel box, resized onto ``size`` blocks.

    Args:
        coeffs: :class:`~freqload.Coefficients`.
        box: (top, left, height, width) in image pixels; may be fractional. Pillow
            only defines boxes inside the image; past its edges the same clipped,
            renormalised taps apply (the pixel nearest the edge when none is left).
        size: output grid (out_h, out_w) in blocks, or one int; ``size*8``
            pixels per side.
        mask: channels to compute (ChannelMask, preset, list); None = all 192.
        flip: mirror the result horizontally (exact in the DCT domain).
    Returns:
        float32 ``[C, out_h, out_w]``, channel ``component*64 + 8*row + col``
        order of the mask; greyscale images give zero chroma channels.
    """
    oh, ow = check_size(size)
    m = as_mask(mask)
    top, left, h, w = (float(v) for v in box)
    if not (h > 0 and w > 0):
        raise ValueError(f"box height and width must be positive, got {box}")
    arrays, sampling, quant = core_arrays(coeffs)
    comp_idx, coef_idx = m.component_arrays()
    out = np.empty((len(m), oh, ow), dtype=np.float32)
    resize_channels(arrays, sampling, quant, coeffs.info.width, coeffs.info.height,
                          (top, left, h, w), bool(flip), comp_idx, coef_idx, out)
    return out


def sample(coeffs: Coefficients, transform, mask=None, size=(56, 56), key: int = 0,
           *, chroma: str = "dct", dequantize: bool = True,
           out: np.ndarray | None = None) -> np.ndarray:
    """One loader sample from coefficients: the core's ``fl_sample``, what the engines run
    after decoding (the engines' pixel fallback uses it).

    Args:
        transform: a :class:`Transform` (with mask, size, chroma, dequantize), or a whole
            :class:`~freqload.codec.recipe.Recipe` (the other settings are then its own).
        key: the sample's key (:func:`sample_keys`), drawing the train transform's box.
        out: where to write it (int16 ``[C, out_h, out_w]``, C-contiguous), e.g. a batch
            slot; a new array when None.
    Returns:
        int16 ``[C, out_h, out_w]`` (``out`` when given).
    """
    r = transform if isinstance(transform, Recipe) else recipe_for(mask, size, chroma,
                                                                    dequantize, transform)
    arrays, sampling, quant = core_arrays(coeffs)
    if out is None:
        out = np.empty((r.channels, r.out_h, r.out_w), dtype=np.int16)
    native_sample(arrays, sampling, quant, coeffs.info.width, coeffs.info.height, r.packed,
                 int(key) & (2**64 - 1), out, coeffs.info.orientation)
    return out


__all__ = ["resize_crop", "sample"]
