"""ColorJitter and RandomGrayscale on DCT batches, per sample, drawn from the sample's key.

The parameters follow torchvision.transforms.v2.ColorJitter (``_get_params``: the four
operations in a random order, ``torch.randperm(4)``, each factor uniform in its range;
``brightness=b`` means ``[max(0, 1 - b), 1 + b]``, likewise contrast and saturation;
``hue=h`` means ``[-h, h]``, ``0 <= h <= 0.5``) and RandomGrayscale (grey with
probability ``p``), but come from each sample's key (:func:`freqload.sample_keys`) on the
core's stream with a seed of their own (``fl_key_uniforms``), so every engine, worker and
rank draws the same, and the RGB baseline can take the same parameters. The operations
are :mod:`freqload.loading.color`'s: exact before clipping, hue as the YCbCr rotation.
The order is kept sample by sample: the four operations are composed into one per-sample
affine map of the coefficients (:class:`freqload.loading.color.ColorMap`), stage by
stage, each sample taking the operation whose turn it is, and applied in one pass.
"""
from __future__ import annotations

import numpy as np
import torch

from .._core import key_uniforms
from . import color

#: the streams (constants mixed into the key) of these draws
JITTER_STREAM = 0x5851F42D4C957F2D
GRAYSCALE_STREAM = 0x2545F4914F6CDD1D
#: torchvision's operation order indices: fn_idx values
OPS = ("brightness", "contrast", "saturation", "hue")


def _uniforms(keys, stream: int, k: int) -> np.ndarray:
    keys = np.ascontiguousarray(keys, dtype=np.uint64).reshape(-1)
    out = np.empty((len(keys), k), dtype=np.float64)
    key_uniforms(keys, stream, out)
    return out


def _range(value, name: str, centre: float, bound: tuple[float, float]):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        lo, hi = (centre - value, centre + value) if centre else (-value, value)
        lo = max(lo, bound[0])
    else:
        lo, hi = (float(v) for v in value)
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"{name}: a range within {bound}, got ({lo}, {hi})")
    return None if lo == hi == centre else (float(lo), float(hi))


class ColorJitter:
    """ColorJitter(brightness=None, contrast=None, saturation=None, hue=None), as
    torchvision's, on float dequantised DCT batches ``[B, C, H, W]`` of a mask."""

    def __init__(self, brightness=None, contrast=None, saturation=None, hue=None):
        inf = float("inf")
        self.ranges = {"brightness": _range(brightness, "brightness", 1.0, (0.0, inf)),
                       "contrast": _range(contrast, "contrast", 1.0, (0.0, inf)),
                       "saturation": _range(saturation, "saturation", 1.0, (0.0, inf)),
                       "hue": _range(hue, "hue", 0.0, (-0.5, 0.5))}

    def params(self, keys) -> tuple[np.ndarray, np.ndarray]:
        """Each key's order (int64 ``[n, 4]``: indices into :data:`OPS`, torchvision's
        ``fn_idx``) and factors (float64 ``[n, 4]`` in :data:`OPS` order; the identity, 1
        or 0 for hue, where an operation is off)."""
        u = _uniforms(keys, JITTER_STREAM, 8)
        order = np.argsort(u[:, :4], axis=1, kind="stable")  # a uniform permutation
        factors = np.empty((len(u), 4))
        for k, name in enumerate(OPS):
            r = self.ranges[name]
            factors[:, k] = (0.0 if name == "hue" else 1.0) if r is None else \
                r[0] + (r[1] - r[0]) * u[:, 4 + k]
        return order, factors

    def __call__(self, x: torch.Tensor, mask, keys) -> torch.Tensor:
        order, factors = self.params(keys)
        if len(order) != x.shape[0]:
            raise ValueError(f"one key per sample: {len(order)} keys for a batch of "
                             f"{x.shape[0]}")
        cmap = color.ColorMap(x, mask)
        for stage in range(4):  # each sample's op of this stage; identities for the others
            for k, name in enumerate(OPS):
                if self.ranges[name] is not None:
                    identity = 0.0 if name == "hue" else 1.0
                    getattr(cmap, name)(np.where(order[:, stage] == k, factors[:, k], identity))
        return cmap.apply(x)  # one pass: the composed per-sample map

    def __repr__(self) -> str:
        return "ColorJitter(" + ", ".join(f"{k}={v}" for k, v in self.ranges.items()) + ")"


class RandomGrayscale:
    """RandomGrayscale(p=0.1), as torchvision's: each sample grey with probability p."""

    def __init__(self, p: float = 0.1):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def chosen(self, keys) -> np.ndarray:
        """bool [n]: the keys' samples turned grey."""
        return _uniforms(keys, GRAYSCALE_STREAM, 1)[:, 0] < self.p

    def __call__(self, x: torch.Tensor, mask, keys) -> torch.Tensor:
        grey = torch.from_numpy(self.chosen(keys)).to(x.device)
        return color.grayscale(x, mask, grey)

    def __repr__(self) -> str:
        return f"RandomGrayscale(p={self.p})"


__all__ = ["ColorJitter", "RandomGrayscale"]
