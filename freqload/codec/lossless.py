"""Lossless operations on coefficients, as jpegtran does them (no pixel is touched).

* :func:`hflip` - mirror the block columns and negate the odd horizontal frequencies;
  the width is first trimmed to whole MCUs, so the result equals
  ``jpegtran -flip horizontal -trim``.
* :func:`orient` - the picture turned upright by its EXIF orientation (or any of the
  eight): ``jpegtran -copy none -trim`` with the orientation's transform.
* :func:`crop` - MCU-aligned crops, equal to ``jpegtran -crop WxH+X+Y``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .._core import orient as native_orient
from .coefficients import Coefficients, ComponentInfo, core_arrays


def _mcu(coeffs: Coefficients) -> tuple[int, int]:
    info = coeffs.info
    return 8 * info.max_v_samp, 8 * info.max_h_samp


def _with_components(coeffs: Coefficients, comps, width: int, height: int) -> Coefficients:
    info = coeffs.info
    new_info = []
    for ci, a in zip(info.components, comps):
        bh, bw = a.shape[:2]
        new_info.append(ComponentInfo(ci.id, ci.h_samp, ci.v_samp, ci.quant_index, bh, bw,
                                      -(-bh // ci.v_samp) * ci.v_samp,
                                      -(-bw // ci.h_samp) * ci.h_samp))
    info = dataclasses.replace(info, width=width, height=height,
                               components=tuple(new_info) + tuple(info.components[len(comps):]))
    return Coefficients(comps, coeffs.quant_tables, info, coeffs.warnings, coeffs.warning,
                        coeffs.from_pixels)


def _component_blocks(coeffs: Coefficients, c: int, pixels: int, axis: int) -> int:
    """Blocks of component c covering `pixels` image pixels along axis (0: rows, 1: cols)."""
    ci, info = coeffs.info.components[c], coeffs.info
    samp, max_samp = (ci.v_samp, info.max_v_samp) if axis == 0 else (ci.h_samp, info.max_h_samp)
    return -(-(-(-pixels * samp // max_samp)) // 8)


def hflip(coeffs: Coefficients) -> Coefficients:
    """Horizontal flip in the DCT domain, exactly ``jpegtran -flip horizontal -trim``.

    The width is trimmed to whole MCUs (8 x max h-sampling pixels), then each
    component's block columns are mirrored and its odd horizontal frequencies
    (raster index ``8*row + col`` with odd ``col``) negated.

    Returns:
        new :class:`Coefficients`, ``[blocks_h, trimmed blocks_w, 64]`` per component.
    Raises:
        ValueError: the image is narrower than one MCU.
    """
    mcu_w = _mcu(coeffs)[1]
    if coeffs.info.width < mcu_w:
        raise ValueError(f"hflip: the image ({coeffs.info.width} px) is narrower than one MCU "
                         f"({mcu_w} px)")
    return orient(coeffs, 2)  # the core's fl_orient_fill: mirror, trimmed as -trim


#: jpegtran's options for each EXIF orientation (what :func:`orient` equals, with -trim)
JPEGTRAN_ORIENT = {2: ["-flip", "horizontal"], 3: ["-rotate", "180"], 4: ["-flip", "vertical"],
                   5: ["-transpose"], 6: ["-rotate", "90"], 7: ["-transverse"],
                   8: ["-rotate", "270"]}


def orient(coeffs: Coefficients, orientation: int | None = None) -> Coefficients:
    """The picture turned upright, in the DCT domain, losslessly: exactly ``jpegtran
    -copy none -trim`` with the orientation's transform (:data:`JPEGTRAN_ORIENT`: 2
    ``-flip horizontal``, 3 ``-rotate 180``, 4 ``-flip vertical``, 5 ``-transpose``, 6
    ``-rotate 90``, 7 ``-transverse``, 8 ``-rotate 270``).

    Mirrors reverse the block columns or rows and negate the odd horizontal or vertical
    frequencies; a transpose swaps the block grid's axes, each block's frequencies, the
    sampling factors and the quant tables. A mirrored axis is trimmed to whole MCUs first
    (as ``-trim``), so chroma stays aligned; one smaller than an MCU keeps its one padded
    MCU (jpegtran leaves such an edge untransformed). The core's ``fl_orient_fill``, the
    function the loaders' ``orientation="exif"`` runs for ``transform="blocks"``.

    Args:
        orientation: the EXIF orientation 1..8; default: the file's own
            (``coeffs.info.orientation``).
    Returns:
        new :class:`Coefficients` with ``info.orientation`` 1 (the same object for 1):
        e.g. a 500x375 4:2:2 picture with orientation 6 becomes 375x496 (the mirrored
        height trimmed to whole MCUs, then transposed) with 1x2 sampling: components
        [62, 47, 64], [31, 47, 64], [31, 47, 64].
    """
    o = coeffs.info.orientation if orientation is None else int(orientation)
    if not 1 <= o <= 8:
        raise ValueError(f"orientation must be 1..8, got {orientation!r}")
    if o == 1:
        return coeffs
    arrays, sampling, quant = core_arrays(coeffs)
    info = coeffs.info
    width, height, plan, _ = native_orient(arrays, sampling, quant, info.width, info.height, o)
    outs = [np.empty((ah, aw, 64), dtype=np.int16) for *_, ah, aw in plan]  # shapes, then fill
    *_, tables = native_orient(arrays, sampling, quant, info.width, info.height, o, outs)
    comps, new_info, quants = [], [], []
    for c, ((hs, vs, bh, bw, ah, aw), out, q) in enumerate(zip(plan, outs, tables)):
        comps.append(out[:bh, :bw])
        quants.append(np.frombuffer(q, dtype=np.uint16).copy())
        qi = c if o >= 5 else info.components[c].quant_index  # a transpose makes new tables
        new_info.append(ComponentInfo(info.components[c].id, hs, vs, qi, bh, bw, ah, aw))
    transposed = o >= 5
    new = dataclasses.replace(
        info, width=width, height=height, components=tuple(new_info),
        max_h_samp=info.max_v_samp if transposed else info.max_h_samp,
        max_v_samp=info.max_h_samp if transposed else info.max_v_samp,
        quant_tables=tuple(quants), orientation=1)
    return Coefficients(comps, quants, new, coeffs.warnings, coeffs.warning,
                        coeffs.from_pixels)


def crop(coeffs: Coefficients, top: int, left: int, height: int, width: int) -> Coefficients:
    """Lossless crop, exactly ``jpegtran -crop {width}x{height}+{left}+{top}``.

    Args:
        top, left: pixel offsets, multiples of the MCU size (8 x max sampling:
            16 for 4:2:0, 8 for 4:4:4 and greyscale).
        height, width: pixels, >= 1, inside the image; the right and bottom
            edges need not be aligned (the last blocks are kept whole).
    Returns:
        new :class:`Coefficients` of a ``width x height`` image.
    Raises:
        ValueError: an offset not MCU-aligned, or the region outside the image.
    """
    mcu_h, mcu_w = _mcu(coeffs)
    top, left, height, width = int(top), int(left), int(height), int(width)
    if top % mcu_h or left % mcu_w:
        raise ValueError(f"crop: top and left must be multiples of the MCU size "
                         f"({mcu_h}x{mcu_w} pixels for {coeffs.info.sampling}), got "
                         f"top={top}, left={left}")
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > coeffs.info.height \
            or left + width > coeffs.info.width:
        raise ValueError(f"crop: region {width}x{height}+{left}+{top} is not inside the "
                         f"{coeffs.info.width}x{coeffs.info.height} image")
    out = []
    for c, a in enumerate(coeffs.components):
        y0 = _component_blocks(coeffs, c, top, 0)
        x0 = _component_blocks(coeffs, c, left, 1)
        bh = _component_blocks(coeffs, c, height, 0)
        bw = _component_blocks(coeffs, c, width, 1)
        out.append(a[y0:y0 + bh, x0:x0 + bw].copy())
    return _with_components(coeffs, out, width, height)


__all__ = ["hflip", "crop", "orient", "JPEGTRAN_ORIENT"]
