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

import dataclasses
import io
import os
import threading
import warnings as _warnings
from typing import NamedTuple, Optional, Tuple

import numpy as np

from . import _core
from .dct import forward_blocks
from .errors import FreqloadError, ImageTooLargeError, UnsupportedImageError

#: Default pixel limit of read_coefficients (checked from the header).
DEFAULT_MAX_PIXELS = _core.DEFAULT_MAX_PIXELS  # 100,000,000 (fl_core.h, one home)
#: Default limits on the file, the scans of a progressive file, and the coefficient memory
#: of one decode (each an ImageTooLargeError naming it; 0 or None disables one).
DEFAULT_MAX_FILE_SIZE = _core.DEFAULT_MAX_FILE_SIZE  # 256 MiB
DEFAULT_MAX_SCANS = _core.DEFAULT_MAX_SCANS  # 1000
DEFAULT_MAX_MEMORY = _core.DEFAULT_MAX_MEMORY  # 2 GiB


def limits_tuple(max_file_size=DEFAULT_MAX_FILE_SIZE, max_scans=DEFAULT_MAX_SCANS,
                 max_memory=DEFAULT_MAX_MEMORY) -> tuple[int, int, int]:
    """The native core's (max_file_size, max_scans, max_memory); None -> 0 (no limit)."""
    out = tuple(int(v or 0) for v in (max_file_size, max_scans, max_memory))
    if any(v < 0 for v in out):
        raise ValueError("limits must be >= 0 (0 or None: no limit)")
    return out

_COLOR_NAMES = {0: "unknown", 1: "gray", 2: "YCbCr", 3: "RGB", 4: "CMYK", 5: "YCCK"}
_SUBSAMPLING = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0",
                (4, 1): "4:1:1", (4, 2): "4:1:0"}


class ComponentInfo(NamedTuple):
    """One component of the frame, as libjpeg defines its block grid."""
    id: int
    h_samp: int
    v_samp: int
    quant_index: int
    blocks_h: int  #: height_in_blocks (no MCU padding)
    blocks_w: int  #: width_in_blocks
    alloc_blocks_h: int  #: blocks_h rounded up to v_samp (what the decoder writes)
    alloc_blocks_w: int  #: blocks_w rounded up to h_samp


@dataclasses.dataclass(frozen=True)
class JpegInfo:
    """Header facts of one JPEG.

    ``quant_tables[c]`` is the uint16 [64] table (raster order) component
    ``c`` uses, as defined before the first scan (None if the file defines
    it later). ``color_space`` is libjpeg's reading of the JFIF/Adobe markers
    and component ids: "gray", "YCbCr", "RGB", "CMYK", "YCCK" or "unknown";
    ``adobe_transform`` is the APP14 transform code, None without one.
    ``source`` is "jpeg", or "pixels" for a Pillow fallback decode.
    ``partial_decodable``: the loaders' ``partial_decode`` may stop decoding this file
    below the rows a sample reads (sequential, one scan holding every component, data
    ending with an EOI marker, and no stray marker in the scan data); otherwise it is
    always decoded whole. :func:`read_header` checks all of it; the ``info`` of
    :func:`read_coefficients` leaves out the marker scan (a decode that stops early scans
    only the part it skips, and reads the file whole after all if it finds one).
    """
    width: int
    height: int
    num_components: int
    color_space: str
    adobe_transform: Optional[int]
    jfif: bool
    precision: int
    progressive: bool
    arithmetic: bool
    restart_interval: int
    max_h_samp: int
    max_v_samp: int
    components: Tuple[ComponentInfo, ...]
    quant_tables: Tuple[Optional[np.ndarray], ...]
    source: str = "jpeg"
    partial_decodable: bool = False
    #: the EXIF Orientation tag, 1..8 (1: as stored, also without one): 2 mirrored, 3
    #: rotated 180, 4 flipped, 5 transposed, 6 rotated 90 clockwise, 7 transversed, 8
    #: rotated 270 clockwise, to be upright
    orientation: int = 1
    #: "" or why an EXIF orientation in the file was ignored (malformed: never an error)
    exif_warning: str = ""

    @property
    def block_grid(self) -> tuple[int, int]:
        """(H8, W8): the luma block grid, the spatial size of ``to_channels``."""
        return self.components[0].blocks_h, self.components[0].blocks_w

    @property
    def sampling(self) -> str:
        """"4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1", "4:1:0", "gray" or "custom:HxV,...".

        Named from the luma/chroma ratio, so 2x2,2x2,2x2 is "4:4:4"."""
        comps = self.components
        if self.num_components == 1:
            return "gray"
        if self.num_components == 3 and comps[1][1:3] == comps[2][1:3]:
            y, c = comps[0], comps[1]
            if y.h_samp % c.h_samp == 0 and y.v_samp % c.v_samp == 0:
                name = _SUBSAMPLING.get((y.h_samp // c.h_samp, y.v_samp // c.v_samp))
                if name:
                    return name
        return "custom:" + ",".join(f"{c.h_samp}x{c.v_samp}" for c in comps)


class Coefficients:
    """Quantised DCT coefficients of one image, as stored in the file.

    Attributes:
        components: one int16 array per component, ``[blocks_h, blocks_w, 64]``
            (libjpeg's height/width_in_blocks; raster order inside the block,
            index ``8*row + col``, row = vertical frequency). An array may be a
            view of a slightly larger buffer (the decoder writes the grid padded
            to the sampling factors), so it is not always C-contiguous.
        quant_tables: the uint16 ``[64]`` table (raster order) of each component;
            ``components[c] * quant_tables[c]`` are the dequantised coefficients.
        info: the :class:`JpegInfo`.
        warnings: how many warnings libjpeg gave (non-zero only with strict=False
            or metadata-only warnings); ``warning`` holds the first one's text.
        from_pixels: True when these are NOT the file's own coefficients but a
            forward DCT of Pillow's pixel decode (``fallback="pixels"``).
    """

    __slots__ = ("components", "quant_tables", "info", "warnings", "warning", "from_pixels")

    def __init__(self, components, quant_tables, info: JpegInfo, warnings: int = 0,
                 warning: str = "", from_pixels: bool = False):
        self.components = list(components)
        self.quant_tables = list(quant_tables)
        self.info = info
        self.warnings = int(warnings)
        self.warning = warning
        self.from_pixels = bool(from_pixels)

    def __repr__(self) -> str:
        shapes = ", ".join("x".join(map(str, a.shape)) for a in self.components)
        src = " from pixels" if self.from_pixels else ""
        return (f"<Coefficients {self.info.width}x{self.info.height} {self.info.sampling} "
                f"[{shapes}]{src} warnings={self.warnings}>")


_local = threading.local()


def _decoder():
    dec = getattr(_local, "decoder", None)
    if dec is None:
        dec = _local.decoder = _core.Decoder()
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
    return _core.read_file(os.fspath(path), int(max_file_size or 0), int(offset), int(length))


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
    return _info_from_native(_decoder().begin(_as_bytes(data), 0, False, False))


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
        from .transforms import orient

        return orient(c)
    return c


def _read_coefficients(data, strict, max_pixels, fallback, max_file_size, max_scans,
                       max_memory) -> Coefficients:
    limit = int(max_pixels or 0)
    if limit < 0:
        raise ValueError("max_pixels must be positive (or None for no limit)")
    limits = limits_tuple(max_file_size, max_scans, max_memory)
    buf = read_file(data, limits[0]) if isinstance(data, (str, os.PathLike)) else _as_bytes(data)
    dec = _decoder()
    try:
        info = _info_from_native(dec.begin(buf, limit, bool(strict), True, limits))
    except UnsupportedImageError as e:
        if fallback == "pixels":
            return _coefficients_from_pixels(buf, limit, str(e))
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


def _coefficients_from_pixels(buf, limit: int, cause: str) -> Coefficients:
    """Pillow decode -> YCbCr (or L) -> 8x8 forward DCT, unit quant tables.

    ``limit``: max_pixels (0: none); ``cause``: why the file's own coefficients could not
    be read (the core's message), kept in the error when Pillow fails too."""
    from PIL import Image

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
        raise UnsupportedImageError(f"{cause}; Pillow could not decode it either: {e}") from e
    try:  # the picture's EXIF orientation, as the file's own header would give it
        orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # Pillow's EXIF parser raises many types on a malformed segment
        orientation = 1
    orientation = orientation if 1 <= orientation <= 8 else 1
    gray = im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
    im = im.convert("L") if gray else im.convert("RGB").convert("YCbCr")
    arr = np.asarray(im, dtype=np.float64)
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
