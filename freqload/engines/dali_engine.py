"""The DALI engine: a CPU pipeline of DALI's file reader and fn.freqload.jpeg_to_dct.

One pipeline per epoch, built over this shard's files in the epoch's order
(DALI reads and decodes on its C++ threads; no Python runs per sample). The
reader's label is the sample's index, so every output is traced back to its
file for labels, error messages and the error policy.
"""
from __future__ import annotations

import ctypes

import numpy as np
import torch

from .common import HostBatch, SampleSpec
from .dali_build import load_operator


class DaliEngine:
    name = "dali"

    def __init__(self, paths, spec: SampleSpec, *, num_threads: int, prefetch: int, pin: bool):
        load_operator()  # raises OperatorBuildError with what to install
        self.paths = paths
        self.spec = spec
        self.num_threads = max(1, int(num_threads))
        self.prefetch = max(1, int(prefetch))
        self.pin = bool(pin)

    def _pipeline(self, files, index, batch_size):
        from nvidia.dali import fn, pipeline_def

        s = self.spec

        @pipeline_def(batch_size=batch_size, num_threads=self.num_threads, device_id=None,
                      prefetch_queue_depth=self.prefetch, seed=0)
        def pipe():
            jpegs, idx = fn.readers.file(files=files, labels=index, random_shuffle=False,
                                         pad_last_batch=True, name="reader")
            x, status = fn.freqload.jpeg_to_dct(
                jpegs, mask=list(s.indices), size=[s.out_h, s.out_w], chroma=s.chroma,
                dequantize=s.dequantize, strict=s.strict, max_pixels=s.max_pixels,
                on_error="flag")
            return x, status, idx

        p = pipe()
        p.build()
        return p

    def batches(self, batches: list[np.ndarray]):
        if not batches:
            return
        order = np.concatenate(batches)
        batch_size = max(len(b) for b in batches)
        files = [self.paths[i] for i in order]
        pipe = self._pipeline(files, [int(i) for i in order], batch_size)
        s = self.spec
        try:
            for b in batches:
                x, status, idx = pipe.run()
                host = torch.empty((batch_size, s.channels, s.out_h, s.out_w), dtype=torch.int16,
                                   pin_memory=self.pin)
                x.copy_to_external(ctypes.c_void_p(host.data_ptr()))
                got = np.asarray(idx.as_array(), dtype=np.int64).reshape(-1)[:len(b)]
                if not np.array_equal(got, b):  # the reader's order is ours by construction
                    raise RuntimeError("DALI reader returned samples out of order")
                st = np.asarray(status.as_array(), dtype=np.int32).reshape(-1)[:len(b)]
                yield HostBatch(host[:len(b)], got, st)
        finally:
            del pipe
