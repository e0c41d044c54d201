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

from .._core import (
    POLICY_FIXED,
    POLICY_RAND_AUGMENT,
    POLICY_TRIVIAL_WIDE,
    policy_draw,
    policy_magnitude,
)
from .._core import (
    apply_ops as _apply_ops,
)

#: the ops, by their index in ``draw``'s output (torchvision's names and order), then
#: ColorJitter's hue (a turn fraction) and RandomGrayscale's grey, which the policies never
#: draw (:mod:`freqload.codec.augment` does; ``apply_ops`` and FixedOp take them too)
OP_NAMES = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
            "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
            "AutoContrast", "Equalize", "Hue", "Grayscale")
#: the ops the policies draw from
POLICY_OPS = OP_NAMES[:14]


class _Policy:
    kind = 0
    num_ops = 1
    magnitude: int | float = 0
    num_magnitude_bins = 31

    def _args(self) -> tuple[int, int, int, int]:
        return (self.kind, self.num_ops, int(self.magnitude), self.num_magnitude_bins)

    def native(self) -> tuple:
        """The core's fl_policy: (kind, num_ops, magnitude, num_bins, op, value), the
        ``augment`` of a packed recipe."""
        return (*self._args(), 0, 0.0)

    def draw(self, keys, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Each key's ops for an image of ``height x width`` pixels (after the crop: the
        sample's size): int32 op indices (into :data:`OP_NAMES`) and float64 magnitudes,
        ``[n, ops per sample]`` each."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64).reshape(-1)
        per = self.ops_per_sample
        ops = np.empty((len(keys), per), dtype=np.int32)
        mags = np.empty((len(keys), per), dtype=np.float64)
        kind, num_ops, magnitude, bins, op, value = self.native()
        policy_draw(kind, num_ops, magnitude, bins, keys, int(height), int(width), ops, mags,
                    op, value)
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


@dataclass(frozen=True)
class FixedOp(_Policy):
    """One op at one magnitude (torchvision's units, see the module) on every sample:
    ``FixedOp("Rotate", 30.0)``. For looking at an op (``freqload show --augment``),
    testing it, or an experiment of one's own."""
    op: str = "Identity"
    magnitude: float = 0.0
    kind = POLICY_FIXED

    def __post_init__(self):
        if self.op not in OP_NAMES:
            raise ValueError(f"op must be one of {OP_NAMES}, got {self.op!r}")
        object.__setattr__(self, "magnitude", float(self.magnitude))

    def native(self) -> tuple:
        return (self.kind, 1, 0, 1, OP_NAMES.index(self.op), self.magnitude)


#: Recipe(augment=NAME) names
POLICIES = {"trivialaugment": TrivialAugmentWide, "randaugment": RandAugment}


def apply_ops(x: np.ndarray, channels, ops, magnitudes) -> np.ndarray:
    """The core's ops (fl_ops_apply, what ``Recipe(augment=...)`` runs on each sample) on
    one sample's dequantised channels: x float ``[C, H, W]`` with C the channel indices
    ``channels`` (0..191, the luma DC among them), ops names or indices into
    :data:`OP_NAMES` and their magnitudes, applied in order. Returns a new float32 array."""
    channels = np.asarray(channels, dtype=np.int64).reshape(-1)
    out = np.array(x, dtype=np.float32, order="C", copy=True)
    if out.ndim != 3 or out.shape[0] != len(channels):
        raise ValueError(f"x: [{len(channels)}, H, W] for these channels, got {out.shape}")
    idx = np.array([OP_NAMES.index(o) if isinstance(o, str) else int(o) for o in ops],
                   dtype=np.int32)
    mags = np.ascontiguousarray(magnitudes, dtype=np.float64).reshape(-1)
    _apply_ops(bytes((channels // 64).astype(np.uint8)), bytes((channels % 64).astype(np.uint8)),
               (out.shape[1], out.shape[2]), out, idx, mags)
    return out


__all__ = ["OP_NAMES", "POLICIES", "FixedOp", "RandAugment", "TrivialAugmentWide", "apply_ops"]
