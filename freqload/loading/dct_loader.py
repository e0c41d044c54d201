"""DCTLoader: a drop-in DataLoader that yields frequency-domain batches on the device.

    loader = DCTLoader("imagenet/train", batch_size=64, train=True)
    for x, y in loader:      # x float32 [64, 24, 56, 56], y int64 [64], on cuda if present
        ...

    recipe = Recipe("dctnet24", (28, 28), transform="train", partial_decode=False)
    loader = DCTLoader(Source("s3://bucket/train-{000..146}.tar", cache_dir="/scratch"),
                       recipe, batch_size=64, train=True)

Per image (native code, on the engine's threads): entropy decode, then what the
:class:`~freqload.codec.recipe.Recipe` says - the transform (train = RandomResizedCrop +
flip, eval = resize the shorter side + centre crop, both resampled in the DCT domain; or
blocks = block-aligned centre crop / zero padding with chroma aligned), keeping only the
mask's channels -> int16 [C, out_h, out_w]. Per batch (Python): the error policy, then
only those int16 channels go host -> device (pinned, non_blocking); float conversion and
normalisation happen on the device in torch (:mod:`freqload.loading.device`). The recipe
is checked once and both engines take it whole.

Engines (same tensors, statuses and messages for the same order, by construction: both
call the core's batch entry point ``fl_decode_items`` with the packed recipe):

==========  ==================================================================
engine      where the per-image work runs
==========  ==================================================================
"native"    the core's own thread pool (``num_workers`` pthreads, each with its
            own decoder; 0: the consuming thread decodes), whole batches into
            the batch's buffer, pinned for CUDA; no worker processes, no
            Python per sample (:mod:`freqload.loading.engines.native_engine`)
"dali"      DALI CPU pipeline: ``fn.freqload.jpeg_to_dct`` reads and decodes on
            DALI's C++ thread pool (``num_workers`` threads); for users who run
            DALI pipelines anyway
"auto"      "native": measured at least as fast as "dali" on train, eval and
            blocks (docs/benchmarks.md), with no DALI to install or operator to
            build
"torch"     deprecated: the DataLoader worker-process engine was removed (0.69x
            the DALI engine on train, memory duplicated per process, forks);
            the name now gives "native" with a DeprecationWarning
==========  ==================================================================

Bad files (``on_error``):

============  ======================================================================
on_error      a corrupt, unsupported (PNG, GIF, CMYK, 12-bit ...) or too-large file
============  ======================================================================
"raise"       raises its FreqloadError (DecodeError / UnsupportedImageError /
              ImageTooLargeError) with the file's path and libjpeg's message, as the
              engine reported it (the file is not decoded again)
"skip"        dropped from its batch (that batch is one shorter; a batch left
              empty is not yielded); counted in ``loader.stats.skipped``
"fallback"    unsupported files are decoded by Pillow and forward-transformed
              (not the file's own coefficients; ``stats.fallback``) by the engine,
              where the sample is made (:mod:`freqload.loading.engines.fallback`);
              corrupt or too-large ones are skipped as above
============  ======================================================================

The verdict on a file is the same in every epoch, engine and thread, whatever was
decoded before it (each image gets a fresh libjpeg decompressor, and a partial decode
that skipped a stray marker decodes the file whole): with the defaults, an epoch over
good photos plus every corrupt file of the shared corpus yields exactly the photos.
The one exception is marker-free damage below the rows a sample reads (see the recipe's
``partial_decode``).

Shards, epochs and the last batch: see :mod:`freqload.loading.sampler` (every epoch
visits every sample exactly once across all shards with ``drop_last=False``).
The loader advances its epoch after each complete pass; ``set_epoch(e)``
sets it explicitly, as with torch's DistributedSampler; ``state_dict()`` and
``load_state_dict()`` resume in the middle of an epoch, reading nothing twice.

Sources: folders, lists and tar shards, local or at ``s3://`` / ``http(s)://`` URLs
(:mod:`freqload.data.sources`, :mod:`freqload.data.shards`, :mod:`freqload.data.remote`).
What each sample reads is a byte range of a file (a whole image file, or a shard's
member), read by the core on the engine's threads.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..codec.recipe import Recipe
from ..codec.transform import sample_keys
from ..data.packs import check_mask, check_mask_for_paths
from ..data.shards import ShardSet
from ..data.sources import as_source
from ..errors import DecodeError
from .device import Normalize, PostStage
from .epochs import EpochLoader, TransferStats, moved_keywords
from .host_batch import OK, STATUS_ERRORS, STATUS_NAMES, UNREADABLE, HostBatch, layout_view
from .regroup import DeviceRegroup

ENGINES = ("auto", "native", "dali", "torch")  # "torch": deprecated, gives "native"
ON_ERROR = ("raise", "skip", "fallback")


@dataclass
class LoaderStats(TransferStats):
    """Cumulative counts over the loader's life (all epochs); bytes_to_device and
    samples_to_device from TransferStats."""
    decoded: int = 0   #: samples decoded from their own coefficients
    skipped: int = 0   #: samples dropped by on_error="skip" / "fallback"
    fallback: int = 0  #: samples decoded from pixels by on_error="fallback"


class DCTLoader(EpochLoader):
    """Frequency-domain batches from JPEGs, on the device.

    What each image becomes is the :class:`~freqload.Recipe` (mask, grid size, transform,
    chroma, decode options, orientation: all documented there); the loader's own
    arguments say how samples are batched, ordered, made and delivered.

    Args:
        source: where the samples are: an ImageFolder-style root (sorted class folders give
            labels), a list of (path, label), a list of paths (label -1), a .txt file
            list, tar shards (``"train-{000000..000146}.tar"``, a glob or a list; local,
            ``s3://`` or ``http(s)://``), or a :class:`~freqload.Source` with the options
            of reading them (``label_key``, ``label_fn``, ``cache_dir``,
            ``shuffle_buffer``). See :mod:`freqload.data.sources`.
        recipe: what each image becomes (:class:`~freqload.Recipe`). Default: the
            ``"train"`` transform when ``train`` else ``"eval"``, mask dctnet24, a 56x56
            block grid, EXIF orientation applied.
        batch_size: samples per batch.
        train: training mode: shuffles by default, and picks the train transform when no
            recipe is given.
        mask, size: shortcuts that replace the recipe's mask and grid
            (``DCTLoader(src, batch_size=64, size=28)``).
        shuffle: permute every epoch (default: ``train``).
        seed: seeds the per-epoch permutation and the train transform's draws (same seed,
            same order, same crops and flips, in both engines).
        drop_last: see the last-batch table in :mod:`freqload.loading.sampler`.
        num_workers: decoding threads: the native pool's / DALI's (default: CPUs
            available; 0: the native engine decodes in the consuming thread, DALI runs one
            thread); the name RGBLoader and torch's DataLoader use. ``num_threads`` is its
            deprecated alias (a DeprecationWarning; both at once is an error).
        prefetch: batches in flight ahead of the one being consumed (the native pool's
            queue / DALI's queue depth).
        device: where batches go (default cuda when available, else cpu).
        engine: "auto" (= "native"), "native" or "dali" (table above).
        normalize: None -> float32 raw dequantised values; a stats file path or
            :class:`~freqload.ChannelStats` -> float32 (x - mean) / std per channel;
            False -> the int16 values as they crossed.
        on_error: "raise", "skip" or "fallback" (table above).
        shard_id, num_shards: this rank's shard; default from torch.distributed when it
            is initialised, else a single shard.

    The keywords DCTLoader took before the recipe and the source were objects (``chroma``,
    ``transform``, ``scale`` ... ``orientation``; ``label_key``, ``label_fn``,
    ``cache_dir``, ``shuffle_buffer``) still work, with a DeprecationWarning saying where
    each goes (:func:`freqload.loading.epochs.moved_keywords`).

    Iterating yields ``(x, y)``: x float32 ``[B, C, out_h, out_w]`` (int16 with
    ``normalize=False``), y int64 ``[B]``, both on ``device``. With the defaults a
    batch of 64 is x [64, 24, 56, 56]; 150,528 bytes per sample cross to the device
    (a quarter of uint8 RGB at 448x448).
    """

    stats: LoaderStats

    def __init__(self, source, recipe: Recipe | None = None, *, batch_size: int,
                 train: bool = False, mask=None, size=None, shuffle: bool | None = None,
                 seed: int = 0, drop_last: bool = False, num_workers: int | None = None,
                 prefetch: int = 2, device=None, engine: str = "auto", normalize=None,
                 on_error: str = "raise", shard_id: int | None = None,
                 num_shards: int | None = None, num_threads: int | None = None, **moved):
        if moved:  # the keywords before the recipe and the source were objects
            recipe, source = moved_keywords("DCTLoader", moved, recipe=recipe, source=source,
                                            train=train)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if engine == "torch":
            warnings.warn('DCTLoader(engine="torch") is deprecated: the worker-process engine '
                          'was removed; engine="native" (the core\'s own threads, the same '
                          'samples) is used instead', DeprecationWarning, stacklevel=2)
            engine = "native"
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        if num_threads is not None:
            if num_workers is not None:
                raise ValueError("pass num_workers only (num_threads is its deprecated name)")
            warnings.warn("DCTLoader(num_threads=...) is deprecated: use num_workers=... (the "
                          "same count: DALI threads or torch worker processes)",
                          DeprecationWarning, stacklevel=2)
            num_workers = num_threads
        if recipe is None:
            recipe = Recipe(transform="train" if train else "eval")
        elif not isinstance(recipe, Recipe):
            raise TypeError(f"recipe must be a freqload.Recipe, got {type(recipe).__name__}")
        shortcuts = {k: v for k, v in (("mask", mask), ("size", size)) if v is not None}
        #: everything that decides a sample, checked once (freqload.codec.recipe)
        self.recipe = recipe.replace(**shortcuts) if shortcuts else recipe
        self.mask = self.recipe.channel_mask
        self.size = self.recipe.grid
        self.transform = self.recipe.spec
        source = as_source(source)
        # data inside a freqload pack (at its root or any folder below) must hold the
        # mask's bands: the dropped ones would read as zeros
        folder = isinstance(source.spec, (str, os.PathLike)) and os.path.isdir(source.spec)
        if folder:
            check_mask(os.fspath(source.spec), self.mask)
        if max(self.size) > 128:
            h, w = self.size
            warnings.warn(f"DCTLoader: size is in 8x8 blocks: {self.size} is a "
                          f"{8 * h}x{8 * w}-pixel grid; for {h}x{w} pixels pass "
                          f"size=({max(1, h // 8)}, {max(1, w // 8)})", stacklevel=2)
        dataset = source.resolve()
        dataset.report_damage(on_error, "DCTLoader")
        if isinstance(dataset, ShardSet):
            if dataset.cache is None:  # shards written by freqload pack --format tar
                check_mask_for_paths(dataset.files, self.mask)
        elif not folder:  # a list: the folders its files lie in
            check_mask_for_paths(dataset.paths, self.mask)
        # batch size, shuffling, seed, shards, device, workers: as every loader does
        self._setup_epochs(dataset, batch_size=batch_size, train=train, shuffle=shuffle,
                           seed=seed, drop_last=drop_last, shard_id=shard_id,
                           num_shards=num_shards, device=device, num_workers=num_workers,
                           prefetch=prefetch, shuffle_buffer=source.shuffle_buffer)
        self.on_error = on_error
        self.regroup = self.recipe.regroup
        self._device_regroup = None
        if self.regroup == "device":
            self._device_regroup = DeviceRegroup(self.recipe)
        self.normalize = normalize
        norm = normalize if normalize is None or normalize is False else \
            Normalize.from_stats(normalize, self.mask)
        #: the batch's tail on the device (freqload.loading.device): regroup, then float /
        #: normalise
        self.post = PostStage(norm, self._device_regroup).to(self.device)
        self.stats = LoaderStats()
        self.epoch = 0
        self.engine = self._make_engine(engine)

    # -- set-up --------------------------------------------------------------------
    def _make_engine(self, engine: str):
        pin = self.device.type == "cuda"
        paths = self.dataset  # what each sample reads: dataset.where(i)
        fallback = self.on_error == "fallback"  # the engine makes those samples from pixels
        if engine == "dali":  # raises OperatorBuildError with what to install
            from .engines.dali_engine import DaliEngine

            return DaliEngine(paths, self.recipe, num_threads=self.num_workers,
                              prefetch=self.prefetch, pin=pin, batch_size=self.batch_size,
                              fallback=fallback)
        from .engines.native_engine import NativeEngine

        return NativeEngine(paths, self.recipe, num_workers=self.num_workers,
                            prefetch=self.prefetch, pin=pin, fallback=fallback)

    @property
    def num_threads(self) -> int:
        """Deprecated name of :attr:`num_workers`."""
        return self.num_workers

    # -- the torch DataLoader surface (len, set_epoch: sampler.EpochLoader) -------------
    def _expected_bytes_per_sample(self) -> int:  # bytes_per_sample: sampler.EpochLoader
        return self.recipe.channels * self.recipe.out_h * self.recipe.out_w * 2

    def host_batches(self, epoch: int):
        """The engine's HostBatches of ``epoch`` for this shard, before the error policy
        (from where a loaded state left off)."""
        batches = self._epoch_batches(epoch)
        self.dataset.begin_epoch(batches)  # remote shards: fetched ahead, in this order
        if self.transform.kind == "train" or self.recipe.augment is not None:
            keys = [sample_keys(self.seed, epoch, b) for b in batches]
        else:
            keys = [np.zeros(len(b), dtype=np.uint64) for b in batches]
        return self.engine.batches(batches, keys)

    def __iter__(self):
        epoch = self.epoch
        for j, hb in enumerate(self.host_batches(epoch)):
            self._position += 1  # consumed, even when the policy leaves nothing to yield
            self.dataset.batch_done(j)  # remote shards: a temporary copy no longer read
            hb = self._apply_policy(hb)
            if len(hb.index) == 0:
                continue
            yield self._to_device(hb)
        self._end_epoch(epoch)

    # -- per batch ------------------------------------------------------------------
    def _raise_for(self, i: int, status: int, message: str):
        """The error of a sample the engine flagged, with the engine's own message (the
        core's, libjpeg's included): nothing is decoded again to find out."""
        path = self.dataset.names[i]
        name = STATUS_NAMES.get(status, "?")
        cls = STATUS_ERRORS.get(status, DecodeError)
        hint = ('; DCTLoader(on_error="skip") drops such files (counted in loader.stats), '
                '"fallback" also decodes unsupported ones from their pixels')
        if message:
            raise cls(f"{path}: {message}{hint}")
        # no message (a status set outside the core): still never let it pass under "raise"
        raise cls(f"{path}: failed with status {status} ({name}) in the {self.engine.name} "
                  f"engine{hint}")

    def _apply_policy(self, hb: HostBatch) -> HostBatch:
        """The error policy on a finished batch: the engine already made every sample it
        could (the pixel fallback included, in its own slot); what is left failed, and
        so did the samples the source's index found bad (a tar sample without an image
        or a label)."""
        n = len(hb.index)
        messages = hb.messages
        if messages is None:  # every engine gives them; a batch made elsewhere may not
            messages = [""] * n
            hb = hb._replace(messages=messages)
        if self.dataset.problems:
            for k, i in enumerate(hb.index.tolist()):
                if i in self.dataset.problems:
                    hb.status[k] = UNREADABLE
                    messages[k] = self.dataset.problems[i]
                    if hb.from_pixels is not None:
                        hb.from_pixels[k] = False
        fell_back = int(hb.from_pixels.sum()) if hb.from_pixels is not None else 0
        self.stats.fallback += fell_back
        keep = hb.status == OK
        bad = np.nonzero(~keep)[0]
        self.stats.decoded += n - len(bad) - fell_back
        if len(bad) == 0:
            return hb
        if self.on_error == "raise":
            k = bad[0]
            self._raise_for(int(hb.index[k]), int(hb.status[k]), messages[k])
        self.stats.skipped += len(bad)
        rows = torch.from_numpy(np.nonzero(keep)[0])
        if hb.offsets is not None and hb.layouts is not None:  # regroup="device": per-sample
            total = layout_view(hb.layouts)["total"].astype(np.int64)  # planes back to back
            starts = hb.offsets
            x = torch.cat([hb.x[starts[k]:starts[k] + total[k]] for k in rows.tolist()]
                          or [hb.x[:0]])
            offsets = np.concatenate([[0], np.cumsum(total[keep])[:-1]]).astype(np.int64)
            out = HostBatch(x, hb.index[keep], hb.status[keep], offsets, hb.layouts[keep])
        else:
            out = HostBatch(hb.x.index_select(0, rows), hb.index[keep], hb.status[keep])
        return out._replace(x=out.x.pin_memory()) if hb.x.is_pinned() and len(rows) else out

    def _to_device(self, hb: HostBatch):
        y = torch.from_numpy(self.dataset.labels[hb.index])
        self.stats.add(hb.x, len(hb.index))  # regroup="device": x is the planes back to back
        if self.device.type != "cpu":
            x = hb.x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
        else:
            x = hb.x
        x = self.post(x, hb.offsets, hb.layouts)
        if self._device_regroup is not None:  # the quant tables it moved itself
            self.stats.bytes_to_device += self._device_regroup.last_bytes
        return x, y

    def __repr__(self) -> str:
        return (f"DCTLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
                f"mask={self.mask!r} ({len(self.mask)} channels), size={self.size}, "
                f"engine={self.engine.name!r}, shard {self.sampler.shard_id}/"
                f"{self.sampler.num_shards}, device={self.device})")
