"""Per-channel mean and std of dequantised coefficients: the loader's ``normalize=`` file.

File format (JSON)::

    {"format": "freqload-channel-stats/1", "channels": 192, "images": 500,
     "chroma": "dct", "mean": [192 floats], "std": [192 floats], "names": ["Y(0,0)", ...]}

Statistics are over every block of every sampled image, for all 192
channels, so one file serves any mask. A channel that never varies (chroma of
an all-greyscale set) gets std 1, so normalising never divides by zero.
Computed for a mask only (``mask=``), the file adds ``"computed": [indices]``;
the other channels hold mean 0, std 1 and :meth:`ChannelStats.select` refuses them.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..codec.channels import to_channels
from ..codec.mask import NUM_CHANNELS, ChannelMask, as_mask, channel_name
from ..codec.read import read_coefficients
from ..data.destination import atomic_write
from ..data.sources import resolve_source
from ..errors import FreqloadError
from ..progress import Progress
from ..schema import Document, parse_json

FORMAT = "freqload-channel-stats/1"


@dataclass
class ChannelStats:
    """mean / std: float64 [192]; images: how many images they came from."""
    mean: np.ndarray
    std: np.ndarray
    images: int = 0
    chroma: str = "dct"
    computed: tuple | None = None  #: channel indices computed (None: all 192)

    def __post_init__(self):
        self.mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float64).reshape(-1)
        if self.mean.shape != (NUM_CHANNELS,) or self.std.shape != (NUM_CHANNELS,):
            raise ValueError(f"stats need {NUM_CHANNELS} means and stds, got "
                             f"{self.mean.shape} and {self.std.shape}")
        finite = np.isfinite(self.mean).all() and np.isfinite(self.std).all()
        if not finite or (self.std <= 0).any():
            raise ValueError("stats must be finite with positive std")

    def select(self, mask) -> tuple[np.ndarray, np.ndarray]:
        """float32 (mean [C], std [C]) for the mask's channels, in its order."""
        idx = list(as_mask(mask).indices)
        if self.computed is not None:
            missing = sorted(set(idx) - set(self.computed))
            if missing:
                raise ValueError(f"these stats were computed for {len(self.computed)} channels "
                                 f"only; channels {missing[:8]} are not among them")
        return self.mean[idx].astype(np.float32), self.std[idx].astype(np.float32)

    def to_json(self) -> str:
        d = {"format": FORMAT, "channels": NUM_CHANNELS, "images": self.images,
             "chroma": self.chroma, "mean": self.mean.tolist(), "std": self.std.tolist(),
             "names": [channel_name(i) for i in range(NUM_CHANNELS)]}
        if self.computed is not None:
            d["computed"] = list(self.computed)
        return json.dumps(d)

    def save(self, path: str | os.PathLike) -> None:
        atomic_write(os.fspath(path), (self.to_json() + "\n").encode())

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "stats JSON") -> ChannelStats:
        """Inverse of :meth:`to_json`, checked whole (ManifestError naming ``where`` and
        the field; ValueError for values out of range)."""
        doc = Document(parse_json(text, where), where)
        d = doc.mapping(doc.value)
        if d.get("format") != FORMAT:
            raise ValueError(f"{where}: not a freqload stats file (expected format {FORMAT!r})")
        mean, std = (doc.sequence(doc.field(d, k), k, NUM_CHANNELS) for k in ("mean", "std"))
        for k, values in (("mean", mean), ("std", std)):
            for i, v in enumerate(values):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    doc.fail(f"{k}[{i}]", f"must be a number, got {v!r}")
        computed = doc.field(d, "computed", required=False)
        if computed is not None:
            computed = tuple(doc.integer(c, f"computed[{i}]", 0, NUM_CHANNELS - 1)
                             for i, c in enumerate(doc.sequence(computed, "computed")))
        try:
            images = doc.integer(doc.field(d, "images", required=False, default=0), "images")
            chroma = doc.string(doc.field(d, "chroma", required=False, default="dct"), "chroma")
            return cls(np.asarray(mean, np.float64), np.asarray(std, np.float64), images,
                       chroma, computed)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> ChannelStats:
        with open(path, "rb") as f:
            return cls.from_json(f.read(), os.fspath(path))


def compute_channel_stats(paths, *, max_images: int | None = 1000, seed: int = 0,
                          chroma: str = "dct", progress: bool | None = None,
                          mask=None) -> ChannelStats:
    """Mean and std per channel over (a seeded random sample of) ``paths``.

    Files freqload cannot read are skipped; at least one must be readable.
    ``mask``: compute only these channels (faster); None = all 192.
    """
    if isinstance(paths, (str, os.PathLike)):  # a folder, an image or a list file
        paths = resolve_source(paths).paths
    paths = list(paths)
    if max_images is not None and len(paths) > max_images:
        pick = np.random.default_rng(seed).choice(len(paths), size=max_images, replace=False)
        paths = [paths[i] for i in sorted(pick)]
    m = ChannelMask.all() if mask is None else as_mask(mask)
    idx = list(m.indices)
    total = np.zeros(len(idx))
    total_sq = np.zeros(len(idx))
    blocks = 0
    images = 0
    with Progress(len(paths), "channel stats", progress) as bar:
        for p in paths:
            bar.update()
            try:
                x = to_channels(read_coefficients(p), m, chroma=chroma)
            except FreqloadError:
                continue
            x = x.reshape(len(idx), -1).astype(np.float64)
            total += x.sum(axis=1)
            total_sq += np.square(x).sum(axis=1)
            blocks += x.shape[1]
            images += 1
    if images == 0:
        raise ValueError("no readable JPEG among the files given")
    mean = np.zeros(NUM_CHANNELS)
    std = np.ones(NUM_CHANNELS)
    mean[idx] = total / blocks
    var = np.maximum(total_sq / blocks - mean[idx] ** 2, 0.0)
    s = np.sqrt(var)
    s[s < 1e-6] = 1.0
    std[idx] = s
    return ChannelStats(mean, std, images, chroma, None if mask is None else tuple(idx))
