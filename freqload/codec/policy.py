"""Automatic augmentation policies: which operations each sample gets, drawn from its key.

:class:`TrivialAugmentWide` and :class:`RandAugment` carry torchvision.transforms.v2's
op lists and magnitude bins (``_auto_augment.py``: ``_AUGMENTATION_SPACE`` and
``forward``), in its order, and draw as it does - the op uniformly, then the magnitude
bin where the op has magnitudes (TrivialAugmentWide: uniform over the bins; RandAugment:
the fixed ``magnitude``), then the sign where the op is signed - but from the sample's
key (:func:`freqload.sample_keys`) on the core's splitmix64 stream with a seed of its own
(``fl_policy_draw``), not from torch's global generator. So a sample's ops are the same
in every engine, thread, worker and rank, independent of its crop and flip, and the RGB
baseline can apply the same ops to the same sample.

    policy = TrivialAugmentWide()
    ops, magnitudes = policy.draw(keys, height=448, width=448)   # [n, 1] each
    [OP_NAMES[o] for o in ops[:, 0]]                             # "Rotate", "Color", ...

Magnitudes are in torchvision's units: shear as the shear factor, translate in pixels
(RandAugment's scale with the image: ``150 / 331`` of its side at the top bin), rotate in
degrees, brightness / color / contrast / sharpness as ``factor - 1``, posterize in bits,
solarize as the threshold's fraction of the value range; 0 for Identity, AutoContrast
and Equalize.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core import POLICY_RAND_AUGMENT, POLICY_TRIVIAL_WIDE, policy_draw, policy_magnitude

#: the ops, by their index in ``draw``'s output (torchvision's names and order)
OP_NAMES = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
            "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
            "AutoContrast", "Equalize")


class _Policy:
    kind = 0
    num_ops = 1
    magnitude = 0
    num_magnitude_bins = 31

    def _args(self) -> tuple[int, int, int, int]:
        return (self.kind, self.num_ops, self.magnitude, self.num_magnitude_bins)

    def draw(self, keys, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Each key's ops for an image of ``height x width`` pixels (after the crop: the
        sample's size): int32 op indices (into :data:`OP_NAMES`) and float64 magnitudes,
        ``[n, ops per sample]`` each."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64).reshape(-1)
        per = self.ops_per_sample
        ops = np.empty((len(keys), per), dtype=np.int32)
        mags = np.empty((len(keys), per), dtype=np.float64)
        kind, num_ops, magnitude, bins = self._args()
        policy_draw(kind, num_ops, magnitude, bins, keys, int(height), int(width), ops, mags)
        return ops, mags

    @property
    def ops_per_sample(self) -> int:
        return 1

    def magnitudes(self, op: str, height: int = 224, width: int = 224):
        """The op's magnitude bins (float64 [num_magnitude_bins]) and whether it is
        signed, or None for an op without magnitudes."""
        k = OP_NAMES.index(op)
        got = [policy_magnitude(self.kind, k, b, self.num_magnitude_bins, height, width)
               for b in range(self.num_magnitude_bins)]
        values = [g for g in got if g is not None]
        if not values:
            return None
        return np.array([v for v, _ in values]), bool(values[0][1])


@dataclass(frozen=True)
class TrivialAugmentWide(_Policy):
    """torchvision.transforms.v2.TrivialAugmentWide: one op per sample, its magnitude bin
    drawn uniformly from ``num_magnitude_bins``."""
    num_magnitude_bins: int = 31
    kind = POLICY_TRIVIAL_WIDE

    def __post_init__(self):
        if not 1 <= int(self.num_magnitude_bins) <= 1000:
            raise ValueError(f"num_magnitude_bins must be 1..1000, got {self.num_magnitude_bins}")


@dataclass(frozen=True)
class RandAugment(_Policy):
    """torchvision.transforms.v2.RandAugment: ``num_ops`` ops per sample, each at the
    fixed magnitude bin ``magnitude`` of ``num_magnitude_bins``."""
    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31
    kind = POLICY_RAND_AUGMENT

    def __post_init__(self):
        self.draw(np.zeros(0, np.uint64), 1, 1)  # the core checks the numbers (ValueError)

    @property
    def ops_per_sample(self) -> int:
        return self.num_ops


__all__ = ["OP_NAMES", "RandAugment", "TrivialAugmentWide"]
