"""What ``Recipe(augment=...)`` takes: the per-sample augmentation the core runs after the
transform, drawn from each sample's key.

Three kinds, in this order on a sample, at most one of each:

1. an automatic policy (:mod:`freqload.codec.policy`): :class:`TrivialAugmentWide`,
   :class:`RandAugment`, or :class:`FixedOp` (one op on every sample);
2. :class:`ColorJitter` (torchvision.transforms.v2.ColorJitter: brightness, contrast,
   saturation and hue in a random order, each factor uniform in its range);
3. :class:`RandomGrayscale` (grey with probability p).

``augment`` is one of them, a name (``"trivialaugment"``, ``"randaugment"``), or a list
of them, e.g. ``[TrivialAugmentWide(), RandomGrayscale(0.1)]``. The draws come from each
sample's key (:func:`freqload.sample_keys`) on the core's streams (fl_policy_draw,
fl_jitter_draw), so every engine, thread, worker and rank gives a sample the same
augmentation, and the RGB baseline can take the same draws. What each op does to the
coefficients and how exact it is: ``freqload/_native/core/fl_ops.c`` and
``docs/augmentation.md``.

    >>> import numpy as np, freqload
    >>> j = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    >>> order, factors, grey = j.params(freqload.sample_keys(0, 0, np.arange(4)))
    >>> order.shape, factors.shape          # torchvision's fn_idx and factors per sample
    ((4, 4), (4, 4))
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._core import jitter_draw
from .policy import POLICIES, _Policy

#: ColorJitter's ops, in torchvision's fn_idx order
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def _range(value, name: str, centre: float, floor: float):
    """torchvision's _check_input, the form only: a number v -> [centre - v, centre + v]
    (its low end at least ``floor``), a pair as given; None or a zero range: off. The
    ranges' rules are the core's (fl_jitter_check)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        lo, hi = max(centre - value, floor), centre + value
    else:
        lo, hi = (float(v) for v in value)
    return None if lo == hi == centre else (float(lo), float(hi))


def _check(jitter: tuple) -> None:
    """The core's rules on an fl_jitter (ValueError naming the setting)."""
    jitter_draw(jitter, np.zeros(0, np.uint64), np.zeros((0, 4), np.int32),
                np.zeros((0, 4), np.float64), np.zeros(0, np.uint8))


def _draw(jitter: tuple, keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.ascontiguousarray(keys, dtype=np.uint64).reshape(-1)
    order = np.empty((len(keys), 4), np.int32)
    factors = np.empty((len(keys), 4), np.float64)
    grey = np.empty(len(keys), np.uint8)
    jitter_draw(jitter, keys, order, factors, grey)
    return order, factors, grey.astype(bool)


@dataclass(frozen=True)
class ColorJitter:
    """torchvision.transforms.v2.ColorJitter(brightness, contrast, saturation, hue), per
    sample in the core. ``brightness=b`` means factors in ``[max(0, 1 - b), 1 + b]``,
    likewise contrast and saturation; ``hue=h`` means ``[-h, h]``, ``0 <= h <= 0.5``; a
    pair gives the range itself. Hue is the YCbCr hue (the (Cb, Cr) plane turned by
    ``2 pi h``), not torchvision's HSV hue, which is not linear."""
    brightness: object = None
    contrast: object = None
    saturation: object = None
    hue: object = None
    ranges: dict = field(init=False, compare=False, repr=False, default_factory=dict)

    def __post_init__(self):
        self.ranges.update(
            brightness=_range(self.brightness, "brightness", 1.0, 0.0),
            contrast=_range(self.contrast, "contrast", 1.0, 0.0),
            saturation=_range(self.saturation, "saturation", 1.0, 0.0),
            hue=_range(self.hue, "hue", 0.0, -float("inf")))
        _check(self.native())

    def __hash__(self):
        return hash(tuple(self.ranges.values()))

    def native(self, gray_p: float = 0.0) -> tuple:
        """The core's fl_jitter: (active bits, lo and hi per op, grayscale p)."""
        active, values = 0, []
        for k, name in enumerate(JITTER_OPS):
            r = self.ranges[name]
            if r is not None:
                active |= 1 << k
            values += list(r) if r is not None else [0.0, 0.0]
        return (active, *values, float(gray_p))

    def params(self, keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each key's draw: the order (int32 ``[n, 4]``, indices into
        :data:`JITTER_OPS`, torchvision's ``fn_idx``), the factors (float64 ``[n, 4]`` in
        :data:`JITTER_OPS` order; the identity, 1 or 0 for hue, where an op is off) and
        bool ``[n]`` (a RandomGrayscale of p = 0 here: all False)."""
        return _draw(self.native(), keys)


@dataclass(frozen=True)
class RandomGrayscale:
    """torchvision.transforms.v2.RandomGrayscale(p): each sample grey (JPEG's luma in all
    three channels: chroma 0) with probability p, per sample in the core."""
    p: float = 0.1

    def __post_init__(self):
        _check(ColorJitter().native(float(self.p)))

    def chosen(self, keys) -> np.ndarray:
        """bool [n]: the keys' samples turned grey."""
        return _draw(ColorJitter().native(self.p), keys)[2]


def _kind(item) -> type:
    """An augment item's kind: _Policy for every policy, else its class."""
    return _Policy if isinstance(item, _Policy) else type(item)


def as_augment(augment) -> tuple | None:
    """``Recipe(augment=...)``'s value -> a tuple of items in the order they run (policy,
    ColorJitter, RandomGrayscale), or None."""
    if augment is None:
        return None
    items = list(augment) if isinstance(augment, (list, tuple)) else [augment]
    out: dict[type, object] = {}
    for item in items:
        if isinstance(item, str) and item.lower() in POLICIES:
            item = POLICIES[item.lower()]()
        kind = _kind(item)
        if kind not in (_Policy, ColorJitter, RandomGrayscale):
            raise ValueError(f"augment: a policy (TrivialAugmentWide(), RandAugment(...), "
                             f"FixedOp(...), or one of {sorted(POLICIES)}), ColorJitter(...), "
                             f"RandomGrayscale(p) or a list of them, got {item!r}")
        if kind in out:
            raise ValueError(f"augment: one {kind.__name__.strip('_')} at most, got two")
        out[kind] = item
    order = [out[k] for k in (_Policy, ColorJitter, RandomGrayscale) if k in out]
    return tuple(order) or None


def native_augment(items: tuple | None) -> dict:
    """pack_recipe's ``augment`` and ``jitter`` arguments for :func:`as_augment`'s tuple."""
    if not items:
        return {}
    got = {_kind(i): i for i in items}
    kw = {}
    if _Policy in got:
        kw["augment"] = got[_Policy].native()
    jitter = got.get(ColorJitter, ColorJitter())
    gray = got[RandomGrayscale].p if RandomGrayscale in got else 0.0
    kw["jitter"] = jitter.native(gray)
    return kw


def policy_of(items: tuple | None):
    """The policy among :func:`as_augment`'s items, or None."""
    return next((i for i in items or () if isinstance(i, _Policy)), None)


__all__ = ["ColorJitter", "JITTER_OPS", "RandomGrayscale", "as_augment", "native_augment",
           "policy_of"]
