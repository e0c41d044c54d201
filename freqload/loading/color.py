"""Colour operations on DCT batches: brightness, contrast, saturation, hue, grayscale and
invert as a per-sample scale and shift of the masked channels, on the batch's device.

Each is defined by its pixel-domain counterpart in torchvision.transforms.v2.functional
(``adjust_brightness``, ``adjust_contrast``, ``adjust_saturation``, ``rgb_to_grayscale``
with three output channels, ``invert``; float images on the 0..255 scale) and is exact
*before clipping*: those operations are affine in RGB with a grey axis, JPEG's YCbCr is
an affine map of RGB (JFIF, full range), and the 8x8 DCT is linear, so each becomes, per
component, a scale of all 64 coefficients plus, for luma, a shift of the DC coefficient
(which is 8 x the block's mean of ``Y - 128``). With ``Y = 0.299 R + 0.587 G + 0.114 B``
and ``Cb, Cr`` zero on grey:

====================  =========================  ==================================  ==============
operation (factor f)  pixels                     luma Y (all 64 coefficients)        chroma Cb, Cr
====================  =========================  ==================================  ==============
brightness            ``f * rgb``                ``f*v``; DC ``+ 1024 (f-1)``        ``f*v``
contrast              ``f*rgb + (1-f)*mean(g)``  ``f*v``; DC ``+ 8 (1-f)(m-128)``    ``f*v``
saturation            ``f*rgb + (1-f)*g``        unchanged                           ``f*v``
grayscale             ``g`` in all three         unchanged                           ``0``
invert                ``255 - rgb``              ``-v``; DC ``- 8``                  ``-v``
hue (YCbCr, h)        (Cb, Cr) by 2*pi*h         unchanged                           rotated pairs
====================  =========================  ==================================  ==============

What is not exact, and why:

- Clipping: torchvision clamps every result to 0..255; the coefficients cannot be clamped
  without decoding, so a pixel pushed past the range stays past it here (``freqload show``
  and the tests measure what that changes on real photos).
- The grey ``g``: torchvision weighs ``0.2989 R + 0.587 G + 0.114 B``, JPEG's luma
  ``0.299 R``; here ``g`` is JPEG's Y (contrast's ``m`` the mean of the sample's Y), a
  difference of at most 0.0001 x R, 0.026 grey levels.
- Hue: torchvision's ``adjust_hue`` turns the HSV hue, which is not linear in RGB; here
  hue is the rotation of the (Cb, Cr) plane by ``2 * pi * h`` (exact for that definition,
  YCbCr hue); the tests measure its distance from torchvision's.

x is float ``[B, C, H, W]`` of dequantised channels before normalisation (the loader's
``normalize=None``), C the mask's channels in its order. Factors are floats or ``[B]``
tensors (one per sample). Contrast needs the luma DC channel in the mask (dctnet24 has
it), hue needs Cb and Cr of every chroma frequency the mask holds; each says so if not.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ..codec.mask import as_mask

#: luma DC shift per unit of a grey-level offset: DC = 8 x the block's mean
DC_PER_LEVEL = 8.0


@lru_cache(maxsize=64)
def _layout(channels: tuple[int, ...]):
    comp = np.array([c // 64 for c in channels])
    coef = np.array([c % 64 for c in channels])
    y_dc = [k for k, c in enumerate(channels) if c == 0]
    where = {c: k for k, c in enumerate(channels)}
    pairs = [(where[64 + f], where[128 + f]) for f in range(64)
             if 64 + f in where and 128 + f in where]
    lone = sorted(set(np.nonzero(comp > 0)[0].tolist()) - {k for p in pairs for k in p})
    return comp, coef, (y_dc[0] if y_dc else None), pairs, lone


def _channels(mask, x: torch.Tensor) -> tuple:
    m = as_mask(mask)
    channels = tuple(int(c) for c in m.indices)
    if x.dim() != 4 or x.shape[1] != len(channels):
        raise ValueError(f"x: [B, {len(channels)}, H, W] for this mask, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError("colour operations take float dequantised channels (the loader's "
                         "normalize=None), not int16")
    return _layout(channels)


def _per_sample(f, x: torch.Tensor) -> torch.Tensor:
    """float or [B] -> [B, 1, 1, 1] on x's device and dtype."""
    t = torch.as_tensor(f, dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"a factor per sample: a float or [{x.shape[0]}], got {tuple(t.shape)}")
    return t.view(-1, 1, 1, 1)


def _scaled(x, luma, chroma, dc_shift, layout) -> torch.Tensor:
    comp, _, y_dc, _, _ = layout
    is_luma = torch.as_tensor(comp == 0, device=x.device).view(1, -1, 1, 1)
    out = x * torch.where(is_luma, luma, chroma)
    if y_dc is not None and dc_shift is not None:
        out[:, y_dc] += dc_shift.view(-1, 1, 1)
    return out


def brightness(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """torchvision ``adjust_brightness(rgb, f)``: ``f * rgb``."""
    lay = _channels(mask, x)
    f = _per_sample(factor, x)
    return _scaled(x, f, f, (1024.0 * (f - 1)).view(-1), lay)


def contrast(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """torchvision ``adjust_contrast(rgb, f)``: ``f * rgb + (1 - f) * m``, m the sample's
    mean grey (here its mean Y, from the luma DC channel)."""
    lay = _channels(mask, x)
    if lay[2] is None:
        raise ValueError("contrast needs the luma DC channel (0) in the mask: the sample's "
                         "mean grey comes from it")
    f = _per_sample(factor, x)
    m_minus_128 = x[:, lay[2]].mean(dim=(-2, -1)) / DC_PER_LEVEL  # [B]
    return _scaled(x, f, f, DC_PER_LEVEL * (1 - f.view(-1)) * m_minus_128, lay)


def saturation(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """torchvision ``adjust_saturation(rgb, f)``: ``f * rgb + (1 - f) * grey``."""
    lay = _channels(mask, x)
    f = _per_sample(factor, x)
    return _scaled(x, torch.ones_like(f), f, None, lay)


def grayscale(x: torch.Tensor, mask, apply=True) -> torch.Tensor:
    """torchvision ``rgb_to_grayscale(rgb, 3)``: the grey in all three channels (chroma
    zero). ``apply``: a bool or bool [B], the samples to turn grey."""
    lay = _channels(mask, x)
    keep = 1.0 - _per_sample(torch.as_tensor(apply, dtype=x.dtype), x)
    return _scaled(x, torch.ones_like(keep), keep, None, lay)


def invert(x: torch.Tensor, mask, apply=True) -> torch.Tensor:
    """torchvision ``invert(rgb)``: ``255 - rgb``. ``apply``: a bool or bool [B]."""
    lay = _channels(mask, x)
    s = 1.0 - 2.0 * _per_sample(torch.as_tensor(apply, dtype=x.dtype), x)  # -1 where applied
    return _scaled(x, s, s, (DC_PER_LEVEL * (s.view(-1) - 1) / 2), lay)


def hue(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """YCbCr hue: (Cb, Cr) of every frequency rotated by ``2 * pi * factor`` (factor in
    [-0.5, 0.5], torchvision's range; not torchvision's HSV hue, see the module)."""
    lay = _channels(mask, x)
    _, _, _, pairs, lone = lay
    if lone:
        raise ValueError("hue needs Cb and Cr of the same frequencies: the mask holds "
                         f"chroma channels without their partner ({len(lone)} of them)")
    theta = 2 * math.pi * _per_sample(factor, x)
    c, s = torch.cos(theta), torch.sin(theta)
    out = x.clone()
    if pairs:
        cb = torch.tensor([p[0] for p in pairs], device=x.device)
        cr = torch.tensor([p[1] for p in pairs], device=x.device)
        u, v = x[:, cb], x[:, cr]
        out[:, cb] = c * u - s * v
        out[:, cr] = s * u + c * v
    return out


__all__ = ["brightness", "contrast", "grayscale", "hue", "invert", "saturation"]
