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
``load_state_dict()`` (:class:`freqload.loading.epochs.EpochLoader`) resume exactly where
a run stopped.
"""
from __future__ import annotations

import hashlib
import os

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
        batch_size, shuffle, seed, shard_id, num_shards, drop_last: as :class:`EpochPlan`.

    The order of epoch e (shuffle on):

    1. the shard files in the order ``default_rng([seed, e, 0]).permutation(files)``;
    2. their samples streamed file after file, in member order, through a shuffle buffer
       of ``shuffle_buffer`` samples drawn with ``default_rng([seed, e, 1])``
       (:func:`buffer_shuffle`: a sample moves at most that many places);
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
        self._cached: tuple[int | None, np.ndarray | None] = (None, None)

    def stream(self, epoch: int) -> np.ndarray:
        """All N sample ids of ``epoch`` in stream order (every rank's parts together)."""
        cached_epoch, cached = self._cached
        if cached_epoch == epoch and cached is not None:
            return cached
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


def buffer_shuffle(stream: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The order a shuffle buffer of ``size`` samples gives a stream: fill the buffer, then
    for each next sample emit a uniformly drawn buffer slot and put the new one there; at
    the end emit what is left in a random order. Each sample moves at most ``size``
    places earlier than it arrived, so a reader needs only the shard files the window
    spans. Deterministic in ``rng``."""
    n = len(stream)
    if size <= 1 or n <= 1:
        return stream.copy()
    size = min(size, n)
    draws = rng.integers(0, size, n - size).tolist()
    b = stream[:size].tolist()  # Python ints: this loop runs once per sample
    src = stream.tolist()
    out = []
    for j, slot in zip(range(size, n), draws):
        out.append(b[slot])
        b[slot] = src[j]
    tail = np.asarray(b, dtype=stream.dtype)[rng.permutation(size)]
    return np.concatenate([np.asarray(out, dtype=stream.dtype), tail])


__all__ = ["EpochPlan", "ShardPlan", "buffer_shuffle", "default_workers", "shards_of"]
