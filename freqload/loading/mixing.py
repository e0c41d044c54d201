"""MixUp and CutMix on a batch, on its device: the batch operations of today's training
recipes, for DCT input (and for pixels alike).

Both follow torchvision.transforms.v2.MixUp / CutMix (torchvision/transforms/v2/
_augment.py, 0.15-0.20): one ``lam ~ Beta(alpha, alpha)`` per batch; the batch is mixed
with itself rolled by one sample (``x.roll(1, 0)``); labels become one-hot of
``num_classes`` and are mixed the same way. Called as ``x, y = mix(x, y)``:

- x: ``[B, C, H, W]`` float (after the loader's post-stage: float32 dequantised, or
  normalised), or int16 for CutMix (it only moves values). For DCT input H, W is the
  block grid (``[B, 24, 56, 56]`` from the default loader).
- y: int64 class indices ``[B]`` (then ``num_classes`` is needed), or soft labels
  ``[B, K]`` from an earlier mix.
- returns x mixed (same shape and dtype) and float32 soft labels ``[B, K]``.

How exact in the DCT domain:

- **MixUp** is a weighted sum of two images. The 8x8 DCT is linear, so mixing the
  coefficients is mixing the pixels, and with ``lam + (1 - lam) = 1`` mixing normalised
  values is normalising mixed ones: exact before rounding (the tests compare with the
  pixel-domain MixUp of the decoded blocks, to float32 rounding).
- **CutMix** pastes a box of the rolled batch. Here the box lies on the block grid: a box
  of whole 8x8 blocks is the same box of pixels, so the cut is exact (no block straddles
  its edge), and the label weight is its exact area: ``lam' = 1 - box blocks / all
  blocks``, the share of every sample that is still its own. The box is drawn as
  torchvision draws it, in grid units: centre uniform over the grid's cells, half-sides
  ``int(0.5 * sqrt(1 - lam) * side)``, clamped to the grid.

Draws come from ``seed`` (a ``numpy.random.Generator`` made once; None: fresh entropy, as
torchvision's global RNG gives), so a run is reproducible when seeded; ``last`` holds the
last call's draws (``lam`` and, for CutMix, the box in grid units) for logging and tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MixDraw:
    """One batch's draws: ``lam`` (Beta(alpha, alpha)); for CutMix the box in grid units,
    ``(y1, x1, y2, x2)`` (rows y1..y2-1, columns x1..x2-1 come from the rolled batch), and
    ``weight``: the label weight of each sample's own class (CutMix: ``1 - box area / grid
    area``; MixUp: ``lam``)."""
    lam: float
    weight: float
    box: tuple[int, int, int, int] | None = None


class _Mix:
    def __init__(self, *, alpha: float = 1.0, num_classes: int | None = None, seed=None):
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
        self.alpha = float(alpha)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.last: MixDraw | None = None

    def _labels(self, y: torch.Tensor, batch: int) -> torch.Tensor:
        if y.dim() == 1:
            if y.dtype in (torch.float16, torch.float32, torch.float64, torch.bfloat16):
                raise ValueError("y: int64 class indices [B], or soft labels [B, K]")
            if self.num_classes is None:
                raise ValueError(f"{type(self).__name__}(num_classes=...) is needed for class "
                                 "indices (soft labels [B, K] need none)")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"labels must be in [0, {self.num_classes}), got "
                                 f"{int(y.min())}..{int(y.max())} (a label -1 marks an "
                                 "unlabelled sample: it cannot be mixed)")
            y = torch.nn.functional.one_hot(y.long(), self.num_classes)
        elif y.dim() != 2:
            raise ValueError(f"y: [B] class indices or [B, K] soft labels, got shape "
                             f"{tuple(y.shape)}")
        if y.shape[0] != batch:
            raise ValueError(f"y has {y.shape[0]} rows for a batch of {batch}")
        return y.float()

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"x: [B, C, H, W], got shape {tuple(x.shape)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes})"


class MixUp(_Mix):
    """MixUp (Zhang et al. 2018) as torchvision.transforms.v2.MixUp:
    ``x' = lam * x + (1 - lam) * x.roll(1, 0)``, the labels likewise. x must be float."""

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x)
        if not x.is_floating_point():
            raise ValueError("MixUp needs float input (the loader's normalize=None or "
                             "stats: float32), not int16")
        labels = self._labels(y, x.shape[0])
        lam = float(self.rng.beta(self.alpha, self.alpha))
        self.last = MixDraw(lam, lam)
        out = x.roll(1, 0).mul_(1.0 - lam).add_(x.mul(lam))
        return out, labels.roll(1, 0).mul_(1.0 - lam).add_(labels.mul(lam))


class CutMix(_Mix):
    """CutMix (Yun et al. 2019) as torchvision.transforms.v2.CutMix, the box on the grid
    of x (for DCT input: whole 8x8 blocks, so the cut is exact and the label weight is
    the exact share of blocks kept). Any dtype: values are only moved."""

    def draw(self, height: int, width: int) -> MixDraw:
        """The next batch's draws on a ``height x width`` grid (torchvision's rule)."""
        return MixDraw(*self._draw(height, width))

    def _draw(self, height: int, width: int) -> tuple[float, float, tuple[int, int, int, int]]:
        lam = float(self.rng.beta(self.alpha, self.alpha))
        r_x = int(self.rng.integers(width))
        r_y = int(self.rng.integers(height))
        r = 0.5 * math.sqrt(1.0 - lam)
        r_w_half, r_h_half = int(r * width), int(r * height)
        x1, y1 = max(r_x - r_w_half, 0), max(r_y - r_h_half, 0)
        x2, y2 = min(r_x + r_w_half, width), min(r_y + r_h_half, height)
        weight = 1.0 - (x2 - x1) * (y2 - y1) / (width * height)
        return lam, weight, (y1, x1, y2, x2)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x)
        labels = self._labels(y, x.shape[0])
        lam, w, box = self._draw(x.shape[-2], x.shape[-1])
        self.last = MixDraw(lam, w, box)
        y1, x1, y2, x2 = box
        out = x.clone()
        out[..., y1:y2, x1:x2] = x.roll(1, 0)[..., y1:y2, x1:x2]
        return out, labels.roll(1, 0).mul_(1.0 - w).add_(labels.mul(w))


__all__ = ["CutMix", "MixDraw", "MixUp"]
