"""The pixel fallback (``DCTLoader(on_error="fallback")``), run by the engine that made
the sample, into the sample's own slot of the batch.

A file the core reports as unsupported (PNG or GIF under a .jpg name, CMYK, 12-bit ...)
has no coefficients to read. The fallback decodes its pixels with Pillow, converts them
to YCbCr (or grey), forward-transforms each 8x8 block with JPEG's DCT, quant tables all 1
(:func:`freqload.codec.read.read_coefficients` with ``fallback="pixels"`` does the
same), and then makes the sample with the core function every other sample goes
through (``fl_sample``, or ``fl_sample_planes`` for ``regroup="device"``) with the
loader's recipe and the sample's own key: the same box, flip and mask as a JPEG would get.

Where it runs: in the torch engine, in the DataLoader worker that made the slot. DALI's
operator threads run no Python, so the DALI engine runs it as it takes the batch from the
pipeline, writing into the batch's own buffer before the batch is handed on. Either way
the loader receives a finished batch: status OK for the slot, ``HostBatch.from_pixels``
marking it. The loader decodes nothing again: it only drops (skip) or raises on what
still failed.
"""
from __future__ import annotations

import numpy as np

from ...codec.read import coefficients_from_pixels, read_file
from ...codec.recipe import Recipe
from ...codec.resample import sample
from ...errors import FreqloadError
from ..host_batch import NO_MEMORY, OK, STATUS_ERRORS, UNREADABLE, UNSUPPORTED
from ..regroup import planes_from_coefficients

#: a failed fallback's exception class -> the status its slot reports (STATUS_ERRORS
#: reversed; the core raises exactly these classes; the base class, there the unreadable
#: file's, counts as unsupported here)
_STATUS_OF = {cls: status for status, cls in STATUS_ERRORS.items() if cls is not FreqloadError}


def pixel_sample(path: str, recipe: Recipe, key: int, out: np.ndarray,
                 layout: np.ndarray | None = None, cause: str = "", offset: int = 0,
                 length: int = -1) -> tuple[int, str]:
    """Make one sample from a file's pixels, into ``out``.

    Args:
        path: the file (read again by the core's reader, under ``recipe.max_file_size``);
            ``offset`` and ``length`` its sample's bytes (a tar member; -1: to the end).
        recipe: the loader's recipe; ``max_pixels`` limits the pixel decode too.
        key: the sample's transform key (:func:`freqload.codec.transform.sample_keys`).
        out: the sample's slot: int16 ``[C, out_h, out_w]`` (regroup="cpu"), or int16
            ``[recipe.out_elements]`` (regroup="device", planes back to back).
        layout: regroup="device" only: the slot's int32 ``[LAYOUT_INTS]`` layout.
        cause: the core's message for the file, kept in the message when Pillow fails too.

    Returns:
        ``(status, message)``: ``(OK, "")`` with ``out`` (and ``layout``) filled, or the
        failure's status and message with ``out`` zeroed, as the core leaves a failed slot.
    """

    try:
        data = read_file(path, int(recipe.max_file_size or 0), offset, length)
        coeffs = coefficients_from_pixels(data, int(recipe.max_pixels or 0), cause)
        if layout is None:
            sample(coeffs, recipe, key=key, out=out)
        else:
            planes_from_coefficients(coeffs, recipe, out=out, layout=layout)
        return OK, ""
    except MemoryError:
        status, message = NO_MEMORY, "out of memory in the pixel fallback"
    except OSError as e:
        status, message = UNREADABLE, f"cannot read: {e.strerror or e}"
    except FreqloadError as e:
        status = _STATUS_OF.get(type(e), UNSUPPORTED)
        message = str(e)
    out[...] = 0
    if layout is not None:
        layout[...] = 0
    return status, message
