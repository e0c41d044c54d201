"""What the engines hand back: a batch on the host (:class:`HostBatch`), each sample's
status code, and the planes layout of ``regroup="device"``. The sample's recipe is
:class:`freqload.codec.recipe.Recipe`."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch

from .._core import (
    LAYOUT_INTS,
    PLANES_CHANNELS,
    PLANES_COEFS,
    PLANES_NONE,
    STATUS_ARGUMENT,
    STATUS_DECODE,
    STATUS_NOMEM,
    STATUS_OK,
    STATUS_TOO_LARGE,
    STATUS_UNREADABLE,
    STATUS_UNSUPPORTED,
)
from ..errors import DecodeError, FreqloadError, ImageTooLargeError, UnsupportedImageError

#: The planes layout as a named numpy type, field for field the int32 vector fl_layout_pack
#: writes (fl_core.h: the window, num_components, total, per component its plane group,
#: then the 3 quant tables). View layouts with :func:`layout_view`; read
#: ``v["total"]``, ``v["groups"]["kind"]``, ``v["quant"][:, c]``, never offsets.
LAYOUT_DTYPE = np.dtype([
    ("y0", "<i4"), ("x0", "<i4"), ("rows", "<i4"), ("cols", "<i4"), ("dy", "<i4"),
    ("dx", "<i4"), ("num_components", "<i4"), ("total", "<i4"),
    ("groups", [("kind", "<i4"), ("count", "<i4"), ("h", "<i4"), ("w", "<i4"), ("fv", "<i4"),
                ("fh", "<i4"), ("offset", "<i4")], (3,)),
    ("quant", "<i4", (3, 64))])
if LAYOUT_DTYPE.itemsize != 4 * LAYOUT_INTS:  # the core's layout changed without this
    raise ImportError(f"freqload.loading.host_batch.LAYOUT_DTYPE ({LAYOUT_DTYPE.itemsize} "
                      "bytes) no longer mirrors the core's fl_layout_pack "
                      f"({4 * LAYOUT_INTS} bytes)")
# fl_plane_group kinds (imported from the core above): PLANES_NONE nothing,
# PLANES_CHANNELS the channels on their own grid, PLANES_COEFS all 64 coefficients


def layout_view(layouts) -> np.ndarray:
    """int32 layouts ([LAYOUT_INTS] or [B, LAYOUT_INTS]) as LAYOUT_DTYPE records ([B]; a
    view where the input is int32 and contiguous)."""
    a = np.ascontiguousarray(layouts, dtype=np.int32).reshape(-1, LAYOUT_INTS)
    return a.view(LAYOUT_DTYPE).reshape(-1)


#: per-sample status codes: the core's fl_status
OK, DECODE_ERROR, UNSUPPORTED, TOO_LARGE, NO_MEMORY, BAD_ARGUMENT, UNREADABLE = (
    STATUS_OK, STATUS_DECODE, STATUS_UNSUPPORTED, STATUS_TOO_LARGE,
    STATUS_NOMEM, STATUS_ARGUMENT, STATUS_UNREADABLE)
#: the error each of the core's image statuses raises in the loader (both engines report
#: statuses, as the core gives them)
STATUS_ERRORS = {DECODE_ERROR: DecodeError, UNSUPPORTED: UnsupportedImageError,
                 TOO_LARGE: ImageTooLargeError, UNREADABLE: FreqloadError}
#: what each status means, for messages
STATUS_NAMES = {OK: "ok", DECODE_ERROR: "corrupt data", UNSUPPORTED: "unsupported image",
                TOO_LARGE: "over a resource limit", NO_MEMORY: "out of memory",
                BAD_ARGUMENT: "bad argument", UNREADABLE: "unreadable file"}


class HostBatch(NamedTuple):
    """One batch on the host. regroup="cpu": x is int16 [b, C, out_h, out_w]. regroup="device":
    x is the samples' planes back to back (int16 [total]), sample k starting at offsets[k],
    laid out as layouts[k] (int32 [LAYOUT_INTS]) says."""
    x: torch.Tensor  #: pinned when asked
    index: np.ndarray  # type: ignore[assignment]  #: int64 [b] sample indices (shadows tuple.index)
    status: np.ndarray  #: int32 [b], OK or an error code (the sample is zeros then)
    offsets: np.ndarray | None = None  #: int64 [b] (regroup="device")
    layouts: np.ndarray | None = None  #: int32 [b, LAYOUT_INTS] (regroup="device")
    #: per sample, the core's message for a non-zero status ("" when OK): the engine made
    #: the sample, so it says what went wrong; nothing is decoded again to find out
    messages: list | None = None
    #: bool [b]: the sample was made from the file's pixels by the engine's fallback
    #: (engines.fallback; status OK), or None where no sample was
    from_pixels: np.ndarray | None = None


__all__ = ["HostBatch", "LAYOUT_DTYPE", "LAYOUT_INTS", "layout_view", "PLANES_NONE",
           "PLANES_CHANNELS", "PLANES_COEFS", "OK", "DECODE_ERROR", "UNSUPPORTED",
           "TOO_LARGE", "NO_MEMORY", "BAD_ARGUMENT", "UNREADABLE", "STATUS_ERRORS",
           "STATUS_NAMES", "ReusedBuffers"]


def _counts(arrays: list) -> list:
    return [sys.getrefcount(a) for a in arrays]


#: what sys.getrefcount says, in a loop over a list, of an array only that list holds
#: (measured, not assumed: interpreters count borrowed references differently)
_ALONE = _counts([np.empty(0)])[0]


class ReusedBuffers:
    """Batch buffers on the host, reused once nothing outside their owner refers to them.

    A buffer handed on (as a tensor, or any view of it) stays referenced by that tensor's
    storage; once the consumer drops it, only this list holds the array and the next batch
    of that shape and dtype is written into it. So the batch is written into memory that is
    already mapped (no page faults, no malloc heap growing with the batches in flight), and
    a consumer that keeps its batches simply gets new ones. At most `limit` buffers are
    kept for reuse. The native engine's int16 batches and the CPU post-stage's float32
    ones (:class:`freqload.loading.device.PostStage`) come from here."""

    def __init__(self, limit: int):
        self.limit = limit
        self.arrays: list[np.ndarray] = []

    def take(self, shape: tuple, dtype=np.int16) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` (contents undefined) nothing else holds."""
        dtype = np.dtype(dtype)
        # referenced by this list alone, counted as _ALONE was
        for a, count in zip(self.arrays, _counts(self.arrays)):
            if count == _ALONE and a.shape == shape and a.dtype == dtype:
                return a
        a = np.empty(shape, dtype=dtype)
        if len(self.arrays) >= self.limit:  # a consumer keeping batches: forget the oldest
            self.arrays.pop(0)
        self.arrays.append(a)
        return a
