"""What every loader shares: its epochs, its length, and an exact resume.

:class:`EpochLoader` holds the arguments DCTLoader and RGBLoader both take (batch size,
shuffling, seed, shards, device, workers), ``len()`` (batches per epoch of this shard),
``set_epoch`` as torch's DistributedSampler has it, the bytes that crossed to the device
(:class:`TransferStats`), and ``state_dict()`` / ``load_state_dict()``: where the loader
is in its epoch, so a new loader yields exactly the batches the interrupted one had not.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from ..codec.recipe import Recipe
from ..codec.transform import Transform
from ..data.sources import Source, source_digest
from ..schema import Document
from .device import resolve_device
from .sampler import EpochPlan, ShardPlan, default_workers, shards_of


@dataclass
class TransferStats:
    """What crossed host -> device over a loader's life (all epochs)."""
    bytes_to_device: int = 0  #: bytes of x copied host -> device (or handed over on cpu)
    samples_to_device: int = 0

    def add(self, x, samples: int | None = None) -> None:
        """Count a batch tensor ``x`` that crosses: [B, ...], or ``samples`` samples'
        data in any shape (regroup="device" planes, back to back)."""
        self.bytes_to_device += x.numel() * x.element_size()
        self.samples_to_device += x.shape[0] if samples is None else int(samples)


class EpochLoader:
    """What DCTLoader and RGBLoader share: the set-up of their common arguments
    (:meth:`_setup_epochs`: batch size, shuffling, seed, shards, device, workers),
    ``len()`` = batches per epoch of this shard (``self.sampler``), ``set_epoch`` as
    torch's DistributedSampler has it, and ``bytes_per_sample`` measured from what crossed
    (``self.stats``, a TransferStats)."""

    sampler: EpochPlan
    epoch: int
    stats: TransferStats

    def _setup_epochs(self, dataset, *, batch_size, train, shuffle, seed, drop_last, shard_id,
                      num_shards, device, num_workers, prefetch, shuffle_buffer=1000) -> None:
        """Check and keep the arguments every loader takes, the same way for each: sets
        dataset, batch_size, train, seed, sampler (an EpochPlan of this shard), device
        (default cuda when available), num_workers (default: the CPUs available), prefetch
        and epoch 0."""
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.train = bool(train)
        self.seed = int(seed)
        shard_id, num_shards = shards_of(shard_id, num_shards)
        kw = dict(shuffle=self.train if shuffle is None else bool(shuffle), seed=self.seed,
                  shard_id=shard_id, num_shards=num_shards, drop_last=drop_last)
        counts = getattr(dataset, "counts", None)  # tar shards: samples per shard file
        self.sampler = (EpochPlan(len(dataset), self.batch_size, **kw) if counts is None else
                        ShardPlan(counts, self.batch_size, shuffle_buffer=shuffle_buffer, **kw))
        self.device = resolve_device(device)
        # None: all CPUs this process may use; 0: work in this process
        self.num_workers = default_workers() if num_workers is None else int(num_workers)
        self.prefetch = int(prefetch)
        self.epoch = 0
        self._position = 0   # batches of the plan consumed in the epoch being iterated
        self._resume_at = 0  # where the next iteration starts (load_state_dict)

    @property
    def classes(self):
        """The class names, in label order, where the source has them (an ImageFolder's
        class folders, string labels), else None."""
        return getattr(self.dataset, "classes", None)

    @property
    def bytes_per_sample(self) -> int:
        """Bytes of x per sample that crossed host -> device (measured once batches flowed;
        before that what one sample is expected to take)."""
        if self.stats.samples_to_device:
            return self.stats.bytes_to_device // self.stats.samples_to_device
        return self._expected_bytes_per_sample()

    def _expected_bytes_per_sample(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        """Batches per epoch for this shard (before any skipped samples)."""
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Iterate epoch ``epoch`` next (from its start, unless a state was just loaded
        for that epoch)."""
        if int(epoch) != self.epoch:
            self._resume_at = 0
        self.epoch = int(epoch)

    # -- exact mid-epoch resume (the torchdata StatefulDataLoader convention) ------------
    def _epoch_batches(self, epoch: int) -> list:
        """The plan's batches of ``epoch`` from where the next iteration starts: the
        start, or the batch after the last one a loaded state had consumed."""
        start, self._resume_at = self._resume_at, 0
        self._position = start
        return self.sampler.batches(epoch)[start:]

    def _end_epoch(self, epoch: int) -> None:
        self.epoch = epoch + 1
        self._position = 0

    def _source_identity(self) -> str:
        """What the source is, for checking a saved state: a digest of every sample's name
        (relative to the names' common folder, so a data set moved elsewhere is the same)
        and label; computed once per loader."""
        if getattr(self, "_source_sha1", None) is None:
            self._source_sha1 = source_digest(self.dataset)
        return self._source_sha1

    def state_dict(self) -> dict:
        """Where this loader is: the epoch, the batches of it consumed so far, and what
        decides its order and its samples (checked on load: the plan and a digest of the
        source's sample names and labels), plus its counters. Take it between batches
        (after batch k of an epoch); a loader given it by :meth:`load_state_dict` yields
        batch k+1 of that epoch next, exactly the batches the uninterrupted iteration
        would have, without reading or decoding the first k again. A plain dict of
        numbers and strings (torch.save / json)."""
        epoch, done = self.epoch, self._position
        if done and done >= len(self.sampler):  # the last batch taken, the loop not yet
            epoch, done = epoch + 1, 0          # ended: the epoch is complete
        return {"format": "freqload-loader-state", "version": 1, "epoch": epoch,
                "batches_done": done,
                "plan": dict(self.sampler.identity(), source=self._source_identity()),
                "stats": dataclasses.asdict(self.stats)}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s state: the next iteration yields the rest of
        its epoch. The loader must be made the same way (the same source - its samples'
        names and labels -, batch size, seed, shuffling, shards of the same count and id,
        ...); ValueError says what differs. The state is checked whole first: a field
        missing or of the wrong kind raises :class:`~freqload.errors.ManifestError` (a
        ValueError) naming it."""
        doc = Document(state, "the loader state")
        d = doc.mapping(state)
        if d.get("format") != "freqload-loader-state":
            raise ValueError("not a freqload loader state (from loader.state_dict())")
        version = doc.field(d, "version")
        if version != 1:
            raise ValueError(f"loader state version {version!r} is not supported by this "
                             "freqload (1)")
        epoch = doc.integer(doc.field(d, "epoch"), "epoch")
        done = doc.integer(doc.field(d, "batches_done"), "batches_done")
        theirs = dict(doc.mapping(doc.field(d, "plan"), "plan"))
        stats = doc.mapping(doc.field(d, "stats", required=False, default={}), "stats")
        known = {f.name for f in dataclasses.fields(self.stats)}
        counters = {k: doc.integer(v, f"stats.{k}") for k, v in stats.items() if k in known}
        mine = dict(self.sampler.identity(), source=self._source_identity())
        if "source" not in theirs:
            warnings.warn("the loader state does not identify its source (an older freqload "
                          "saved it): its plan is checked, its samples cannot be",
                          stacklevel=2)
            theirs["source"] = mine["source"]
        diff = [f"{k}: {theirs.get(k)!r} in the state, {mine.get(k)!r} here"
                for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
        if diff:
            what = ("is of a loader over another source (its samples' names or labels "
                    "differ)" if diff[0].startswith("source:") and len(diff) == 1 else
                    "is of a loader that orders its samples differently")
            raise ValueError(f"the state {what}: " + "; ".join(diff))
        if not done <= len(self.sampler):
            raise ValueError(f"batches_done {done} is outside this epoch's "
                             f"{len(self.sampler)} batches")
        self.epoch = epoch
        self._resume_at = self._position = done
        self.stats = type(self.stats)(**counters)


#: keywords the loaders took before the recipe and the source became objects, by the object
#: each belongs to now; still accepted, with a DeprecationWarning (see moved_keywords)
RECIPE_KEYWORDS = ("chroma", "dequantize", "strict", "max_pixels", "regroup", "max_file_size",
                   "max_scans", "max_memory", "partial_decode", "orientation")
TRANSFORM_KEYWORDS = ("transform", "scale", "ratio", "flip", "crop_ratio")
SOURCE_KEYWORDS = ("label_key", "label_fn", "cache_dir", "shuffle_buffer")


def moved_keywords(who: str, keywords: dict, *, recipe, source, train: bool,
                   takes_recipe: bool = True):
    """(recipe, source) with the old keywords put where they belong now: the recipe's
    (``chroma=``, ``transform=``, ``scale=`` ...) into a :class:`~freqload.Recipe` (the
    transform's kind defaulting to "train" or "eval" by ``train``, as before), the
    source's (``label_key=``, ``cache_dir=`` ...) into a :class:`~freqload.Source`. One
    DeprecationWarning says where each went. TypeError for a keyword no loader takes, and
    for old keywords beside the object they belong to."""
    recipe_names = (RECIPE_KEYWORDS + TRANSFORM_KEYWORDS) if takes_recipe else ()
    unknown = [k for k in keywords if k not in recipe_names + SOURCE_KEYWORDS]
    if unknown:
        raise TypeError(f"{who}() got unexpected keyword argument(s) "
                        f"{', '.join(map(repr, unknown))}")
    for_recipe = {k: v for k, v in keywords.items() if k in recipe_names}
    for_source = {k: v for k, v in keywords.items() if k in SOURCE_KEYWORDS}
    hints = []
    if for_recipe:
        if recipe is not None:
            raise TypeError(f"{who}: {', '.join(for_recipe)} go in the recipe given, not "
                            "beside it")
        kind = for_recipe.pop("transform", None) or ("train" if train else "eval")
        params = {k: for_recipe.pop(k) for k in TRANSFORM_KEYWORDS[1:] if k in for_recipe}
        params = {k: tuple(v) if k in ("scale", "ratio") else v for k, v in params.items()}
        transform = (dataclasses.replace(kind, **params) if isinstance(kind, Transform)
                     else Transform(kind, **params))
        recipe = Recipe(transform=transform, **for_recipe)
        hints.append(f"{who}(source, recipe=freqload.Recipe(...)) for "
                     f"{', '.join(k for k in keywords if k in recipe_names)}")
    if for_source:
        if isinstance(source, Source):
            raise TypeError(f"{who}: {', '.join(for_source)} go in the Source given, not "
                            "beside it")
        source = Source(source, **for_source)
        hints.append(f"{who}(freqload.Source(path, ...)) for {', '.join(for_source)}")
    warnings.warn(f"{who}: these keywords are deprecated and will be removed; use "
                  + "; ".join(hints), DeprecationWarning, stacklevel=3)
    return recipe, source


__all__ = ["EpochLoader", "TransferStats", "moved_keywords", "RECIPE_KEYWORDS",
           "TRANSFORM_KEYWORDS", "SOURCE_KEYWORDS"]
