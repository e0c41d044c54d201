"""JPEG bytes -> header facts and quantised DCT coefficients.

``read_header`` and ``read_coefficients`` are thin calls into the native core
(``freqload/_native/core``): the header is read first, the Python side
allocates the coefficient arrays from it, then the core entropy-decodes
straight into them with the GIL released. Each thread keeps one decoder, and each
image starts on a fresh libjpeg decompressor inside it: no table of an earlier file
is ever used (a file without DQT fails as when decoded first; a Motion-JPEG frame,
without DHT, gets the standard Huffman tables).

Example: a 500x375 4:2:0 JPEG gives

    >>> c = read_coefficients("photo.jpg")                  # doctest: +SKIP
    >>> [a.shape for a in c.components]                     # doctest: +SKIP
    [(47, 63, 64), (24, 32, 64), (24, 32, 64)]              # int16, quantised
    >>> c.quant_tables[0].shape, c.info.sampling            # doctest: +SKIP
    ((64,), '4:2:0')

Strictness (libjpeg's warnings on the way):

==========================================  ============  ================
input                                       strict=True   strict=False
==========================================  ============  ================
clean file                                  data          data, warnings=0
truncated / corrupt entropy data            DecodeError   data (missing part
                                                          zero), warnings>0
metadata-only warning (bad ICC, unknown     data          data, warnings>0
JFIF version, unknown Adobe transform)
broken markers / tables                     DecodeError   DecodeError
==========================================  ============  ================
"""
from __future__ import annotations

import io
import os
import threading
import warnings as _warnings

import numpy as np

from .._core import (
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SCANS,
    Decoder,
)
from .._core import read_file as native_read_file
from ..errors import FreqloadError, ImageTooLargeError, UnsupportedImageError
from .coefficients import Coefficients, ComponentInfo, JpegInfo
from .dct import forward_blocks
from .lossless import orient

# The default limits come from the core (fl_core.h, their one home): DEFAULT_MAX_PIXELS
# 100,000,000 pixels (read_coefficients checks it from the header); DEFAULT_MAX_FILE_SIZE
# 256 MiB, DEFAULT_MAX_SCANS 1000 scans of a progressive file, DEFAULT_MAX_MEMORY 2 GiB of
# coefficient planes in one decode (each an ImageTooLargeError naming it; 0 or None
# disables one).


def limits_tuple(max_file_size=DEFAULT_MAX_FILE_SIZE, max_scans=DEFAULT_MAX_SCANS,
                 max_memory=DEFAULT_MAX_MEMORY) -> tuple[int, int, int]:
    """The native core's (max_file_size, max_scans, max_memory); None -> 0 (no limit)."""
    file_size, scans, memory = (int(v or 0) for v in (max_file_size, max_scans, max_memory))
    if min(file_size, scans, memory) < 0:
        raise ValueError("limits must be >= 0 (0 or None: no limit)")
    return file_size, scans, memory


_COLOR_NAMES = {0: "unknown", 1: "gray", 2: "YCbCr", 3: "RGB", 4: "CMYK", 5: "YCCK"}
_local = threading.local()


def thread_decoder() -> Decoder:
    """This thread's decoder (the core keeps one libjpeg decompressor per decoder, and
    every image starts on a fresh one inside it). The torch engine's workers decode with
    it; :func:`read_header` and :func:`read_coefficients` too."""
    dec = getattr(_local, "decoder", None)
    if dec is None:
        dec = _local.decoder = Decoder()
    return dec


def _as_bytes(data):
    """bytes-like or path -> an object exposing a contiguous byte buffer."""
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_file(data)
    if isinstance(data, memoryview):
        if not data.contiguous:
            raise TypeError("a memoryview of JPEG data must be contiguous")
        return data
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise TypeError(f"a numpy array of JPEG data must be uint8, got {data.dtype}")
        return np.ascontiguousarray(data).reshape(-1)
    raise TypeError("data must be bytes, bytearray, memoryview, a uint8 numpy array, "
                    f"or a path; got {type(data).__name__}")


def read_file(path, max_file_size: int = 0, offset: int = 0, length: int = -1) -> bytes:
    """A file's bytes (or ``length`` of them from ``offset``: a tar member; -1: to the
    end), read by the core's one file reader (``fl_read_file``, which both engines use
    too); over ``max_file_size`` (> 0) it is refused unread (:class:`ImageTooLargeError`).
    OSError when it cannot be read or the range runs past the file's end."""
    return native_read_file(os.fspath(path), int(max_file_size or 0), int(offset), int(length))


def _info_from_native(t, source="jpeg") -> JpegInfo:
    (width, height, ncomp, color, adobe, jfif, precision, progressive, arithmetic,
     restart, max_h, max_v, comps, quant, partial, orientation, exif_warning) = t
    components = tuple(ComponentInfo(*c) for c in comps)
    tables = tuple(None if quant[c.quant_index] is None
                   else np.frombuffer(quant[c.quant_index], dtype=np.uint16)
                   for c in components)
    return JpegInfo(width, height, ncomp, _COLOR_NAMES.get(color, "unknown"),
                    None if adobe < 0 else adobe, bool(jfif), precision, bool(progressive),
                    bool(arithmetic), restart, max_h, max_v, components, tables, source,
                    bool(partial), orientation, _EXIF_WARNINGS.get(exif_warning, ""))


#: why an EXIF orientation was ignored (fl_exif_orientation's warning codes)
_EXIF_WARNINGS = {1: "malformed EXIF segment: its orientation is ignored",
                  2: "EXIF Orientation is not a value 1..8: ignored"}


def read_header(data) -> JpegInfo:
    """Header facts of a JPEG without decoding it (no pixel limit applies).

    Args:
        data: bytes, bytearray, memoryview, uint8 numpy array, or a path.

    Raises:
        UnsupportedImageError: not a JPEG (or a JPEG process libjpeg cannot read).
        DecodeError: the header is corrupt.
    """
    return _info_from_native(thread_decoder().begin(_as_bytes(data), 0, False, False))


#: orientation= values: the picture as stored, or upright by its EXIF orientation
ORIENTATION = ("ignore", "exif")


def check_orientation(orientation) -> None:
    """The one check of an ``orientation=`` argument (ValueError naming the values)."""
    if orientation not in ORIENTATION:
        raise ValueError(f"orientation must be one of {ORIENTATION}, got {orientation!r}")


def read_coefficients(data, *, strict: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                      fallback: str | None = None,
                      max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
                      max_scans: int | None = DEFAULT_MAX_SCANS,
                      max_memory: int | None = DEFAULT_MAX_MEMORY,
                      orientation: str = "ignore") -> Coefficients:
    """Entropy-decode a JPEG to its quantised DCT coefficients (no IDCT, no colour).

    Args:
        data: bytes, bytearray, memoryview, uint8 numpy array, or a path
            (str / os.PathLike).
        strict: a corrupt-data warning from libjpeg (a truncated file, a bad
            Huffman code) raises :class:`DecodeError`; with False the data is
            returned (missing parts zero) and ``Coefficients.warnings`` counts them.
        max_pixels: refuse images with more pixels, from the header, before
            anything image-sized is allocated (:class:`ImageTooLargeError`).
            None or 0 disables the limit.
        fallback: None, or "pixels": an input without 8-bit YCbCr/grey DCT
            coefficients (CMYK, RGB-stored, 12-bit, lossless, PNG, GIF ...)
            is decoded by Pillow, converted to YCbCr (4:4:4, or grey) and
            forward-transformed with JPEG's 8x8 DCT, quant tables all 1.
            These are *not* the file's own coefficients (``from_pixels`` is
            True); corrupt JPEG data still raises DecodeError.
        max_file_size: refuse larger inputs (a path is checked before it is read).
        max_scans: refuse a progressive file with more scans (a CPU bomb: thousands of
            tiny scans each cost a pass over the image), checked while decoding.
        max_memory: refuse an image whose coefficient planes need more bytes.
            Each limit raises :class:`ImageTooLargeError` naming it; 0/None disables it.
        orientation: "ignore" (default: the file's coefficients exactly as stored;
            ``info.orientation`` says how to turn them) or "exif": turned upright by
            the file's EXIF orientation, losslessly (:func:`freqload.orient`).

    Returns:
        :class:`Coefficients`: for a 448x448 4:2:0 file, components int16
        [56, 56, 64], [28, 28, 64], [28, 28, 64].

    Raises:
        DecodeError, UnsupportedImageError, ImageTooLargeError (all FreqloadError).
    """
    if fallback not in (None, "pixels"):
        raise ValueError(f"fallback must be None or 'pixels', got {fallback!r}")
    check_orientation(orientation)
    c = _read_coefficients(data, strict, max_pixels, fallback, max_file_size, max_scans,
                           max_memory)
    if orientation == "exif":
        return orient(c)
    return c


def _read_coefficients(data, strict, max_pixels, fallback, max_file_size, max_scans,
                       max_memory) -> Coefficients:
    limit = int(max_pixels or 0)
    if limit < 0:
        raise ValueError("max_pixels must be positive (or None for no limit)")
    limits = limits_tuple(max_file_size, max_scans, max_memory)
    buf = read_file(data, limits[0]) if isinstance(data, (str, os.PathLike)) else _as_bytes(data)
    dec = thread_decoder()
    try:
        info = _info_from_native(dec.begin(buf, limit, bool(strict), True, limits))
    except UnsupportedImageError as e:
        if fallback == "pixels":
            return coefficients_from_pixels(buf, limit, str(e))
        raise
    try:
        planes = [np.empty((c.alloc_blocks_h, c.alloc_blocks_w, 64), dtype=np.int16)
                  for c in info.components]
    except BaseException:
        dec.end()  # e.g. MemoryError: release the open image and the input buffer
        raise
    quant, nwarn, first = dec.fill(planes)  # always ends the image
    comps = [p if p.shape[:2] == (c.blocks_h, c.blocks_w) else p[:c.blocks_h, :c.blocks_w]
             for p, c in zip(planes, info.components)]
    tables = [np.frombuffer(q, dtype=np.uint16) for q in quant]
    return Coefficients(comps, tables, info, nwarn, first)


def coefficients_from_pixels(buf, limit: int, cause: str) -> Coefficients:
    """Pillow decode -> YCbCr (or L) -> 8x8 forward DCT, unit quant tables.

    ``limit``: max_pixels (0: none); ``cause``: why the file's own coefficients could not
    be read (the core's message), kept in the error when Pillow fails too."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(bytes(buf)))
            w, h = im.size
            if limit and w * h > limit:
                raise ImageTooLargeError(
                    f"image of {w} x {h} = {w * h} pixels is over the limit of {limit} pixels "
                    "(max_pixels)")
            im.load()
    except FreqloadError:
        raise
    except Exception as e:  # Pillow raises many types for undecodable input
        # (its "cannot identify image file <_io.BytesIO object at 0x...>" names a buffer's
        # address: not the file, and different every time)
        why = ("not an image format it knows" if isinstance(e, UnidentifiedImageError)
               else str(e))
        raise UnsupportedImageError(f"{cause}; Pillow could not decode it either: {why}") from e
    try:  # the picture's EXIF orientation, as the file's own header would give it
        orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # Pillow's EXIF parser raises many types on a malformed segment
        orientation = 1
    orientation = orientation if 1 <= orientation <= 8 else 1
    gray = im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
    ycc = im.convert("L") if gray else im.convert("RGB").convert("YCbCr")
    arr = np.asarray(ycc, dtype=np.float64)
    planes = [arr] if gray else [arr[..., i] for i in range(3)]
    bh, bw = -(-h // 8), -(-w // 8)
    comps = []
    for p in planes:
        p = np.pad(p, ((0, bh * 8 - h), (0, bw * 8 - w)), mode="edge") - 128.0
        comps.append(np.clip(np.rint(forward_blocks(p)), -32768, 32767).astype(np.int16))
    n = len(comps)
    ones = np.ones(64, dtype=np.uint16)
    info = JpegInfo(w, h, n, "gray" if gray else "YCbCr", None, False, 8, False, False, 0,
                    1, 1, tuple(ComponentInfo(i + 1, 1, 1, 0, bh, bw, bh, bw) for i in range(n)),
                    tuple(ones for _ in range(n)), source="pixels", orientation=orientation)
    return Coefficients(comps, [ones] * n, info, 0, "", from_pixels=True)
