"""Every decode is independent of the one before it, and bad headers are errors.

Each thread reuses one decoder. libjpeg's jpeg_abort_decompress keeps the
quantisation and Huffman tables of the last image (for abbreviated streams), so a
reused decompressor would let a file without DQT borrow the last file's tables and
decode a Motion-JPEG frame (no DHT: the standard tables apply) with the last file's
Huffman codes. The references: a fresh decoder's outcome for the same bytes (which
the corpus tests check against libjpeg's pixels), and for Motion-JPEG frames the
same file with its standard-table DHT still in, plus libjpeg's own pixel decode of
the frame through Pillow.
"""
from __future__ import annotations

import os
import struct
import subprocess

import numpy as np
import pytest
import torch

import freqload
from freqload import DCTLoader, DecodeError, FreqloadError, Recipe, _core
from freqload.codec import read as coefficients_module

from conftest import (
    CONFORMANCE,
    ENGINES,
    PHOTOS,
    libjpeg_rgb,
    manifest_rows,
    needs_shared,
    pillow_jpeg,
    rng_image,
    tool,
)

# ---- crafting files ------------------------------------------------------------------

def segments(data: bytes):
    """(marker, start, end) of each marker segment before the first SOS (SOS included)."""
    out, i = [], 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("not a marker")
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((marker, i, i + 2 + length))
        if marker == 0xDA:
            break
        i += 2 + length
    return out


def without(data: bytes, marker: int) -> bytes:
    """The file with every `marker` segment before the scan removed."""
    cut = [(s, e) for m, s, e in segments(data) if m == marker]
    assert cut, f"no 0x{marker:02x} segment"
    out, pos = bytearray(), 0
    for s, e in cut:
        out += data[pos:s]
        pos = e
    return bytes(out + data[pos:])


def with_quant_index(data: bytes, component: int, table: int) -> bytes:
    """The file with SOF's `component` naming quantisation table `table`."""
    m, s, _ = next(seg for seg in segments(data) if seg[0] in (0xC0, 0xC1, 0xC2))
    pos = s + 2 + 2 + 6 + 3 * component + 2  # length, P Y X Nf, then (C, HV, Tq) each
    return data[:pos] + bytes([table]) + data[pos + 1:]


def outcome(decoder, data: bytes, strict: bool):
    """What read_coefficients gives on `decoder`: coefficients, tables, warnings, or the
    error's type and message."""
    saved = getattr(coefficients_module._local, "decoder", None)
    coefficients_module._local.decoder = decoder
    try:
        c = freqload.read_coefficients(data, strict=strict)
        return ("ok", [a.tobytes() for a in c.components],
                [q.tobytes() for q in c.quant_tables], c.warnings, c.warning)
    except FreqloadError as e:
        return ("error", type(e).__name__, str(e))
    finally:
        coefficients_module._local.decoder = saved


def primers():
    """Files whose tables a reused decoder could carry over: optimised Huffman tables,
    progressive, greyscale, arithmetic-coded (made by jpegtran where it is installed)."""
    img = rng_image(40, 56, seed=3)
    out = {"optimised": pillow_jpeg(img, quality=55, optimize=True),
           "progressive": pillow_jpeg(img, quality=95, progressive=True, subsampling=2),
           "grey": pillow_jpeg(img[..., 0], quality=30, optimize=True)}
    if tool("jpegtran"):
        out["arithmetic"] = subprocess.run([tool("jpegtran"), "-arithmetic"],
                                           input=out["optimised"], capture_output=True,
                                           check=True).stdout
    return out


PRIMERS = primers()


# ---- always run: generated files -------------------------------------------------------

def test_primers_differ_from_the_standard_tables():
    assert tool("jpegtran") is None or freqload.read_header(PRIMERS["arithmetic"]).arithmetic
    assert freqload.read_header(PRIMERS["progressive"]).progressive
    # an optimised file's DHT differs from the standard tables a Motion-JPEG frame uses
    standard = pillow_jpeg(rng_image(40, 56, seed=3), quality=55)
    dht = lambda d: [d[s:e] for m, s, e in segments(d) if m == 0xC4]  # noqa: E731
    assert dht(PRIMERS["optimised"]) != dht(standard)


@pytest.mark.parametrize("subsampling", [0, 2], ids=["444", "420"])
def test_motion_jpeg_frames_decode_with_the_standard_tables(subsampling):
    img = rng_image(72, 104, seed=subsampling)
    full = pillow_jpeg(img, quality=80, subsampling=subsampling)  # standard Huffman tables
    frame = without(full, 0xC4)  # the AVI MJPEG convention: no DHT
    # libjpeg itself (Pillow) decodes the frame to the pixels of the file with its DHT
    np.testing.assert_array_equal(libjpeg_rgb(frame), libjpeg_rgb(full))
    expect = outcome(_core.Decoder(), full, True)
    assert expect[0] == "ok" and expect[3] == 0
    assert outcome(_core.Decoder(), frame, True) == expect  # fresh
    dec = _core.Decoder()
    for name, primer in PRIMERS.items():
        assert outcome(dec, primer, True)[0] == "ok", name
        assert outcome(dec, frame, True) == expect, f"after the {name} file"
        assert outcome(dec, frame, False) == expect, f"after the {name} file (strict=False)"


def test_missing_tables_are_missing_after_any_file():
    data = pillow_jpeg(rng_image(48, 48, seed=4), quality=70)
    no_dqt = without(data, 0xDB)
    fresh = outcome(_core.Decoder(), no_dqt, False)
    assert fresh[:2] == ("error", "DecodeError") and "Quantization table 0x00" in fresh[2]
    dec = _core.Decoder()
    for name, primer in PRIMERS.items():
        outcome(dec, primer, True)
        assert outcome(dec, no_dqt, False) == fresh, f"after the {name} file"
        assert outcome(dec, no_dqt, True) == fresh, f"after the {name} file"


@pytest.mark.parametrize("engine", ENGINES)
def test_loader_outcomes_do_not_depend_on_the_order(tmp_path, engine):
    good = pillow_jpeg(rng_image(64, 64, seed=5), quality=75, optimize=True)
    standard = pillow_jpeg(rng_image(64, 64, seed=6), quality=75)
    files = {"good.jpg": good, "no_dqt.jpg": without(good, 0xDB),
             "mjpeg.jpg": without(standard, 0xC4)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    reference = freqload.to_channels(freqload.read_coefficients(standard), "dctnet24",
                                     size=(8, 8))
    for order in (["good.jpg", "no_dqt.jpg", "mjpeg.jpg"], ["no_dqt.jpg", "mjpeg.jpg", "good.jpg"],
                  ["mjpeg.jpg", "good.jpg", "no_dqt.jpg"]):
        source = [(str(tmp_path / n), k) for k, n in enumerate(order)]
        loader = DCTLoader(source, recipe=Recipe(transform="blocks", strict=False), batch_size=3,
                           size=(8, 8), engine=engine, num_workers=1, on_error="skip",
                           normalize=False)
        got = {}
        for x, y in loader:
            got.update({order[int(k)]: s.numpy() for s, k in zip(x, y)})
        assert sorted(got) == ["good.jpg", "mjpeg.jpg"], order  # no_dqt: skipped, always
        np.testing.assert_array_equal(got["mjpeg.jpg"], reference)
        assert loader.stats.skipped == 1


def test_frame_header_naming_a_table_above_3_is_a_decode_error(tmp_path):
    data = pillow_jpeg(rng_image(32, 32, seed=7), quality=70)
    for table in (4, 7, 255):
        bad = with_quant_index(data, 1, table)
        with pytest.raises(DecodeError, match=f"component 1 names quantization table {table}"):
            freqload.read_header(bad)
        with pytest.raises(DecodeError, match=f"quantization table {table}"):
            freqload.read_coefficients(bad, strict=False)
    path = tmp_path / "bad_table.jpg"
    path.write_bytes(with_quant_index(data, 0, 9))
    from freqload.tools.cli import main
    assert main(["inspect", "--json", str(path)]) == 0  # reported, no traceback
    assert freqload.read_header(with_quant_index(data, 1, 3)).components[1].quant_index == 3


# ---- the shared corpus -------------------------------------------------------------------

CORPUS = [r for r in manifest_rows() if "/huge/" not in r["path"]]


@needs_shared
def test_every_corpus_file_decodes_as_on_a_freshthread_decoder():
    assert len(CORPUS) >= 370, len(CORPUS)  # the manifest's files, huge ones aside
    dec = _core.Decoder()
    for strict in (True, False):
        for row in CORPUS:
            data = open(os.path.join(CONFORMANCE, row["path"]), "rb").read()
            fresh = outcome(_core.Decoder(), data, strict)
            for name, primer in PRIMERS.items():
                outcome(dec, primer, strict)
                assert outcome(dec, data, strict) == fresh, (row["path"], name, strict)


def _photos(n):
    root = os.path.join(PHOTOS, "imagenet-sample-500")
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    return paths[:n]


@needs_shared
@pytest.mark.parametrize("transform", ["train", "blocks"])
@pytest.mark.parametrize("engine", ENGINES)
def test_an_epoch_of_good_photos_and_every_corrupt_file_yields_the_photos(engine, transform):
    # default settings (partial_decode=True, strict=True): every epoch the corrupt files
    # are all skipped, whatever rows each epoch's samples read (small outputs read few)
    photos = _photos(48)
    corrupt = [os.path.join(CONFORMANCE, r["path"]) for r in manifest_rows()
               if r["expected"] == "corrupt"]
    assert len(photos) == 48 and len(corrupt) >= 240
    source = [(p, k) for k, p in enumerate(photos)] + [(p, -1) for p in corrupt]
    loader = DCTLoader(source, recipe=Recipe(transform=transform), batch_size=32, train=True,
                       size=(4, 4), engine=engine, num_workers=2, on_error="skip", normalize=False,
                       seed=11)
    for epoch in range(3):
        labels = torch.cat([y for _, y in loader]).tolist()
        assert sorted(labels) == list(range(48)), epoch
        assert loader.stats.skipped == len(corrupt) * (epoch + 1)
