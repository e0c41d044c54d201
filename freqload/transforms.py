"""Augmentation in the DCT domain: flip, crop, and resize without decoding to pixels.

Exact operations on :class:`~freqload.Coefficients` (lossless, like jpegtran):

* :func:`hflip` - mirror the block columns and negate the odd horizontal
  frequencies; the width is first trimmed to whole MCUs, so the result equals
  ``jpegtran -flip horizontal -trim``.
* :func:`crop` - MCU-aligned crops, equal to ``jpegtran -crop WxH+X+Y``.

Resampling (what the loader's train and eval transforms run, in the native core):

* :func:`resize_crop` - the dequantised coefficients of any pixel box resized
  onto a block grid. Definition: each component's plane (at its own
  resolution) is resized from the box (scaled into the component's
  coordinates) to ``size*8`` pixels with Pillow's BILINEAR filter (triangle
  filter, widened by the reduction factor when downscaling, taps clipped to
  the plane and renormalised), then every 8x8 block is DCT-transformed
  (orthonormal, JPEG's). The core computes this as one banded matrix per axis
  acting on the coefficients (no inverse DCT, no frequency dropped), so it
  matches the pixel-domain reference to float rounding (the tests measure
  > 80 dB PSNR against Pillow on the shared photos). Chroma thereby comes out
  at full resolution: no separate chroma alignment.

Boxes:

* :func:`random_resized_crop` - torchvision's RandomResizedCrop sampling
  (scale (0.08, 1), ratio (3/4, 4/3), 10 tries then the clamped whole image)
  and a flip with probability 0.5, drawn from a per-sample 64-bit key;
  :func:`sample_keys` derives the keys from (seed, epoch, sample index), so the
  same seed gives the same crops in every engine and process.
* :func:`eval_box` - resize the shorter side to ``max(size)*8/crop_ratio``,
  then the centred ``size*8`` window (torchvision's Resize + CenterCrop, 0.875).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import numpy as np

from . import _core
from .coefficients import Coefficients, ComponentInfo
from .mask import as_mask

#: transform names -> the core's fl_transform_kind
KINDS = {"blocks": _core.TRANSFORM_BLOCKS, "eval": _core.TRANSFORM_EVAL,
         "train": _core.TRANSFORM_TRAIN}

Box = Tuple[float, float, float, float]  # (top, left, height, width) in image pixels


@dataclasses.dataclass(frozen=True)
class Transform:
    """How a sample's output grid is taken from an image.

    kind: "train" (RandomResizedCrop + flip), "eval" (resize shorter side +
    centre crop) or "blocks" (block-aligned centre crop / zero padding, no
    resampling: exact integers, the only kind ``regroup="device"`` supports).
    """
    kind: str = "eval"
    scale: Tuple[float, float] = (0.08, 1.0)
    ratio: Tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    crop_ratio: float = 0.875

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"transform must be one of {sorted(KINDS)}, got {self.kind!r}")
        try:
            values = self.native()
        except (TypeError, ValueError):
            raise ValueError(f"transform {self.kind!r}: scale and ratio must be (min, max) "
                             f"pairs, flip and crop_ratio numbers; got scale={self.scale!r}, "
                             f"ratio={self.ratio!r}, flip={self.flip!r}, "
                             f"crop_ratio={self.crop_ratio!r}") from None
        _core.check_transform(values)  # the value rules live in the core (fl_transform_check)

    def native(self) -> tuple:
        """The core's fl_transform as a tuple of doubles, as given: the packed recipe
        (freqload.recipe) carries them bit for bit to both engines, so they draw identical
        boxes without rounding anything on the way."""
        (s0, s1), (r0, r1) = self.scale, self.ratio
        return (KINDS[self.kind], float(s0), float(s1), float(r0), float(r1), float(self.flip),
                float(self.crop_ratio))


_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), \
    np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def sample_keys(seed: int, epoch: int, indices) -> np.ndarray:
    """uint64 [n] random keys of samples ``indices`` in ``epoch`` for ``seed``.

    A pure function (splitmix64 finalisers), so any engine, worker or rank
    derives the same key for the same (seed, epoch, index)."""
    idx = np.asarray(indices, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        base = _mix(np.asarray([int(seed) & (2**64 - 1)], dtype=np.uint64) + _GOLDEN)
        base = _mix(base ^ (np.uint64(int(epoch) & (2**64 - 1)) * _GOLDEN))
        return _mix(base ^ (idx * _M1 + _GOLDEN))


def random_resized_crop(key: int, height: int, width: int, *,
                        scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip: float = 0.5
                        ) -> tuple[Box, bool]:
    """The box and flip the train transform draws for one image.

    Args:
        key: the sample's key (:func:`sample_keys`), 0 <= key < 2**64.
        height, width: the image's size in pixels.
    Returns:
        ((top, left, h, w), flip): the box in whole pixels inside the image.
    """
    t = Transform("train", tuple(scale), tuple(ratio), flip)
    top, left, h, w, f = _core.random_resized_crop(int(key) & (2**64 - 1), int(height),
                                                   int(width), t.native())
    return (top, left, h, w), bool(f)


def eval_box(height: int, width: int, size=(56, 56), crop_ratio: float = 0.875) -> Box:
    """The eval transform's box: (top, left, h, w) in pixels (fractional), for an
    output of ``size`` blocks. E.g. 500x375 (w x h), size 56 -> a centred 328.125-pixel
    square (448 = 0.875 * 512, the shorter side 375 resized to 512)."""
    from .channels import check_size

    oh, ow = check_size(size)
    return _core.eval_box(int(height), int(width), oh, ow, float(crop_ratio))


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
    from .channels import check_size, core_arrays

    oh, ow = check_size(size)
    m = as_mask(mask)
    top, left, h, w = (float(v) for v in box)
    if not (h > 0 and w > 0):
        raise ValueError(f"box height and width must be positive, got {box}")
    arrays, sampling, quant = core_arrays(coeffs)
    comp_idx, coef_idx = m.component_arrays()
    out = np.empty((len(m), oh, ow), dtype=np.float32)
    _core.resize_channels(arrays, sampling, quant, coeffs.info.width, coeffs.info.height,
                          (top, left, h, w), bool(flip), comp_idx, coef_idx, out)
    return out


def sample(coeffs: Coefficients, transform, mask=None, size=(56, 56), key: int = 0,
           *, chroma: str = "dct", dequantize: bool = True,
           out: np.ndarray | None = None) -> np.ndarray:
    """One loader sample from coefficients: the core's ``fl_sample``, what the engines run
    after decoding (the engines' pixel fallback uses it).

    Args:
        transform: a :class:`Transform` (with mask, size, chroma, dequantize), or a whole
            :class:`~freqload.recipe.Recipe` (the other settings are then its own).
        key: the sample's key (:func:`sample_keys`), drawing the train transform's box.
        out: where to write it (int16 ``[C, out_h, out_w]``, C-contiguous), e.g. a batch
            slot; a new array when None.
    Returns:
        int16 ``[C, out_h, out_w]`` (``out`` when given).
    """
    from .channels import core_arrays
    from .recipe import Recipe, recipe_for

    r = transform if isinstance(transform, Recipe) else recipe_for(mask, size, chroma,
                                                                    dequantize, transform)
    arrays, sampling, quant = core_arrays(coeffs)
    if out is None:
        out = np.empty((r.channels, r.out_h, r.out_w), dtype=np.int16)
    _core.sample(arrays, sampling, quant, coeffs.info.width, coeffs.info.height, r.packed,
                 int(key) & (2**64 - 1), out, coeffs.info.orientation)
    return out


# ---- lossless transforms on Coefficients ---------------------------------------

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
    from .channels import core_arrays

    o = coeffs.info.orientation if orientation is None else int(orientation)
    if not 1 <= o <= 8:
        raise ValueError(f"orientation must be 1..8, got {orientation!r}")
    if o == 1:
        return coeffs
    arrays, sampling, quant = core_arrays(coeffs)
    info = coeffs.info
    width, height, plan, _ = _core.orient(arrays, sampling, quant, info.width, info.height, o)
    outs = [np.empty((ah, aw, 64), dtype=np.int16) for *_, ah, aw in plan]  # shapes, then fill
    *_, tables = _core.orient(arrays, sampling, quant, info.width, info.height, o, outs)
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


__all__ = ["Transform", "sample", "sample_keys", "random_resized_crop", "eval_box", "resize_crop",
           "hflip", "crop", "orient", "JPEGTRAN_ORIENT"]
