"""RGBLoader: the RGB baseline with DCTLoader's interface, for A/B runs with the same script.

torchvision's ImageNet recipe, written without torchvision: train: RandomResizedCrop(size)
(torchvision's sampling, bilinear) + horizontal flip, the same boxes and flips DCTLoader
draws for the same seed (the core's sampler); eval: resize the shorter side to
size/crop_ratio + centre crop; normalised with ImageNet's mean/std. The same sources,
shards, epochs and last-batch rules as DCTLoader (:mod:`freqload.loading.sampler`). Yields
``(x float32 [B, 3, size, size], y int64 [B])`` on ``device``. Two engines:

- ``"torch"`` (default): Pillow decodes in torch DataLoader worker processes, which
  normalise; float32 crosses (3 * size^2 * 4 bytes per sample).
- ``"dali"``: DALI's CPU decoder (region-of-interest decoding of the box only) and
  resize on DALI's threads (:mod:`freqload.loading.engines.rgb_dali`), the strongest CPU
  baseline; uint8 crosses (3 * size^2 bytes) and is normalised on the device.
  Pixels differ slightly from Pillow's (another decoder's chroma upsampling, DALI's
  resampling); the boxes and flips are the same.

``bytes_per_sample`` is measured from the batches.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.utils.data

from .._core import eval_box
from ..codec.augment import as_augment, policy_of
from ..codec.read import check_orientation, read_file
from ..codec.transform import random_resized_crop, sample_keys
from ..data.sources import as_source
from ..errors import DecodeError
from .device import Normalize
from .epochs import EpochLoader, TransferStats, moved_keywords
from .pixel_policy import apply_drawn

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class RGBSamples(torch.utils.data.Dataset):
    """Items are (index, epoch) -> (float32 [3, size, size] normalised, label)."""

    def __init__(self, paths, labels, size: int = 224, train: bool = True, seed: int = 0,
                 crop_ratio: float = 0.875, samples=None, orientation: str = "exif",
                 augment=None, augment_size=None):
        """samples: a sources.SampleList or shards.ShardSet to read items through
        (``samples.where(i)``: tar members by byte range); None: the files ``paths``.
        orientation: "exif" turns each picture upright by its EXIF orientation (Pillow's
        ``ImageOps.exif_transpose``) before cropping, as DCTLoader does; "ignore".
        augment: a policy (:mod:`freqload.codec.policy`), drawn per sample from its key
        for a picture of ``augment_size`` (h, w) pixels (default: size x size), applied
        with torchvision's PIL ops after the crop and flip, translations scaled to
        ``size``."""
        check_orientation(orientation)
        items = as_augment(augment)
        self.augment = policy_of(items)
        if items and (len(items) > 1 or self.augment is None):
            raise ValueError("RGBLoader(augment=...) takes an automatic policy "
                             "(TrivialAugmentWide, RandAugment, FixedOp), not "
                             f"{list(items)!r}")
        self.augment_size = (int(size), int(size)) if augment_size is None else \
            tuple(int(v) for v in augment_size)
        self.paths, self.labels, self.samples = paths, labels, samples
        self.orientation = orientation
        self.size, self.train, self.seed, self.crop_ratio = int(size), bool(train), seed, crop_ratio
        self.norm = Normalize(MEAN, STD)  # the one normalisation (freqload.loading.device)

    def __len__(self):
        return len(self.paths)

    def box(self, i: int, epoch: int, height: int, width: int):
        """((top, left, h, w), flip) of sample ``i`` in ``epoch``, in the upright picture
        (height x width pixels): the boxes DCTLoader draws (the core's sampling, the same
        seed/epoch/index keys), so an A/B run sees the same crops and flips in both inputs.
        Train: RandomResizedCrop and a flip; eval: Resize(size / crop_ratio) of the shorter
        side, CenterCrop(size). Both engines draw through here."""
        if self.train:
            key = int(sample_keys(self.seed, epoch, [i])[0])
            return random_resized_crop(key, height, width)
        return eval_box(height, width, self.size, self.size, float(self.crop_ratio)), False

    def upright(self, src):
        """A PIL RGB image of ``src`` (a path or a file object), turned upright by its EXIF
        orientation under orientation="exif": how both engines read with Pillow."""
        from PIL import Image, ImageOps

        with Image.open(src) as im:
            if self.orientation == "exif":
                im = ImageOps.exif_transpose(im)
            return im.convert("RGB")

    def __getitem__(self, item):
        from PIL import Image

        i, epoch = item if isinstance(item, tuple) else (item, 0)
        s = self.size
        if self.samples is not None and self.samples.file_of is not None:
            import io

            path, offset, length = self.samples.where(i)  # a tar member's bytes
            src = io.BytesIO(read_file(path, 0, offset, length))
        else:
            src = self.paths[i]
        with self.upright(src) as im:
            (top, left, h, w), flip = self.box(i, epoch, im.height, im.width)
            im = im.resize((s, s), Image.BILINEAR, box=(left, top, left + w, top + h))
            if flip:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            if self.augment is not None:  # the DCT side's ops for this sample
                key = sample_keys(self.seed, epoch, [i])
                ops, mags = self.augment.draw(key, *self.augment_size)
                scale = (s / self.augment_size[1], s / self.augment_size[0])  # (x, y)
                im = apply_drawn(im, ops[0], mags[0], translate_scale=scale)
            x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return self.norm(torch.from_numpy(x)), int(self.labels[i])


class RGBLoader(EpochLoader):
    """The RGB baseline loader (see the module docstring), with DCTLoader's arguments.

    Args:
        source: as DCTLoader's (a path, list, shards, or a :class:`~freqload.Source`).
        size: the output's side in pixels (224: ``x`` float32 ``[B, 3, 224, 224]``).
        batch_size: samples per batch; ``train``, ``shuffle``, ``seed``, ``drop_last``,
            ``num_workers``, ``prefetch``, ``device``, ``shard_id`` and ``num_shards`` as
            DCTLoader's.
        engine: "torch" (default, Pillow in DataLoader workers), "dali" (DALI's decoder
            and resize on the same boxes, uint8 crossing) or "auto" (DALI where
            installed, else torch with a warning saying why).
        orientation: "exif" (default: upright, as DCTLoader) or "ignore".
        augment: a policy for every sample (``"trivialaugment"``, ``"randaugment"`` or a
            policy object, :mod:`freqload.codec.policy`): the ops a DCTLoader with
            ``Recipe(augment=...)`` and the same seed draws for the same sample,
            torchvision's on the PIL image (:mod:`freqload.loading.pixel_policy`); the
            torch engine only ("auto" picks it). The draws are made for ``size`` pixels;
            to pair with a DCT grid of ``b`` blocks set ``loader.samples.augment_size =
            (8 * b, 8 * b)`` (translations are then scaled from it to ``size``, as
            ``freqload compare`` does).
    """

    def __init__(self, source, *, batch_size: int, size: int = 224, train: bool = False,
                 shuffle: bool | None = None, seed: int = 0, drop_last: bool = False,
                 num_workers: int | None = None, prefetch: int = 2, device=None,
                 engine: str = "torch", shard_id: int | None = None,
                 num_shards: int | None = None, orientation: str = "exif", augment=None,
                 **moved):
        if moved:  # the keywords before the source was an object
            _, source = moved_keywords("RGBLoader", moved, recipe=None, source=source,
                                       train=train, takes_recipe=False)
        if engine not in ("torch", "dali", "auto"):
            raise ValueError(f"engine must be 'torch', 'dali' or 'auto', got {engine!r}")
        if augment is not None and engine == "dali":
            raise ValueError("RGBLoader(augment=...) applies the ops with Pillow: "
                             "engine='torch' (or 'auto'), not 'dali'")
        if augment is not None:
            engine = "torch"
        source = as_source(source)
        dataset = source.resolve()
        # RGBLoader has no error policy: a damaged shard, or a sample its index found bad
        # (no label, two images ...), is refused here rather than met mid-epoch
        dataset.report_damage("raise", "RGBLoader")
        if dataset.problems:
            i, why = next(iter(dataset.problems.items()))
            raise DecodeError(f"{dataset.names[i]}: {why} ({len(dataset.problems)} bad "
                              "sample(s) in all; RGBLoader has no on_error: "
                              "DCTLoader(on_error=\"skip\") skips them)")
        # batch size, shuffling, seed, shards, device, workers: as every loader does
        self._setup_epochs(dataset, batch_size=batch_size,
                           train=train, shuffle=shuffle, seed=seed, drop_last=drop_last,
                           shard_id=shard_id, num_shards=num_shards, device=device,
                           num_workers=num_workers, prefetch=prefetch,
                           shuffle_buffer=source.shuffle_buffer)
        self.samples = RGBSamples(self.dataset.paths, self.dataset.labels, size, train, seed,
                                  samples=self.dataset, orientation=orientation,
                                  augment=augment)
        self.size = int(size)
        self.stats = TransferStats()
        self.engine = None  # the torch engine: a DataLoader per epoch
        if engine in ("dali", "auto"):
            from .engines.rgb_dali import RGBDaliEngine

            try:
                self.engine = RGBDaliEngine(
                    self.samples, self.dataset, size=self.size, batch_size=self.batch_size,
                    num_threads=self.num_workers, prefetch=self.prefetch,
                    pin=self.device.type == "cuda", orientation=orientation)
            except ImportError as e:
                if engine == "dali":
                    raise
                import warnings

                warnings.warn(f"RGBLoader(engine='auto'): using the torch engine ({e})",
                              stacklevel=2)
            self._norm = Normalize([255 * m for m in MEAN], [255 * s for s in STD]).to(
                self.device)
        self.engine_name = "dali" if self.engine is not None else "torch"

    def _expected_bytes_per_sample(self) -> int:  # bytes_per_sample: sampler.EpochLoader
        return 3 * self.size * self.size * (1 if self.engine is not None else 4)

    def __iter__(self):
        epoch = self.epoch
        plan = self._epoch_batches(epoch)
        self.dataset.begin_epoch(plan)  # remote shards: fetched ahead, in this order
        if self.engine is not None:
            labels = torch.as_tensor(np.asarray(self.dataset.labels, dtype=np.int64))
            for j, (host, idx) in enumerate(self.engine.batches(plan, epoch)):
                self._position += 1
                self.dataset.batch_done(j)
                self.stats.add(host)  # uint8 crosses
                x = host.to(self.device, non_blocking=True)
                y = labels[idx].to(self.device, non_blocking=True)
                yield self._norm(x), y
            self._end_epoch(epoch)
            return
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
