"""The DALI engine: a CPU pipeline of fn.external_source and fn.freqload.jpeg_to_dct.

One pipeline for the loader's life. Each epoch, a source callback hands DALI
the encoded bytes of this shard's next batch in the epoch's order (a file read
per sample on the pipeline's feeding thread) and raises StopIteration at the
epoch's end, so no work past the epoch is prefetched and thrown away. DALI
decodes on its C++ thread pool with ``fn.freqload.jpeg_to_dct`` (no Python per
sample). Each sample's index rides along, tracing every output back to its file
for labels, error messages and the error policy.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np
import torch

from .common import LAYOUT_INTS, UNREADABLE, HostBatch, SampleSpec
from .dali_build import load_operator

_EMPTY = np.zeros(0, dtype=np.uint8)


class _EpochSource:
    """DALI external_source callback: (jpeg bytes, index, read status) per batch."""

    def __init__(self, paths, ring: int = 4):
        self.paths = paths
        self.batches: list[np.ndarray] = []
        self.next = 0
        # DALI takes the bytes without copying (no_copy=True) and may still hold a batch
        # while `prefetch` later ones are fed: a ring of buffers, reused round-robin
        self.ring = [np.empty(0, dtype=np.uint8) for _ in range(ring)]
        self.held = [None] * ring  # what each slot last handed DALI, kept alive
        self.calls = 0

    def start(self, batches):
        self.batches = batches
        self.next = 0

    def __call__(self):
        if self.next >= len(self.batches):
            raise StopIteration
        b = self.batches[self.next]
        self.next += 1
        readable = np.ones((len(b), 1), dtype=np.int32)
        fds, sizes = [], []
        for k, i in enumerate(b.tolist()):
            try:
                fd = os.open(self.paths[i], os.O_RDONLY)
            except OSError:
                fd = -1
                readable[k] = 0
            fds.append(fd)
            sizes.append(os.fstat(fd).st_size if fd >= 0 else 0)
        # reused buffers (fresh ones would page-fault on every batch)
        total = sum(sizes)
        slot = self.calls % len(self.ring)
        self.calls += 1
        if self.ring[slot].size < total:
            self.ring[slot] = np.empty(int(total * 1.25) + 4096, dtype=np.uint8)
        buffer = self.ring[slot]
        jpegs, offset = [], 0
        for k, (fd, n) in enumerate(zip(fds, sizes)):
            view = buffer[offset:offset + n]
            if fd >= 0:
                try:
                    got = os.readv(fd, [view])
                    view = view[:got]
                except OSError:
                    view = _EMPTY
                    readable[k] = 0
                finally:
                    os.close(fd)
            jpegs.append(view)
            offset += n
        out = jpegs, np.ascontiguousarray(b, dtype=np.int64).reshape(-1, 1), readable
        self.held[slot] = out
        return out


class DaliEngine:
    name = "dali"

    def __init__(self, paths, spec: SampleSpec, *, num_threads: int, prefetch: int, pin: bool,
                 batch_size: int):
        load_operator()  # raises OperatorBuildError with what to install
        self.paths = paths
        self.spec = spec
        self.pin = bool(pin)
        self.batch_size = int(batch_size)
        self.source = _EpochSource(paths, ring=max(1, int(prefetch)) + 4)
        self.num_threads = max(1, int(num_threads))
        self.prefetch = max(1, int(prefetch))
        self.pipe = self._pipeline(self.num_threads, self.prefetch)
        self._started = False

    def _pipeline(self, num_threads, prefetch):
        from nvidia.dali import fn, pipeline_def

        s = self.spec
        source = self.source

        @pipeline_def(batch_size=self.batch_size, num_threads=num_threads, device_id=None,
                      prefetch_queue_depth=prefetch, seed=0)
        def pipe():
            jpegs, index, readable = fn.external_source(source=source, num_outputs=3, batch=True,
                                                        no_copy=True)
            x, status, layout = fn.freqload.jpeg_to_dct(
                jpegs, mask=list(s.indices), size=[s.out_h, s.out_w], chroma=s.chroma,
                dequantize=s.dequantize, strict=s.strict, max_pixels=s.max_pixels,
                on_error="flag", regroup=s.regroup)
            return x, status, index, readable, layout

        return pipe()

    def batches(self, batches: list[np.ndarray]):
        if not batches:
            return
        s = self.spec
        if self._started == "abandoned":
            # an epoch left early still has batches queued: start a clean pipeline
            del self.pipe
            self.pipe = self._pipeline(self.num_threads, self.prefetch)
            self._started = False
        self.source.start(batches)
        if self._started:
            self.pipe.reset()
        else:
            self.pipe.build()
        self._started = "abandoned"  # until the epoch runs to its end
        while True:
            try:
                x, status, index, readable, layout = self.pipe.run()
            except StopIteration:
                self._started = True
                return
            n = len(x)
            idx = np.asarray(index.as_array(), dtype=np.int64).reshape(-1)
            st = np.asarray(status.as_array(), dtype=np.int32).reshape(-1).copy()
            st[np.asarray(readable.as_array()).reshape(-1) == 0] = UNREADABLE
            if s.regroup == "device":
                layouts = np.array(layout.as_array(), dtype=np.int32).reshape(n, LAYOUT_INTS)
                planes = np.asarray(x.as_tensor())  # [n, capacity] view; only the used part travels
                used = layouts[:, 7].astype(np.int64)
                offsets = np.concatenate([[0], np.cumsum(used)[:-1]]).astype(np.int64)
                host = torch.empty(int(used.sum()), dtype=torch.int16, pin_memory=self.pin)
                flat = host.numpy()
                for k in range(n):
                    flat[offsets[k]:offsets[k] + used[k]] = planes[k, :used[k]]
                yield HostBatch(host, idx, st, offsets, layouts)
                continue
            host = torch.empty((n, s.channels, s.out_h, s.out_w), dtype=torch.int16,
                               pin_memory=self.pin)
            x.copy_to_external(ctypes.c_void_p(host.data_ptr()))
            yield HostBatch(host, idx, st)
