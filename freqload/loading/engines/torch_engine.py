"""The torch engine: DataLoader worker processes call the Python extension.

Each worker keeps its own libjpeg decompressor (freqload's per-thread decoder)
and runs ``Decoder.decode_file`` (the core's file reader and ``fl_decode_sample``), the
same native functions the DALI operator runs, so both engines give identical tensors for
the same order. The worker makes the whole sample, outcome included: the core's status
and message, and with ``fallback`` the pixel fallback (:mod:`.fallback`) for an
unsupported file, into the same slot.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.utils.data

from ...codec.read import thread_decoder
from ...codec.recipe import Recipe
from ..host_batch import LAYOUT_INTS, OK, UNSUPPORTED, HostBatch, layout_view
from .fallback import pixel_sample


class _Samples(torch.utils.data.Dataset):
    def __init__(self, samples, recipe: Recipe, fallback: bool):
        self.samples = samples  # sample i reads samples.where(i): (file, offset, length)
        self.recipe = recipe
        self.fallback = fallback
        self.packed = recipe.packed
        self.elements = recipe.out_elements

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, item):
        i, key = item  # the sample's index and its transform key
        r = self.recipe
        planes = r.regroup == "device"
        if planes:
            out = np.empty(self.elements, dtype=np.int16)
            layout = np.zeros(LAYOUT_INTS, dtype=np.int32)
        else:
            out = np.empty((r.channels, r.out_h, r.out_w), dtype=np.int16)
            layout = None
        # the core reads and decodes the file; a failure is its status and message (and
        # zeros), exactly as the DALI operator reports it
        path, offset, length = self.samples.where(i)
        status, message = thread_decoder().decode_file(path, self.packed, key, out, layout, offset,
                                                 length)
        from_pixels = False
        if status == UNSUPPORTED and self.fallback:
            status, message = pixel_sample(path, r, key, out, layout, message, offset, length)
            from_pixels = status == OK
        if planes:  # only the used part travels back to the main process
            used = int(layout_view(layout)["total"][0]) if status == OK else 0
            return torch.from_numpy(out[:used].copy()), layout, i, status, message, from_pixels
        # a failed slot is zeros (the core and the fallback zero it)
        return torch.from_numpy(out), None, i, status, message, from_pixels


def _collate(items):
    xs, layouts, idx, status, messages, from_pixels = zip(*items)
    idx = np.asarray(idx, dtype=np.int64)
    status = np.asarray(status, dtype=np.int32)
    from_pixels = np.asarray(from_pixels, dtype=bool)
    if layouts[0] is None:
        return torch.stack(xs), idx, status, None, None, list(messages), from_pixels
    offsets = np.cumsum([0] + [len(x) for x in xs[:-1]]).astype(np.int64)
    return (torch.cat(xs), idx, status, offsets, np.stack(layouts), list(messages),
            from_pixels)


class _Batches:
    """The DataLoader's batch sampler: (index, key) pairs per batch, handed out by the main
    process. Before a batch goes to a worker, the files it reads are made local (remote
    shards: samples.ready), so a worker never downloads: a forked worker must not touch
    the parent's network clients, whose locks a download thread may hold at the fork."""

    def __init__(self, samples, batches, keys):
        self.samples, self.batches, self.keys = samples, batches, keys

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for b, k in zip(self.batches, self.keys):
            self.samples.ready(b)
            yield list(zip(b.tolist(), k.tolist()))


class TorchEngine:
    name = "torch"

    def __init__(self, samples, recipe: Recipe, *, num_workers: int, prefetch: int, pin: bool,
                 fallback: bool = False):
        """samples: a sources.SampleList or shards.ShardSet (what each sample reads)."""
        self.dataset = _Samples(samples, recipe, bool(fallback))
        self.num_workers = int(num_workers)
        self.prefetch = int(prefetch)
        self.pin = bool(pin)

    def batches(self, batches: list[np.ndarray], keys: list[np.ndarray]):
        """HostBatch per index batch; keys: uint64 per sample (the train transform's draws)."""
        kw: dict[str, Any] = {}
        if self.num_workers > 0:
            kw = {"prefetch_factor": max(1, self.prefetch), "persistent_workers": False}
        dl = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=_Batches(self.dataset.samples, batches, keys),
            num_workers=self.num_workers, collate_fn=_collate, pin_memory=self.pin, **kw)
        for x, idx, status, offsets, layouts, messages, from_pixels in dl:
            yield HostBatch(x, idx, status, offsets, layouts, messages, from_pixels)
