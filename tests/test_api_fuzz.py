"""Bad bytes through the whole Python API: only FreqloadError may come out.

Seeded random mutations (bit flips, byte runs, cuts, inserted markers, changed segment
lengths) of generated JPEGs and, where ../shared/data exists, of corpus files, through
every entry point in tests/api_calls.py. scripts/fuzz_api.py runs the same calls under
atheris for longer. Inputs those runs found are kept below as regression cases.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from freqload.errors import FreqloadError

from api_calls import entry_points
from conftest import CONFORMANCE, manifest_rows, pillow_jpeg, rng_image

MARKERS = [b"\xff\xd8", b"\xff\xd9", b"\xff\xda\x00\x08", b"\xff\xdb\x00\x43\x05",
           b"\xff\xc4\x00\x03", b"\xff\xc0\x00\x11\x08", b"\xff\xdd\x00\x04\x00\x01",
           b"\xff\xd3", b"\xff\xff\xff", b"\xff\xe1\xff\xff"]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 6))
        i = int(rng.integers(0, max(1, len(b))))
        if op == 0 and b:                                   # flip bits
            b[i % len(b)] ^= int(rng.integers(1, 256))
        elif op == 1:                                       # a run of one byte
            b[i:i] = bytes([int(rng.integers(0, 256))]) * int(rng.integers(1, 40))
        elif op == 2:                                       # cut
            del b[i:i + int(rng.integers(1, 200))]
        elif op == 3:                                       # a marker where it does not belong
            b[i:i] = MARKERS[int(rng.integers(0, len(MARKERS)))]
        elif op == 4 and len(b) > 6:                        # a segment length or SOF field
            j = int(rng.integers(2, min(len(b) - 2, 400)))
            b[j:j + 2] = int(rng.integers(0, 65536)).to_bytes(2, "big")
        else:                                               # truncate
            b = b[:i]
    return bytes(b)


def seeds():
    out = [pillow_jpeg(rng_image(40, 56, seed=1), quality=80),
           pillow_jpeg(rng_image(33, 17, seed=2), quality=60, subsampling=2, optimize=True),
           pillow_jpeg(rng_image(24, 40, seed=3), quality=90, progressive=True, subsampling=1),
           pillow_jpeg(rng_image(16, 16, seed=4, gray=True), quality=50)]
    rows = [r for r in manifest_rows() if int(r["bytes"] or 0) < 60_000]
    out += [open(os.path.join(CONFORMANCE, r["path"]), "rb").read() for r in rows[::8]]
    return out


def check(data: bytes):
    for name, call in entry_points(data):
        try:
            call()
        except FreqloadError:
            pass
        except Exception as e:  # noqa: BLE001 - any other type is the finding
            raise AssertionError(f"{name} raised {type(e).__name__}: {e} "
                                 f"on input {data[:64].hex()}... ({len(data)} bytes)") from e


@pytest.mark.parametrize("chunk", range(4))
def test_mutated_jpegs_give_only_freqload_errors(chunk):
    rng = np.random.default_rng(1000 + chunk)
    base = seeds()
    for k in range(500):
        check(mutate(base[int(rng.integers(0, len(base)))], rng))


@pytest.mark.parametrize("data", [
    b"", b"\xff", b"\xff\xd8", b"\xff\xd8\xff\xd9", b"\x89PNG\r\n\x1a\n" + bytes(40),
    b"\xff\xd8" + b"\xff" * 100, bytes(1000),
], ids=["empty", "ff", "soi", "soi-eoi", "png", "fill", "zeros"])
def test_degenerate_inputs_give_only_freqload_errors(data):
    check(data)
