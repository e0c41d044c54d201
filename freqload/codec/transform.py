"""The transform a sample goes through, and the boxes it draws.

:class:`Transform` says how a sample's output grid is taken from an image: ``"train"``
(RandomResizedCrop + a horizontal flip), ``"eval"`` (resize the shorter side, centre crop)
or ``"blocks"`` (block-aligned centre crop or zero padding, no resampling). The resampling
itself is :mod:`freqload.codec.resample`; the lossless flips and crops are
:mod:`freqload.codec.lossless`.

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

import numpy as np

from .._core import MAX_GRID, TRANSFORM_BLOCKS, TRANSFORM_EVAL, TRANSFORM_TRAIN, check_transform
from .._core import eval_box as native_eval_box
from .._core import random_resized_crop as native_random_resized_crop

#: transform names -> the core's fl_transform_kind
KINDS = {"blocks": TRANSFORM_BLOCKS, "eval": TRANSFORM_EVAL,
         "train": TRANSFORM_TRAIN}

Box = tuple[float, float, float, float]  # (top, left, height, width) in image pixels


@dataclasses.dataclass(frozen=True)
class Transform:
    """How a sample's output grid is taken from an image.

    kind: "train" (RandomResizedCrop + flip), "eval" (resize shorter side +
    centre crop) or "blocks" (block-aligned centre crop / zero padding, no
    resampling: exact integers, the only kind ``regroup="device"`` supports).
    """
    kind: str = "eval"
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
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
        check_transform(values)  # the value rules live in the core (fl_transform_check)

    def native(self) -> tuple:
        """The core's fl_transform as a tuple of doubles, as given: the packed recipe
        (freqload.codec.recipe) carries them bit for bit to both engines, so they draw identical
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
    top, left, h, w, f = native_random_resized_crop(int(key) & (2**64 - 1), int(height),
                                                   int(width), t.native())
    return (top, left, h, w), bool(f)


def eval_box(height: int, width: int, size=(56, 56), crop_ratio: float = 0.875) -> Box:
    """The eval transform's box: (top, left, h, w) in pixels (fractional), for an
    output of ``size`` blocks. E.g. 500x375 (w x h), size 56 -> a centred 328.125-pixel
    square (448 = 0.875 * 512, the shorter side 375 resized to 512)."""
    oh, ow = check_size(size)
    return native_eval_box(int(height), int(width), oh, ow, float(crop_ratio))


def check_size(size) -> tuple[int, int]:
    """(out_h, out_w) in blocks from an int or a pair; ValueError otherwise."""
    if isinstance(size, (int, np.integer)):
        size = (size, size)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (out_h, out_w) in 8x8 blocks, got {size!r}") from None
    if h < 1 or w < 1 or h > MAX_GRID or w > MAX_GRID:
        raise ValueError(f"size must be between 1 and {MAX_GRID} blocks per side, got "
                         f"{size!r}")
    return h, w


__all__ = ["Transform", "KINDS", "Box", "sample_keys", "random_resized_crop", "eval_box",
           "check_size"]
