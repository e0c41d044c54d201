"""ChannelMask: which of the 192 frequency channels to keep.

A channel of the (H8, W8, 192) grid is ``component * 64 + 8 * row + col``:
component 0/1/2 = Y/Cb/Cr, ``row`` the vertical and ``col`` the horizontal
frequency of the 8x8 DCT (raster order, as libjpeg stores coefficients, not
zigzag). A mask is a set of channels; the output keeps them in ascending
channel order, so ``to_channels(c, mask)[k]`` is channel ``mask.indices[k]``.

Presets are DCTNet's published lists (Xu et al., CVPR 2020), hand-picked
low-frequency squares per component, Cb and Cr sharing theirs:

============  ====  ===========================================  ==============
preset        C     Y (raster indices)                           Cb = Cr
============  ====  ===========================================  ==============
``dctnet24``  24    0-3, 8-11, 16-19, 24-27                      0,1,8,9
``dctnet32``  32    0-4, 8-12, 16-20, 24-27, 32-34               0,1,2,8,9
``dctnet48``  48    0-5, 8-13, 16-21, 24-29, 32-35, 40-43        0-2, 8-10, 16,17
``dctnet64``  64    0-6, 8-14, 16-21, 24-29, 32-37, 40-45, 48-53 0-2, 8-10, 16,17, 24,25
============  ====  ===========================================  ==============

Example::

    >>> m = ChannelMask.dctnet24()
    >>> len(m), m.names[:3], m.names[16]
    (24, ['Y(0,0)', 'Y(0,1)', 'Y(0,2)'], 'Cb(0,0)')
    >>> ChannelMask.from_json(m.to_json()) == m
    True
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

import numpy as np

from ..schema import read_json

COMPONENT_NAMES = ("Y", "Cb", "Cr")
NUM_CHANNELS = 192

#: Zigzag scan order as raster indices (JPEG Annex A, Figure A.6).
ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)


def _ranges(*spans: tuple[int, int] | int) -> list[int]:
    out: list[int] = []
    for s in spans:
        if isinstance(s, tuple):
            out.extend(range(s[0], s[1] + 1))
        else:
            out.append(s)
    return out


#: DCTNet's published selections: (Y raster indices, Cb = Cr raster indices).
PRESETS: dict[str, tuple[list[int], list[int]]] = {
    "dctnet24": (_ranges((0, 3), (8, 11), (16, 19), (24, 27)), [0, 1, 8, 9]),
    "dctnet32": (_ranges((0, 4), (8, 12), (16, 20), (24, 27), (32, 34)), [0, 1, 2, 8, 9]),
    "dctnet48": (_ranges((0, 5), (8, 13), (16, 21), (24, 29), (32, 35), (40, 43)),
                 [0, 1, 2, 8, 9, 10, 16, 17]),
    "dctnet64": (_ranges((0, 6), (8, 14), (16, 21), (24, 29), (32, 37), (40, 45), (48, 53)),
                 [0, 1, 2, 8, 9, 10, 16, 17, 24, 25]),
}


class ChannelMask:
    """A set of channels of the 192-channel grid, kept in ascending order.

    Args:
        indices: channel indices in ``[0, 192)``, no repeats.

    Raises:
        ValueError: an index out of range, a repeat, or an empty mask.
        TypeError: indices that are not integers.
    """

    __slots__ = ("_indices",)

    def __init__(self, indices: Iterable[int]):
        vals = []
        for i in indices:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"channel indices must be integers, got {i!r}")
            vals.append(int(i))
        if not vals:
            raise ValueError("a ChannelMask needs at least one channel")
        bad = [i for i in vals if not 0 <= i < NUM_CHANNELS]
        if bad:
            raise ValueError(f"channel indices must be in [0, {NUM_CHANNELS}), got {bad[:5]}")
        if len(set(vals)) != len(vals):
            dup = sorted({i for i in vals if vals.count(i) > 1})
            raise ValueError(f"channel indices repeat: {dup[:5]}")
        self._indices = tuple(sorted(vals))

    # -- constructors ------------------------------------------------------
    @classmethod
    def from_components(cls, y: Sequence[int] = (), cb: Sequence[int] = (),
                        cr: Sequence[int] | None = None) -> ChannelMask:
        """Build from per-component raster indices (0..63); ``cr`` defaults to ``cb``."""
        cr = cb if cr is None else cr
        out = []
        for comp, idx in enumerate((y, cb, cr)):
            for i in idx:
                if not 0 <= int(i) < 64:
                    raise ValueError(f"{COMPONENT_NAMES[comp]} index {i} not in [0, 64)")
                out.append(comp * 64 + int(i))
        return cls(out)

    @classmethod
    def preset(cls, name: str) -> ChannelMask:
        """One of ``dctnet24``, ``dctnet32``, ``dctnet48``, ``dctnet64`` or ``all``."""
        if name == "all":
            return cls.all()
        if name not in PRESETS:
            raise ValueError(f"unknown mask preset {name!r}; known: {sorted(PRESETS) + ['all']}")
        y, c = PRESETS[name]
        return cls.from_components(y, c, c)

    @classmethod
    def dctnet24(cls) -> ChannelMask:
        return cls.preset("dctnet24")

    @classmethod
    def dctnet32(cls) -> ChannelMask:
        return cls.preset("dctnet32")

    @classmethod
    def dctnet48(cls) -> ChannelMask:
        return cls.preset("dctnet48")

    @classmethod
    def dctnet64(cls) -> ChannelMask:
        return cls.preset("dctnet64")

    @classmethod
    def all(cls) -> ChannelMask:
        """All 192 channels."""
        return cls(range(NUM_CHANNELS))

    @classmethod
    def zigzag(cls, y: int = 0, cb: int = 0, cr: int | None = None) -> ChannelMask:
        """The first ``y`` / ``cb`` / ``cr`` coefficients of each component in zigzag order.

        ``cr`` defaults to ``cb``. ``ChannelMask.zigzag(y=6, cb=3)`` keeps
        Y(0,0) Y(0,1) Y(1,0) Y(2,0) Y(1,1) Y(0,2) and Cb/Cr (0,0) (0,1) (1,0).
        """
        cr = cb if cr is None else cr
        for name, n in (("y", y), ("cb", cb), ("cr", cr)):
            if not 0 <= n <= 64:
                raise ValueError(f"{name}={n}: need 0..64 coefficients")
        return cls.from_components(ZIGZAG[:y], ZIGZAG[:cb], ZIGZAG[:cr])

    @classmethod
    def from_json(cls, text: str) -> ChannelMask:
        """Inverse of :meth:`to_json`; also accepts a bare JSON list of indices."""
        return cls._from_data(json.loads(text))

    @classmethod
    def _from_data(cls, data) -> ChannelMask:
        if isinstance(data, dict):
            if "indices" not in data:
                raise ValueError("mask JSON needs an 'indices' list")
            data = data["indices"]
        if not isinstance(data, list):
            raise ValueError("mask JSON must be a list of indices or {'indices': [...]}")
        return cls(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ChannelMask:
        """A mask file (:meth:`to_json`'s); ValueError naming the file when it is not."""
        data = read_json(os.fspath(path))
        try:
            return cls._from_data(data)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{os.fspath(path)}: {e}") from None

    # -- views ---------------------------------------------------------------
    @property
    def indices(self) -> tuple[int, ...]:
        """Channel indices, ascending: the output's channel order."""
        return self._indices

    @property
    def names(self) -> list[str]:
        """Readable names, ``"Y(0,1)"`` = luma, vertical frequency 0, horizontal 1."""
        return [channel_name(i) for i in self._indices]

    def per_component(self) -> tuple[tuple[int, ...], ...]:
        """Raster indices kept in each of Y, Cb, Cr."""
        return tuple(tuple(i - 64 * c for i in self._indices if i // 64 == c) for c in range(3))

    def component_arrays(self) -> tuple[bytes, bytes]:
        """(component of each channel, raster index of each channel) as uint8 bytes."""
        return split_channels(self._indices)

    def to_json(self) -> str:
        return json.dumps({"indices": list(self._indices), "names": self.names})

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")

    def __len__(self) -> int:
        return len(self._indices)

    def __iter__(self):
        return iter(self._indices)

    def __contains__(self, item) -> bool:
        return item in self._indices

    def __eq__(self, other) -> bool:
        return isinstance(other, ChannelMask) and other._indices == self._indices

    def __hash__(self) -> int:
        return hash(self._indices)

    def __repr__(self) -> str:
        for name in PRESETS:
            if self == ChannelMask.preset(name):
                return f"ChannelMask.{name}()"
        if len(self) == NUM_CHANNELS:
            return "ChannelMask.all()"
        return f"ChannelMask({list(self._indices)})"


def split_channels(indices) -> tuple[bytes, bytes]:
    """Channel indices -> (component, raster index) per channel, as uint8 bytes: the
    form the native core takes (fl_channel_spec)."""
    idx = np.asarray(indices, dtype=np.int64)
    return (idx // 64).astype(np.uint8).tobytes(), (idx % 64).astype(np.uint8).tobytes()


def channel_name(index: int) -> str:
    """``channel_name(65) == "Cb(0,1)"``."""
    comp, k = divmod(int(index), 64)
    return f"{COMPONENT_NAMES[comp]}({k // 8},{k % 8})"


def as_mask(mask) -> ChannelMask:
    """Accept a ChannelMask, a preset name, a JSON file path, or an index list; None = all."""
    if mask is None:
        return ChannelMask.all()
    if isinstance(mask, ChannelMask):
        return mask
    if isinstance(mask, (str, os.PathLike)):
        s = os.fspath(mask)
        if s in PRESETS or s == "all":
            return ChannelMask.preset(s)
        if os.path.exists(s):
            return ChannelMask.load(s)
        raise ValueError(f"mask {s!r} is neither a preset ({sorted(PRESETS)}, 'all') "
                         "nor a mask JSON file")
    return ChannelMask(mask)
