"""Colour operations on DCT batches: brightness, contrast, saturation, hue, grayscale and
invert as a per-sample scale and shift of the masked channels, on the batch's device
(exact before clipping): what :mod:`freqload.loading.jitter`'s ColorJitter and
RandomGrayscale apply. The automatic policies' ops (TrivialAugmentWide, RandAugment:
sharpness, posterize, solarize, autocontrast, equalize, the geometric ones) run in the
core on each sample instead (``Recipe(augment=...)``, ``freqload/_native/core/fl_ops.c``).

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


def _per_sample(f, n: int) -> np.ndarray:
    """float or [B] (array, tensor, bools) -> float64 [B]."""
    if isinstance(f, torch.Tensor):
        f = f.detach().cpu().numpy()
    t = np.asarray(f, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(n, float(t))
    if t.shape != (n,):
        raise ValueError(f"a factor per sample: a float or [{n}], got {tuple(t.shape)}")
    return t


class ColorMap:
    """A per-sample affine map of the (Y, Cb, Cr) coefficients, composed operation by
    operation and applied in one pass: luma ``alpha * v`` (all 64 coefficients) plus
    ``beta`` on its DC, chroma ``M @ (Cb, Cr)`` at every frequency (a 2x2 matrix per
    sample). Every colour operation here is such a map, and so is any sequence of them:
    contrast's shift uses the sample's mean luma DC *at that point*, ``alpha * mu + beta``
    with ``mu`` the input's, so the composition is exact too.

    Args:
        x: the batch the map will apply to (its luma DC mean is read when the mask has
            it; contrast needs it).
        mask: the batch's channels.
    """

    def __init__(self, x: torch.Tensor, mask):
        self.layout = _channels(mask, x)
        n = x.shape[0]
        self.n = n
        self.alpha = np.ones(n)
        self.beta = np.zeros(n)
        self.m = np.tile(np.eye(2), (n, 1, 1))
        y_dc = self.layout[2]
        self.mu = None if y_dc is None else \
            x[:, y_dc].mean(dim=(-2, -1)).detach().cpu().double().numpy()

    def brightness(self, f) -> ColorMap:
        f = _per_sample(f, self.n)
        self.alpha, self.beta = f * self.alpha, f * self.beta + 1024.0 * (f - 1)
        self.m = f[:, None, None] * self.m
        return self

    def contrast(self, f) -> ColorMap:
        if self.mu is None:
            raise ValueError("contrast needs the luma DC channel (0) in the mask: the "
                             "sample's mean grey comes from it")
        f = _per_sample(f, self.n)
        mean_dc = self.alpha * self.mu + self.beta  # 8 x (mean Y - 128), after the map so far
        self.alpha, self.beta = f * self.alpha, f * self.beta + (1 - f) * mean_dc
        self.m = f[:, None, None] * self.m
        return self

    def saturation(self, f) -> ColorMap:
        self.m = _per_sample(f, self.n)[:, None, None] * self.m
        return self

    def grayscale(self, apply=True) -> ColorMap:
        keep = 1.0 - _per_sample(apply, self.n)
        self.m = keep[:, None, None] * self.m
        return self

    def invert(self, apply=True) -> ColorMap:
        s = 1.0 - 2.0 * _per_sample(apply, self.n)
        self.alpha, self.beta = s * self.alpha, s * self.beta + DC_PER_LEVEL * (s - 1) / 2
        self.m = s[:, None, None] * self.m
        return self

    def hue(self, h) -> ColorMap:
        if self.layout[4]:
            raise ValueError("hue needs Cb and Cr of the same frequencies: the mask holds "
                             f"chroma channels without their partner ({len(self.layout[4])} "
                             "of them)")
        t = 2 * math.pi * _per_sample(h, self.n)
        c, s = np.cos(t), np.sin(t)
        rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # [B, 2, 2]
        self.m = rot @ self.m
        return self

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The composed map on x (a new tensor)."""
        comp, _, y_dc, pairs, lone = self.layout
        dev, dt = x.device, x.dtype

        def t(a):
            return torch.as_tensor(a, dtype=dt, device=dev)

        m = self.m
        rotates = bool((m[:, 0, 1] != 0).any() or (m[:, 1, 0] != 0).any()
                       or (m[:, 0, 0] != m[:, 1, 1]).any())
        # one pass where chroma is only scaled: a scale per sample and channel
        scale = np.where(comp[None, :] == 0, self.alpha[:, None], m[:, 0, 0][:, None])
        out = x * t(scale)[:, :, None, None]
        if y_dc is not None:
            out[:, y_dc] += t(self.beta).view(-1, 1, 1)
        if rotates:  # hue: every (Cb, Cr) pair through its 2x2 matrix
            cb = torch.tensor([p[0] for p in pairs], device=dev)
            cr = torch.tensor([p[1] for p in pairs], device=dev)
            mt = t(m)
            u, v = x[:, cb], x[:, cr]
            out[:, cb] = mt[:, 0, 0].view(-1, 1, 1, 1) * u + mt[:, 0, 1].view(-1, 1, 1, 1) * v
            out[:, cr] = mt[:, 1, 0].view(-1, 1, 1, 1) * u + mt[:, 1, 1].view(-1, 1, 1, 1) * v
        return out


def brightness(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """torchvision ``adjust_brightness(rgb, f)``: ``f * rgb``."""
    return ColorMap(x, mask).brightness(factor).apply(x)


def contrast(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """torchvision ``adjust_contrast(rgb, f)``: ``f * rgb + (1 - f) * m``, m the sample's
    mean grey (here its mean Y, from the luma DC channel)."""
    return ColorMap(x, mask).contrast(factor).apply(x)


def saturation(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """torchvision ``adjust_saturation(rgb, f)``: ``f * rgb + (1 - f) * grey``."""
    return ColorMap(x, mask).saturation(factor).apply(x)


def grayscale(x: torch.Tensor, mask, apply=True) -> torch.Tensor:
    """torchvision ``rgb_to_grayscale(rgb, 3)``: the grey in all three channels (chroma
    zero). ``apply``: a bool or bool [B], the samples to turn grey."""
    return ColorMap(x, mask).grayscale(apply).apply(x)


def invert(x: torch.Tensor, mask, apply=True) -> torch.Tensor:
    """torchvision ``invert(rgb)``: ``255 - rgb``. ``apply``: a bool or bool [B]."""
    return ColorMap(x, mask).invert(apply).apply(x)


def hue(x: torch.Tensor, mask, factor) -> torch.Tensor:
    """YCbCr hue: (Cb, Cr) of every frequency rotated by ``2 * pi * factor`` (factor in
    [-0.5, 0.5], torchvision's range; not torchvision's HSV hue, see the module)."""
    return ColorMap(x, mask).hue(factor).apply(x)




__all__ = ["ColorMap", "brightness", "contrast", "grayscale", "hue", "invert", "saturation"]
