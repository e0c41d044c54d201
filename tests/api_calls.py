"""Every public entry point that takes JPEG bytes, as a list of calls on one input.

Shared by tests/test_api_fuzz.py (seeded random mutations, in every test run) and
scripts/fuzz_api.py (atheris, coverage-guided, for longer runs). On any byte string
each call must return or raise a FreqloadError; any other exception is a bug.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

import freqload
from freqload import _core
from freqload.codec.recipe import Recipe
from freqload.codec.resample import sample
from freqload.codec.transform import Transform
from freqload.tools.inspect import inspect_file

LIMITS = dict(max_pixels=4_000_000, max_file_size=8 << 20, max_scans=100,
              max_memory=64 << 20)
SPECS = [Recipe("dctnet24", (5, 7), transform=t, partial_decode=p, **LIMITS)
         for t in ("blocks", "eval", "train") for p in (True, False)]
_TMP = tempfile.mkdtemp(prefix="freqload-api-")


def entry_points(data: bytes):
    """(name, call) for each public entry point on `data`."""
    yield "read_header", lambda: freqload.read_header(data)
    for strict in (True, False):
        yield f"read_coefficients(strict={strict})", lambda: coefficient_paths(
            freqload.read_coefficients(data, strict=strict, **LIMITS))
    yield "read_coefficients(fallback)", lambda: coefficient_paths(
        freqload.read_coefficients(data, strict=False, fallback="pixels", **LIMITS))
    dec = _core.Decoder()
    for s in SPECS:
        out = np.empty((s.channels, s.out_h, s.out_w), dtype=np.int16)
        yield f"decode({s.transform.kind}, partial={s.partial_decode})", \
            lambda: dec.decode(data, s.packed, 12345, out)
    s = SPECS[0].replace(regroup="device")
    yield "decode(planes)", lambda: dec.decode(
        data, s.packed, 0, np.empty(s.out_elements, np.int16),
        np.zeros(_core.LAYOUT_INTS, np.int32))

    def inspect():
        path = os.path.join(_TMP, "input.jpg")
        with open(path, "wb") as f:
            f.write(data)
        inspect_file(path)
    yield "inspect", inspect


def coefficient_paths(c):
    """What a user does next with coefficients: to_channels, hflip, crop, resize_crop and
    sample, each on the image's own sizes."""
    freqload.to_channels(c)
    freqload.to_channels(c, "dctnet24", size=(3, 5), chroma="nearest")
    freqload.to_channels(c, "dctnet24", dequantize=False)
    mh, mw = (8 * c.info.max_v_samp, 8 * c.info.max_h_samp)
    if c.info.width >= mw:  # documented: ValueError for an image narrower than one MCU
        freqload.to_channels(freqload.hflip(c), "dctnet24")
    if c.info.height > mh and c.info.width > mw:
        freqload.crop(c, mh, mw, c.info.height - mh, c.info.width - mw)
    h, w = c.info.height, c.info.width
    freqload.resize_crop(c, (0.5, 0.25, max(1.0, h / 2), max(1.0, w / 3)), (3, 4),
                         mask="dctnet24", flip=True)
    for kind in ("blocks", "eval", "train"):
        sample(c, Transform(kind), "dctnet24", (4, 3), key=7)
