"""The native engine: the core's own thread pool decodes whole batches into the batch's
buffer (pinned when the device is CUDA). No worker processes, no Python per sample.

Per epoch the engine starts a :class:`freqload._core.Pool` of ``num_workers`` threads
(``fl_pool``, each with its own decoder; 0: the consuming thread decodes) and hands it
batches: one ``submit`` per batch with the batch's file entries, byte ranges and keys
as arrays (:class:`.slots.FileTable`), and the buffers each sample's output, status,
layout and message go to. ``prefetch`` batches stay in flight; the threads take samples
from the oldest batch first and move on to the next without waiting for the batch to be
handed over. Each sample is one ``fl_decode_items`` call, the same function the DALI
operator calls on its threads, so both engines give the same samples, statuses and
messages. The pixel fallback runs as the batch is taken (as in the DALI engine).

Stopping: leaving an epoch early (``break``), an exception in the loop, Ctrl-C during a
wait, or dropping the iterator cancels the batches in flight (samples not yet taken are
never decoded), waits for the samples being decoded, and joins the threads; nothing the
threads write into is freed before they are done with it. At interpreter exit every pool
still open is closed the same way. Nothing on this path forks.
"""
from __future__ import annotations

import atexit
import weakref
from collections import deque

import numpy as np
import torch

from ..._core import MESSAGE_MAX, Pool
from ...codec.recipe import Recipe
from ..host_batch import LAYOUT_INTS, UNSUPPORTED, HostBatch, ReusedBuffers
from .slots import FileTable, fall_back, messages_from_rows, pack_planes

# every pool open now, closed at interpreter exit (their threads joined)
_OPEN: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_pools():
    for pool in list(_OPEN):
        pool.close()


class _Batch:
    """One submitted batch: the job and the buffers it writes into."""

    __slots__ = ("job", "index", "keys", "x", "status", "layouts", "messages")

    def __init__(self, engine: NativeEngine, pool, index: np.ndarray, keys: np.ndarray):
        r = engine.recipe
        n = len(index)
        self.layouts: np.ndarray | None
        self.index = index
        self.keys = np.ascontiguousarray(keys, dtype=np.uint64)
        if r.regroup == "device":  # fixed-capacity slots, packed after
            self.x = torch.from_numpy(engine.buffers.take((n, r.out_elements)))
            self.layouts = np.empty((n, LAYOUT_INTS), dtype=np.int32)
        else:  # the batch's own buffer: what the loader hands on
            shape = (n, r.channels, r.out_h, r.out_w)
            # pinned: torch's caching host allocator reuses its blocks itself
            self.x = (torch.empty(shape, dtype=torch.int16, pin_memory=True) if engine.pin
                      else torch.from_numpy(engine.buffers.take(shape)))
            self.layouts = None
        self.status = np.empty(n, dtype=np.int32)
        self.messages = np.empty((n, MESSAGE_MAX), dtype=np.uint8)
        t = engine.table
        self.job = pool.submit(engine.packed, t.blob, t.starts, t.lengths, t.files(index),
                               self.keys, self.x.numpy(), self.status, self.layouts,
                               self.messages, None if t.ranges is None else t.byte_ranges(index))


class NativeEngine:
    name = "native"

    def __init__(self, samples, recipe: Recipe, *, num_workers: int, prefetch: int, pin: bool,
                 fallback: bool = False):
        """samples: a sources.SampleList or shards.ShardSet (what each sample reads);
        num_workers: the pool's threads (0: the consuming thread decodes)."""
        self.samples = samples
        self.recipe = recipe
        self.packed = recipe.packed
        self.num_workers = max(0, int(num_workers))
        self.prefetch = max(1, int(prefetch))
        self.pin = bool(pin)
        self.fallback = bool(fallback)
        self.table = FileTable(samples)
        # in flight, the one being handed over, the consumer's current and previous one
        self.buffers = ReusedBuffers(self.prefetch + 3)

    def batches(self, batches: list[np.ndarray], keys: list[np.ndarray]):
        """HostBatch per index batch; keys: uint64 per sample (the train transform's draws)."""
        if not batches:
            return
        pool = Pool(self.num_workers)
        _OPEN.add(pool)
        inflight: deque[_Batch] = deque()
        todo = iter(zip(batches, keys))

        def submit() -> None:  # the next batch, if any, to the pool
            item = next(todo, None)
            if item is not None:
                b = np.ascontiguousarray(item[0], dtype=np.int64)
                self.samples.ready(b)  # remote shards: their local copies, fetched if need be
                inflight.append(_Batch(self, pool, b, item[1]))

        try:
            for _ in range(self.prefetch):
                submit()
            while inflight:
                batch = inflight[0]
                batch.job.wait()
                inflight.popleft()
                submit()  # the threads go on while this batch is handed over
                batch.job.release()
                yield self._finish(batch)
        finally:  # cancel what is in flight, wait for what is being decoded, join
            for batch in inflight:
                batch.job.cancel()
            for batch in inflight:
                batch.job.release()
            inflight.clear()
            pool.close()
            _OPEN.discard(pool)

    def _finish(self, b: _Batch) -> HostBatch:
        s = self.recipe
        st = b.status
        messages = messages_from_rows(b.messages, st)
        from_pixels = np.zeros(len(st), dtype=bool)
        retry = self.fallback and bool((st == UNSUPPORTED).any())
        if b.layouts is not None:  # regroup="device"
            planes = b.x.numpy()
            if retry:
                from_pixels = fall_back(self.samples, s, b.index, b.keys, st, messages, planes,
                                        b.layouts)
            host, offsets = pack_planes(planes, b.layouts, self.pin)
            return HostBatch(host, b.index, st, offsets, b.layouts, messages, from_pixels)
        if retry:
            from_pixels = fall_back(self.samples, s, b.index, b.keys, st, messages, b.x.numpy())
        return HostBatch(b.x, b.index, st, messages=messages, from_pixels=from_pixels)
