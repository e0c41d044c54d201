"""What both engines share: the sample recipe and the batch they hand back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Optional

import numpy as np

if TYPE_CHECKING:
    import torch

from .. import _core
from ..errors import DecodeError, ImageTooLargeError, UnsupportedImageError
from ..mask import split_channels

#: int32 entries of a planes layout (fl_layout_pack)
LAYOUT_INTS = _core.LAYOUT_INTS

#: per-sample status codes (the core's fl_status, plus 6 for an unreadable file)
OK, DECODE_ERROR, UNSUPPORTED, TOO_LARGE, NO_MEMORY, BAD_ARGUMENT, UNREADABLE = range(7)
#: the error each of the core's image statuses is, both ways (the torch engine turns the
#: extension's exceptions into statuses, the loader statuses back into exceptions)
STATUS_ERRORS = {DECODE_ERROR: DecodeError, UNSUPPORTED: UnsupportedImageError,
                 TOO_LARGE: ImageTooLargeError}
ERROR_STATUS = {cls: status for status, cls in STATUS_ERRORS.items()}
#: what each status means, for messages
STATUS_NAMES = {OK: "ok", DECODE_ERROR: "corrupt data", UNSUPPORTED: "unsupported image",
                TOO_LARGE: "over a resource limit", NO_MEMORY: "out of memory",
                BAD_ARGUMENT: "bad argument", UNREADABLE: "unreadable file"}


@dataclass(frozen=True)
class SampleSpec:
    """How every image becomes an int16 [C, out_h, out_w] sample (see fl_channel_spec)."""
    indices: tuple[int, ...]  #: channel indices of the mask, ascending
    out_h: int
    out_w: int
    chroma: str = "dct"
    dequantize: bool = True
    strict: bool = True
    max_pixels: int = 0
    regroup: str = "cpu"  #: "device": ship planes + layouts (freqload.regroup) instead of x
    #: the core's fl_transform (freqload.transforms.Transform.native()); default "blocks"
    transform: tuple = (0, 0.08, 1.0, 0.75, 4 / 3, 0.5, 0.875)
    #: (max_file_size, max_scans, max_memory), 0 = no limit (coefficients.limits_tuple)
    limits: tuple = (0, 0, 0)
    #: stop entropy decoding after the rows the sample reads (fl_options.partial_decode)
    partial_decode: bool = True

    @property
    def channels(self) -> int:
        return len(self.indices)

    def channel_bytes(self) -> tuple[bytes, bytes]:
        return split_channels(self.indices)


class HostBatch(NamedTuple):
    """One batch on the host. regroup="cpu": x is int16 [b, C, out_h, out_w]. regroup="device":
    x is the samples' planes back to back (int16 [total]), sample k starting at offsets[k],
    laid out as layouts[k] (int32 [LAYOUT_INTS]) says."""
    x: "torch.Tensor"  #: pinned when asked
    index: np.ndarray  #: int64 [b] sample indices into the loader's dataset
    status: np.ndarray  #: int32 [b], OK or an error code (the sample is zeros then)
    offsets: Optional[np.ndarray] = None  #: int64 [b] (regroup="device")
    layouts: Optional[np.ndarray] = None  #: int32 [b, LAYOUT_INTS] (regroup="device")
