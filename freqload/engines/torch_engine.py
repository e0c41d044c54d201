"""The torch engine: DataLoader worker processes call the Python extension.

Each worker keeps its own libjpeg decompressor (freqload's per-thread decoder)
and runs ``Decoder.decode`` (the core's ``fl_decode_sample``), the same native function
the DALI operator runs, so both engines give identical tensors for the same order.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.utils.data

from ..coefficients import _decoder
from ..recipe import Recipe
from .common import LAYOUT_INTS, OK, HostBatch, layout_view



class _Samples(torch.utils.data.Dataset):
    def __init__(self, paths, recipe: Recipe):
        self.paths = paths
        self.recipe = recipe
        self.packed = recipe.packed
        self.elements = recipe.out_elements

    def __len__(self):
        return len(self.paths)

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
        status, message = _decoder().decode_file(self.paths[i], self.packed, key, out, layout)
        if planes:  # only the used part travels back to the main process
            used = int(layout_view(layout)["total"][0]) if status == OK else 0
            return torch.from_numpy(out[:used].copy()), layout, i, status, message
        return torch.from_numpy(out), None, i, status, message  # the core zeroed a failure


def _collate(items):
    xs, layouts, idx, status, messages = zip(*items)
    idx = np.asarray(idx, dtype=np.int64)
    status = np.asarray(status, dtype=np.int32)
    if layouts[0] is None:
        return torch.stack(xs), idx, status, None, None, list(messages)
    offsets = np.cumsum([0] + [len(x) for x in xs[:-1]]).astype(np.int64)
    return torch.cat(xs), idx, status, offsets, np.stack(layouts), list(messages)


class TorchEngine:
    name = "torch"

    def __init__(self, paths, recipe: Recipe, *, num_workers: int, prefetch: int, pin: bool):
        self.dataset = _Samples(paths, recipe)
        self.num_workers = int(num_workers)
        self.prefetch = int(prefetch)
        self.pin = bool(pin)

    def batches(self, batches: list[np.ndarray], keys: list[np.ndarray]):
        """HostBatch per index batch; keys: uint64 per sample (the train transform's draws)."""
        kw = {}
        if self.num_workers > 0:
            kw = {"prefetch_factor": max(1, self.prefetch), "persistent_workers": False}
        dl = torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=[list(zip(b.tolist(), k.tolist())) for b, k in zip(batches, keys)],
            num_workers=self.num_workers, collate_fn=_collate, pin_memory=self.pin, **kw)
        for x, idx, status, offsets, layouts, messages in dl:
            yield HostBatch(x, idx, status, offsets, layouts, messages)
