"""The DALI engine: a CPU pipeline of fn.external_source and fn.freqload.jpeg_to_dct.

One pipeline for the loader's life. Each epoch, a source callback hands DALI
the file paths of this shard's next batch in the epoch's order and raises
StopIteration at the epoch's end, so no work past the epoch is prefetched and
thrown away. ``fn.freqload.jpeg_to_dct(input="paths")`` reads and decodes each
file on DALI's C++ thread pool: no Python runs per sample. Each sample's index and key
ride along, tracing every output back to its file for labels, error messages, the error
policy and the pixel fallback. The operator's threads run no Python, so with
``fallback`` the engine makes an unsupported file's sample from its pixels
(:mod:`.fallback`) as it takes the batch from the pipeline, into that batch's buffer.
"""
from __future__ import annotations

import ctypes
import os
import weakref

import numpy as np
import torch

from ...codec.recipe import Recipe
from ..host_batch import LAYOUT_INTS, UNSUPPORTED, HostBatch
from .dali_build import load_operator
from .slots import FileTable, fall_back, messages_from_rows, pack_planes

# Every DALI pipeline made here (and by freqload.tools.bench: keep_in_children). A forked child
# (a torch DataLoader worker, a multiprocessing pool) has none of DALI's threads, so it
# must never destroy a pipeline it inherited: DALI's executor destructor then waits for
# those threads forever, holding the GIL. A pipeline left behind by an abandoned loop, not
# yet collected when the fork happens, would otherwise be collected in the child. So the
# child keeps them all, and freezes what the collector had not reached at the fork (a
# pipeline anyone made, caught in a reference cycle): the child never finalizes it.
_PIPELINES: weakref.WeakSet = weakref.WeakSet()
_KEPT_IN_CHILD: list = []


def keep_in_children(pipeline):
    """Register a DALI pipeline made outside this module (see above); returns it."""
    _PIPELINES.add(pipeline)
    return pipeline


def _keep_in_child(self):
    """A DALI Pipeline's __del__ in a forked child: keep its backend alive instead of
    shutting it down (that waits for the parent's threads, which the child lacks)."""
    pipe = getattr(self, "_pipe", None)
    if pipe is not None:
        _KEPT_IN_CHILD.append(pipe)


_GC_WAS_ENABLED = [True]


def _collector_off_for_the_fork():
    """Before a fork (this hook runs first: before-hooks run last-registered first): no
    collection until the child has made DALI's pipelines safe. Other at-fork hooks run
    before ours in the child and may allocate, which could start a collection there."""
    import gc

    _GC_WAS_ENABLED[0] = gc.isenabled()
    gc.disable()


def _collector_back_in_parent():
    import gc

    if _GC_WAS_ENABLED[0]:
        gc.enable()


def _keep_pipelines_in_child():
    import gc
    import sys

    _KEPT_IN_CHILD.extend(list(_PIPELINES))
    # whatever drops a pipeline here keeps its backend: DALI's own __del__ would hang
    dali = sys.modules.get("nvidia.dali.pipeline")
    if dali is not None:
        dali.Pipeline.__del__ = _keep_in_child
    gc.freeze()  # garbage of the parent's, DALI pipelines among it, stays unfinalized here
    if _GC_WAS_ENABLED[0]:
        gc.enable()


os.register_at_fork(before=_collector_off_for_the_fork,
                    after_in_parent=_collector_back_in_parent,
                    after_in_child=_keep_pipelines_in_child)


class _EpochSource:
    """DALI external_source callback: (file paths, index, key, byte ranges) per batch.

    The operator reads the files itself, on DALI's threads (input="paths"). A batch's
    paths go as one uint8 matrix [b, longest path], UTF-8, NUL-padded (the operator
    ends a path at its first NUL): one buffer for DALI to take in, not b arrays. Each
    sample's (offset, length) in its file goes too: (0, -1) for a whole file, a member's
    range for a tar shard."""

    def __init__(self, samples):
        self.samples = samples
        self.table = FileTable(samples)
        self.batches: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.next = 0

    def start(self, batches, keys):
        self.batches = batches
        self.keys = keys
        self.next = 0

    def __call__(self):
        if self.next >= len(self.batches):
            raise StopIteration
        b, k = self.batches[self.next], self.keys[self.next]
        self.next += 1
        b = np.asarray(b, dtype=np.int64)
        self.samples.ready(b)  # remote shards: their local copies, fetched if need be
        return (self.table.path_matrix(b), np.ascontiguousarray(b).reshape(-1, 1),
                np.ascontiguousarray(k, dtype=np.uint64).view(np.int64).reshape(-1, 1),
                self.table.byte_ranges(b))


def _drawn(key) -> np.ndarray:
    """uint64 [b]: each sample's transform key, as the pipeline passed it on (int64)."""
    return np.asarray(key.as_array()).reshape(-1).view(np.uint64)


class EpochRunner:
    """One DALI pipeline run epoch after epoch (both loaders' DALI engines use it). Each
    epoch :meth:`epoch` points the pipeline's source at the epoch's batches and yields
    ``pipe.run()``'s outputs until the source ends the epoch (StopIteration). An epoch
    left early still has batches queued, so the next one starts a clean pipeline; a
    second iteration started while one runs makes the first one fail when it resumes
    (DALI serves one at a time)."""

    def __init__(self, make):
        self.make = make  # () -> a DALI pipeline, registered in _PIPELINES
        self.pipe = make()
        self._started = False
        self._generation = 0

    def epoch(self, start):
        """``start()`` hands the source its batches; then the pipeline's outputs."""
        self._generation += 1
        generation = self._generation
        if self._started == "abandoned":
            del self.pipe
            self.pipe = self.make()
            self._started = False
        start()
        if self._started:
            self.pipe.reset()
        else:
            self.pipe.build()
        self._started = "abandoned"  # until the epoch runs to its end
        while True:
            if generation != self._generation:
                raise RuntimeError("a newer iteration over this loader started; the DALI "
                                   "engine serves one iteration at a time")
            try:
                out = self.pipe.run()
            except StopIteration:
                self._started = True
                return
            yield out


class DaliEngine:
    name = "dali"

    def __init__(self, samples, recipe: Recipe, *, num_threads: int, prefetch: int, pin: bool,
                 batch_size: int, fallback: bool = False):
        """samples: a sources.SampleList or shards.ShardSet (what each sample reads)."""
        load_operator()  # raises OperatorBuildError with what to install
        self.samples = samples
        self.recipe = recipe
        self.pin = bool(pin)
        self.fallback = bool(fallback)
        self.batch_size = int(batch_size)
        self.source = _EpochSource(samples)
        self.num_threads = max(1, int(num_threads))
        self.prefetch = max(1, int(prefetch))
        self.runner = EpochRunner(lambda: self._pipeline(self.num_threads, self.prefetch))

    def _pipeline(self, num_threads, prefetch):
        from nvidia.dali import fn, pipeline_def

        s = self.recipe
        source = self.source

        # exec_dynamic: outputs live while referenced (the zero-copy hand-over relies on it)
        @pipeline_def(batch_size=self.batch_size, num_threads=num_threads, device_id=None,
                      exec_dynamic=True,
                      prefetch_queue_depth=prefetch, seed=0)
        def pipe():
            paths, index, keys, ranges = fn.external_source(source=source, num_outputs=4,
                                                            batch=True)
            x, status, layout, message = fn.freqload.jpeg_to_dct(
                paths, keys, ranges, recipe=s.dali_arg, on_error="flag", input="paths")
            return x, status, index, layout, message, keys

        made = pipe()
        _PIPELINES.add(made)
        return made

    def batches(self, batches: list[np.ndarray], keys: list[np.ndarray]):
        """HostBatch per index batch; keys: uint64 per sample (the train transform's draws)."""
        if not batches:
            return
        s = self.recipe
        for x, status, index, layout, message, key in self.runner.epoch(
                lambda: self.source.start(batches, keys)):
            n = len(x)
            idx = np.asarray(index.as_array(), dtype=np.int64).reshape(-1)
            st = np.asarray(status.as_array(), dtype=np.int32).reshape(-1).copy()
            messages = messages_from_rows(message.as_array, st)
            retry = self.fallback and bool((st == UNSUPPORTED).any())
            from_pixels = np.zeros(n, dtype=bool)
            if s.regroup == "device":
                layouts = np.array(layout.as_array(), dtype=np.int32).reshape(n, LAYOUT_INTS)
                planes = np.asarray(x.as_tensor())  # [n, capacity] view; only the used part travels
                if retry:  # into DALI's output buffer: this batch's own
                    from_pixels = fall_back(self.samples, s, idx, _drawn(key), st, messages, planes,
                                            layouts)
                host, offsets = pack_planes(planes, layouts, self.pin)
                yield HostBatch(host, idx, st, offsets, layouts, messages, from_pixels)
                continue
            if self.pin or not x.is_dense_tensor():
                host = torch.empty((n, s.channels, s.out_h, s.out_w), dtype=torch.int16,
                                   pin_memory=self.pin)
                x.copy_to_external(ctypes.c_void_p(host.data_ptr()))
            else:
                # no copy: the batch is DALI's output buffer itself. DALI's dynamic executor
                # (the default) allocates every output afresh and frees it only when the
                # last reference goes, which the view below holds (test_loader checks it).
                host = torch.from_numpy(np.asarray(x.as_tensor()))
            if retry:
                from_pixels = fall_back(self.samples, s, idx, _drawn(key), st, messages,
                                        host.numpy())
            yield HostBatch(host, idx, st, messages=messages, from_pixels=from_pixels)
