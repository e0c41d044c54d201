"""What the engines share between the core's outputs and a :class:`HostBatch`: each
sample's file as the core reads it (:class:`FileTable`), the messages of failed slots, the
pixel fallback into a batch's own slots, and the planes of ``regroup="device"`` packed back
to back for the trip to the device. The DALI engine and the native engine both finish
their batches here, so the same outputs give the same HostBatch."""
from __future__ import annotations

import os

import numpy as np
import torch

from ...codec.recipe import Recipe
from ..host_batch import OK, UNSUPPORTED, layout_view
from .fallback import pixel_sample


class FileTable:
    """The files the samples read, encoded once as one blob: entry f is
    ``blob[starts[f]:starts[f] + lengths[f]]`` (the path's bytes, no NUL), and each
    sample's (offset, length) in its file ((0, -1): the whole file; a tar member's range).
    Per batch everything is an array operation: no Python object per sample."""

    def __init__(self, samples):
        self.file_of = samples.file_of  # None: sample i is file i
        self.ranges = (None if samples.offsets is None else
                       np.stack([samples.offsets, samples.lengths], axis=1).astype(np.int64))
        encoded = [os.fsencode(p) for p in samples.local_files]
        self.lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        self.starts = np.zeros(len(encoded), dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=self.starts[1:])
        self.blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)

    def files(self, batch: np.ndarray) -> np.ndarray:
        """int64 [b]: the entry each sample of ``batch`` reads."""
        batch = np.asarray(batch, dtype=np.int64)
        return batch if self.file_of is None else np.asarray(self.file_of, np.int64)[batch]

    def byte_ranges(self, batch: np.ndarray) -> np.ndarray:
        """int64 [b, 2]: each sample's (offset, length) in its file."""
        if self.ranges is None:
            return np.tile(np.array([0, -1], np.int64), (len(batch), 1))
        return self.ranges[np.asarray(batch, dtype=np.int64)]

    def path_matrix(self, batch: np.ndarray) -> np.ndarray:
        """uint8 [b, longest]: row k = the path of sample batch[k], NUL-padded (the DALI
        operator's input="paths" form)."""
        files = self.files(batch)
        lengths = self.lengths[files]
        cols = np.arange(int(lengths.max()) if len(files) else 0)
        inside = cols[None, :] < lengths[:, None]
        out = np.zeros(inside.shape, dtype=np.uint8)
        out[inside] = self.blob[(self.starts[files][:, None] + cols[None, :])[inside]]
        return out


def messages_from_rows(rows, status: np.ndarray) -> list:
    """Each sample's message from the core's uint8 [b, MESSAGE_MAX] rows (NUL-terminated),
    "" where the status is OK; the rows are read only when some sample failed (``rows``
    may then be a callable giving them)."""
    if not status.any():
        return [""] * len(status)
    rows = np.asarray(rows() if callable(rows) else rows, dtype=np.uint8)
    return [bytes(r).split(b"\0", 1)[0].decode("utf-8", "replace") if st else ""
            for r, st in zip(rows, status)]


def fall_back(samples, recipe: Recipe, index: np.ndarray, keys: np.ndarray, status: np.ndarray,
              messages: list, slots, layouts=None) -> np.ndarray:
    """The pixel fallback (:mod:`.fallback`) for every unsupported slot of a finished batch,
    into its own slot (``slots[k]``, ``layouts[k]``); status and messages updated in place.
    Returns bool [b]: the slot was made from pixels."""
    from_pixels = np.zeros(len(index), dtype=bool)
    for k in np.nonzero(status == UNSUPPORTED)[0]:
        path, offset, length = samples.where(int(index[k]))
        status[k], messages[k] = pixel_sample(
            path, recipe, int(keys[k]), slots[k], None if layouts is None else layouts[k],
            messages[k], offset, length)
        from_pixels[k] = status[k] == OK
    return from_pixels


def pack_planes(planes: np.ndarray, layouts: np.ndarray, pin: bool):
    """regroup="device": each slot's used planes (int16 [b, capacity], the layout's total)
    back to back in one host tensor (pinned when asked) -> (tensor, int64 offsets [b])."""
    used = layout_view(layouts)["total"].astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(used)[:-1]]).astype(np.int64)
    host = torch.empty(int(used.sum()), dtype=torch.int16, pin_memory=pin)
    flat = host.numpy()
    for k in range(len(used)):
        flat[offsets[k]:offsets[k] + used[k]] = planes[k, :used[k]]
    return host, offsets
