"""Which samples each shard visits in each epoch, and in what batches.

Every epoch is a permutation of all N samples (seeded by ``seed`` and the
epoch number when shuffling, else file order); shard ``s`` of ``S`` takes
every S-th sample of it, starting at ``s``. So with ``drop_last=False`` each
epoch visits every sample exactly once across all shards, and shard sizes
differ by at most one. The last batch:

=================  ==========  ========================================  =====================
N per shard        batch_size  drop_last=False                           drop_last=True
=================  ==========  ========================================  =====================
10                 4           batches of 4, 4, 2 (len 3)                4, 4 (len 2)
8                  4           4, 4 (len 2)                              4, 4 (len 2)
3                  4           3 (len 1)                                 none (len 0)
10, 9, 9 (N=28,    4           3, 3, 3 batches; the last holds 2, 1, 1   every shard yields
3 shards)                                                                floor(9 / 4) = 2
=================  ==========  ========================================  =====================

With ``drop_last=True`` every shard yields ``floor(floor(N / S) / batch_size)``
batches, the same number on every rank (what DistributedDataParallel
needs); the samples left over are not seen that epoch (others will be,
since the permutation changes). With ``drop_last=False`` ranks may differ by
one batch when N is not a multiple of S * batch_size.

Tar shard sources order their samples as :class:`ShardPlan` says (shard files shuffled,
a bounded shuffle buffer, a contiguous part per rank), with the same last-batch rules.
The loaders keep their position in the epoch's plan, so ``state_dict()`` /
``load_state_dict()`` (:class:`EpochLoader`) resume exactly where a run stopped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


class EpochPlan:
    """Sample order and batches for one shard.

    Args:
        num_samples: N.
        batch_size: samples per batch.
        shuffle: permute every epoch (seeded) or keep file order.
        seed: the permutation of epoch e is ``default_rng([seed, e]).permutation(N)``.
        shard_id, num_shards: this shard and how many there are.
        drop_last: see the module docstring.
    """

    def __init__(self, num_samples: int, batch_size: int, *, shuffle: bool, seed: int,
                 shard_id: int, num_shards: int, drop_last: bool):
        if num_shards < 1 or not 0 <= shard_id < num_shards:
            raise ValueError(f"need 0 <= shard_id < num_shards, got {shard_id}/{num_shards}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.shard_id = int(shard_id)
        self.num_shards = int(num_shards)
        self.drop_last = bool(drop_last)

    def order(self, epoch: int) -> np.ndarray:
        """int64 indices this shard visits in ``epoch``, in order."""
        if self.shuffle:
            perm = np.random.default_rng([self.seed, int(epoch)]).permutation(self.num_samples)
        else:
            perm = np.arange(self.num_samples)
        mine = perm[self.shard_id::self.num_shards]
        if self.drop_last:
            mine = mine[:len(self) * self.batch_size]
        return mine.astype(np.int64)

    def batches(self, epoch: int) -> list[np.ndarray]:
        o = self.order(epoch)
        return [o[i:i + self.batch_size] for i in range(0, len(o), self.batch_size)]

    def identity(self) -> dict:
        """What decides this plan's batches, for checking a saved loader state."""
        return {"plan": "files", "samples": self.num_samples, "batch_size": self.batch_size,
                "shuffle": self.shuffle, "seed": self.seed, "drop_last": self.drop_last,
                "shard_id": self.shard_id, "num_shards": self.num_shards}

    def __len__(self) -> int:
        if self.drop_last:
            return (self.num_samples // self.num_shards) // self.batch_size
        n = len(range(self.shard_id, self.num_samples, self.num_shards))
        return -(-n // self.batch_size)


class ShardPlan(EpochPlan):
    """Sample order and batches for one loader shard (rank) over tar shard files.

    Args:
        counts: samples per shard file, in the source's order (sample ids run through the
            files in that order).
        shuffle_buffer: the shuffle buffer's size in samples (see below).
        The rest as :class:`EpochPlan`.

    The order of epoch e (shuffle on):

    1. the shard files in the order ``default_rng([seed, e, 0]).permutation(files)``;
    2. their samples streamed file after file, in member order, through a shuffle buffer
       of ``shuffle_buffer`` samples drawn with ``default_rng([seed, e, 1])``
       (:func:`freqload.shards.buffer_shuffle`: a sample moves at most that many places);
    3. rank ``r`` of ``R`` takes the contiguous part ``[r * N // R, (r + 1) * N // R)`` of
       that stream, so it reads about 1/R of the shard files (plus the buffer's overlap).

    Shuffle off: files in order, members in order, no buffer. Either way every epoch
    visits every sample exactly once across ranks, shard files of any sizes, and ranks
    differ by at most one sample; the last-batch rules are EpochPlan's. Workers (torch
    DataLoader processes, DALI threads) each take whole batches of their rank.

    A worked example: 3 shard files of 5, 4 and 3 samples (N = 12), 2 ranks, batch 4:

    =====  ==============================  ===================  =================
    rank   its part of the epoch's stream  batches              drop_last=True
    =====  ==============================  ===================  =================
    0      stream[0:6]                     4, 2 (len 2)         4 (len 1)
    1      stream[6:12]                    4, 2 (len 2)         4 (len 1)
    =====  ==============================  ===================  =================

    Uneven files shift where a rank's part starts, not how many samples it gets: with
    files of 9, 2 and 1 samples, rank 0 still takes 6 (all from the first file in
    stream order, when it comes first) and rank 1 the other 6.
    """

    def __init__(self, counts, batch_size: int, *, shuffle: bool, seed: int, shard_id: int,
                 num_shards: int, drop_last: bool, shuffle_buffer: int):
        counts = np.asarray(counts, dtype=np.int64)
        super().__init__(int(counts.sum()), batch_size, shuffle=shuffle, seed=seed,
                         shard_id=shard_id, num_shards=num_shards, drop_last=drop_last)
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")
        self.counts = counts
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.shuffle_buffer = int(shuffle_buffer)
        self._cached = (None, None)

    def stream(self, epoch: int) -> np.ndarray:
        """All N sample ids of ``epoch`` in stream order (every rank's parts together)."""
        if self._cached[0] == epoch:
            return self._cached[1]
        from .shards import buffer_shuffle

        files = (np.random.default_rng([self.seed, int(epoch), 0]).permutation(len(self.counts))
                 if self.shuffle else np.arange(len(self.counts)))
        out = np.concatenate([np.arange(self.starts[f], self.starts[f] + self.counts[f])
                              for f in files]).astype(np.int64)
        if self.shuffle:
            out = buffer_shuffle(out, self.shuffle_buffer,
                                 np.random.default_rng([self.seed, int(epoch), 1]))
        self._cached = (epoch, out)
        return out

    def identity(self) -> dict:
        import hashlib

        return dict(super().identity(), plan="shards", shuffle_buffer=self.shuffle_buffer,
                    shard_files=len(self.counts),
                    counts_sha1=hashlib.sha1(self.counts.tobytes()).hexdigest()[:16])

    def _part(self) -> tuple[int, int]:
        n, r, k = self.num_samples, self.shard_id, self.num_shards
        return r * n // k, (r + 1) * n // k

    def order(self, epoch: int) -> np.ndarray:
        lo, hi = self._part()
        mine = self.stream(epoch)[lo:hi]
        if self.drop_last:
            mine = mine[:len(self) * self.batch_size]
        return mine

    def __len__(self) -> int:
        if self.drop_last:
            return (self.num_samples // self.num_shards) // self.batch_size
        lo, hi = self._part()
        return -(-(hi - lo) // self.batch_size)


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


def resolve_device(device=None) -> "torch.device":  # noqa: F821
    """``device`` as a torch.device (None: cuda when available, else cpu); a CUDA device
    without a GPU torch can use is refused here (ValueError), not at the first batch."""
    import torch

    d = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}, but torch sees no CUDA GPU "
                         "(torch.cuda.is_available() is False): use device='cpu', or a "
                         "CUDA build of torch on a machine with a GPU")
    return d


def default_workers() -> int:
    """The CPUs this process may use (the loaders' default num_workers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def shards_of(shard_id, num_shards) -> tuple[int, int]:
    """(shard_id, num_shards): as given (both or neither), else this rank of an initialised
    torch.distributed group, else (0, 1)."""
    if shard_id is None and num_shards is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1
    if shard_id is None or num_shards is None:
        raise ValueError("give both shard_id and num_shards, or neither")
    return int(shard_id), int(num_shards)


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
            from .sources import source_digest

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
        import dataclasses

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
        import dataclasses
        import warnings

        from .schema import Document

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
