"""RGBLoader: the RGB baseline with DCTLoader's interface, for A/B runs with the same script.

torchvision's ImageNet recipe, written without torchvision: Pillow decode, then
train: RandomResizedCrop(size) (torchvision's sampling, bilinear) + horizontal
flip, the same boxes and flips DCTLoader draws for the same seed (the core's sampler); eval: resize the shorter side to size/crop_ratio + centre crop; to float,
normalise with ImageNet's mean/std. In torch DataLoader worker processes; the
same sources, shards, epochs and last-batch rules as DCTLoader
(:mod:`freqload.sampler`). Yields ``(x float32 [B, 3, size, size], y int64 [B])``
on ``device``; float32 crosses (``bytes_per_sample``, measured from the batches: 3 * size^2 * 4).
"""
from __future__ import annotations


import numpy as np
import torch
import torch.utils.data

from . import _core
from .device import Normalize
from .sampler import EpochLoader, TransferStats
from .sources import resolve_source
from .transforms import random_resized_crop, sample_keys

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class RGBSamples(torch.utils.data.Dataset):
    """Items are (index, epoch) -> (float32 [3, size, size] normalised, label)."""

    def __init__(self, paths, labels, size: int = 224, train: bool = True, seed: int = 0,
                 crop_ratio: float = 0.875, samples=None, orientation: str = "exif"):
        """samples: a sources.SampleList or shards.ShardSet to read items through
        (``samples.where(i)``: tar members by byte range); None: the files ``paths``.
        orientation: "exif" turns each picture upright by its EXIF orientation (Pillow's
        ``ImageOps.exif_transpose``) before cropping, as DCTLoader does; "ignore"."""
        from .coefficients import check_orientation

        check_orientation(orientation)
        self.paths, self.labels, self.samples = paths, labels, samples
        self.orientation = orientation
        self.size, self.train, self.seed, self.crop_ratio = int(size), bool(train), seed, crop_ratio
        self.norm = Normalize(MEAN, STD)  # the one normalisation (freqload.device)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, item):
        from PIL import Image

        i, epoch = item if isinstance(item, tuple) else (item, 0)
        s = self.size
        if self.samples is not None and self.samples.file_of is not None:
            import io

            from .coefficients import read_file

            path, offset, length = self.samples.where(i)  # a tar member's bytes
            src = io.BytesIO(read_file(path, 0, offset, length))
        else:
            src = self.paths[i]
        with Image.open(src) as im:
            if self.orientation == "exif":
                from PIL import ImageOps

                im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            # the boxes DCTLoader draws (the core's sampling, same seed/epoch/index keys), so
            # an A/B run sees the same crops and flips in both inputs
            if self.train:
                key = int(sample_keys(self.seed, epoch, [i])[0])
                (top, left, h, w), flip = random_resized_crop(key, im.height, im.width)
            else:  # Resize(size / crop_ratio) of the shorter side, CenterCrop(size)
                (top, left, h, w), flip = _core.eval_box(im.height, im.width, s, s,
                                                         float(self.crop_ratio)), False
            im = im.resize((s, s), Image.BILINEAR, box=(left, top, left + w, top + h))
            if flip:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return self.norm(torch.from_numpy(x)), int(self.labels[i])


class RGBLoader(EpochLoader):
    """The RGB baseline loader (see the module docstring); DCTLoader's core arguments."""

    def __init__(self, source, *, batch_size: int, size: int = 224, train: bool = False,
                 shuffle: bool | None = None, seed: int = 0, drop_last: bool = False,
                 num_workers: int | None = None, prefetch: int = 2, device=None,
                 shard_id: int | None = None, num_shards: int | None = None,
                 label_key: str | None = None, shuffle_buffer: int = 1000,
                 cache_dir: str | None = None, orientation: str = "exif"):
        # batch size, shuffling, seed, shards, device, workers: as every loader does
        self._setup_epochs(resolve_source(source, label_key, cache_dir), batch_size=batch_size,
                           train=train, shuffle=shuffle, seed=seed, drop_last=drop_last,
                           shard_id=shard_id, num_shards=num_shards, device=device,
                           num_workers=num_workers, prefetch=prefetch,
                           shuffle_buffer=shuffle_buffer)
        self.samples = RGBSamples(self.dataset.paths, self.dataset.labels, size, train, seed,
                                  samples=self.dataset, orientation=orientation)
        self.size = int(size)
        self.stats = TransferStats()

    def _expected_bytes_per_sample(self) -> int:  # bytes_per_sample: sampler.EpochLoader
        return 3 * self.size * self.size * 4

    def __iter__(self):
        epoch = self.epoch
        plan = self._epoch_batches(epoch)
        self.dataset.begin_epoch(plan)  # remote shards: fetched ahead, in this order
        batches = [[(int(i), epoch) for i in b] for b in plan]
        kw = {"prefetch_factor": self.prefetch} if self.num_workers > 0 else {}
        dl = torch.utils.data.DataLoader(self.samples, batch_sampler=batches,
                                         num_workers=self.num_workers,
                                         pin_memory=self.device.type == "cuda", **kw)
        for j, (x, y) in enumerate(dl):
            self._position += 1
            self.dataset.batch_done(j)
            self.stats.add(x)
            yield (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))
        self._end_epoch(epoch)


__all__ = ["RGBLoader", "RGBSamples", "MEAN", "STD"]
