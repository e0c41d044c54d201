"""The coefficients of one JPEG, as freqload hands them around.

:class:`Coefficients` holds each component's quantised DCT blocks with the quant tables
and the header facts (:class:`JpegInfo`, one :class:`ComponentInfo` per component); what
reads them is :mod:`freqload.codec.read`. A 500x375 4:2:0 JPEG gives components int16
[47, 63, 64], [24, 32, 64], [24, 32, 64] (``[blocks_h, blocks_w, 64]``, raster order in
the block) and uint16 [64] quant tables.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

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
    adobe_transform: int | None
    jfif: bool
    precision: int
    progressive: bool
    arithmetic: bool
    restart_interval: int
    max_h_samp: int
    max_v_samp: int
    components: tuple[ComponentInfo, ...]
    quant_tables: tuple[np.ndarray | None, ...]
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


def core_arrays(coeffs: Coefficients) -> tuple[list, list, list]:
    """Coefficients -> (component arrays, sampling, quant tables) as the native core takes them."""
    comps = coeffs.components
    if not 1 <= len(comps) <= 3:
        raise ValueError(f"need 1 to 3 components, got {len(comps)}")
    arrays = []
    for c in comps:
        if c.dtype != np.int16 or c.ndim != 3 or c.shape[2] != 64:
            raise ValueError(f"components must be int16 [blocks_h, blocks_w, 64], got "
                             f"{c.dtype} {c.shape}")
        if c.strides[1:] != (128, 2):
            c = np.ascontiguousarray(c)
        arrays.append(c)
    quant = [np.ascontiguousarray(q, dtype=np.uint16) for q in coeffs.quant_tables[:len(comps)]]
    sampling = [(ci.h_samp, ci.v_samp) for ci in coeffs.info.components[:len(comps)]]
    return arrays, sampling, quant
