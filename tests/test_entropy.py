"""The fast entropy decoder (freqload/_native/core/fl_entropy.c) against libjpeg itself.

The core decodes one sequential Huffman scan holding every component on its own fast
path and hands everything else to libjpeg; it must give exactly what libjpeg gives:
the same coefficients and quantisation tables, the same warnings, the same errors. Each
test decodes the same bytes twice on one Decoder, once with ``libjpeg_only = True``
(libjpeg decodes everything, the reference) and once as shipped, and compares all a
caller can see. The inputs: every conformance-corpus file, every photo, variants that
jpegtran and cjpeg (independent tools) write from them (restart intervals, optimised and
greyscale tables, progressive, arithmetic, multi-scan), Pillow files of every sampling
and odd sizes, and seeded damage. tests/test_native_driver.py runs the native driver's
--differential mode (thousands of mutations, both engines' call path) on top.
"""
from __future__ import annotations

import glob
import os
import subprocess

import numpy as np
import pytest

import freqload
from freqload import _core
from freqload.codec.recipe import Recipe

from conftest import CONFORMANCE, PHOTOS, manifest_rows, pillow_jpeg, rng_image, tool

PHOTO_FILES = sorted(glob.glob(os.path.join(PHOTOS, "imagenet-sample-500", "*", "*")))
needs_photos = pytest.mark.skipif(not PHOTO_FILES, reason="../shared/data/photos is absent")
needs_corpus = pytest.mark.skipif(not manifest_rows(), reason="../shared/data is absent")
JPEGTRAN, CJPEG = tool("jpegtran"), tool("cjpeg")

# lenient, no limits; partial decoding on and off
SPEC = {(kind, partial): Recipe("dctnet24", 28, transform=kind, strict=False, max_pixels=0,
                                max_file_size=0, max_scans=0, max_memory=0,
                                partial_decode=partial)
        for kind in ("blocks", "eval", "train") for partial in (True, False)}


def _read(dec, data: bytes, strict: bool):
    """All read_coefficients gives (or its error), and whether the fast path decoded it."""
    from freqload.codec import read as coefficients
    before = getattr(coefficients._local, "decoder", None)
    coefficients._local.decoder = dec  # read_coefficients' per-thread decoder, for this call
    try:
        c = freqload.read_coefficients(data, strict=strict)
        out = ("ok", [a.copy() for a in c.components], [np.asarray(q).copy() for q in
                                                         c.quant_tables], c.warnings, c.warning)
    except freqload.FreqloadError as e:
        out = ("error", type(e).__name__, str(e))
    finally:
        coefficients._local.decoder = before
    return out, dec.fast_path_used


def _sample(dec, data: bytes, kind: str, key: int, partial: bool):
    s = SPEC[kind, partial]
    out = np.zeros((s.channels, s.out_h, s.out_w), np.int16)
    try:
        res = dec.decode(data, s.packed, key, out)
        return ("ok", res, out), dec.fast_path_used
    except freqload.FreqloadError as e:
        return ("error", type(e).__name__, str(e)), dec.fast_path_used


def _same(a, b) -> bool:
    if a[0] != b[0] or len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, list):
            if len(x) != len(y) or not all(np.array_equal(u, v) for u, v in zip(x, y)):
                return False
        elif isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def compare(data: bytes, *, samples: bool = True, key: int = 7) -> bool:
    """Assert the fast path gives libjpeg's outcome for every call; True when the fast
    path decoded the file (strict whole read)."""
    dec = _core.Decoder()
    used = False
    calls = [lambda s=s: _read(dec, data, s) for s in (True, False)]
    if samples:
        calls += [lambda k=k, p=p: _sample(dec, data, k, key, p)
                  for k in ("blocks", "eval", "train") for p in (True, False)]
    for i, call in enumerate(calls):
        dec.libjpeg_only = True
        want, _ = call()
        dec.libjpeg_only = False
        got, fast = call()
        assert _same(got, want), (i, got[:1] + got[1:3] if got[0] == "error" else got[0],
                                  want[:3] if want[0] == "error" else want[0])
        used = used or (i == 0 and fast)
    return used


def test_libjpeg_only_is_a_switch_and_defaults_from_the_environment():
    dec = _core.Decoder()
    assert dec.libjpeg_only is (os.environ.get("FREQLOAD_ENTROPY") == "libjpeg")
    data = pillow_jpeg(rng_image(40, 56, seed=3), quality=80, subsampling=2)
    dec.libjpeg_only = False
    assert _read(dec, data, True)[1] is True
    dec.libjpeg_only = True
    assert _read(dec, data, True)[1] is False
    env = dict(os.environ, FREQLOAD_ENTROPY="libjpeg")
    code = "from freqload import _core; print(_core.Decoder().libjpeg_only)"
    out = subprocess.run([os.sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "True"


@needs_corpus
def test_every_corpus_file_gives_libjpegs_outcome():
    fast = 0
    rows = [r for r in manifest_rows() if int(r["bytes"]) < 3_000_000]
    for r in rows:
        with open(os.path.join(CONFORMANCE, r["path"]), "rb") as f:
            data = f.read()
        fast += compare(data, samples=int(r["bytes"]) < 400_000)
    # the corpus is mostly the unusual: still, its plain baseline files take the fast path
    assert fast >= 40, fast


@needs_photos
def test_every_photo_takes_the_fast_path_and_gives_libjpegs_coefficients():
    # all 500 are baseline sequential files, the case the fast path is for
    fast = 0
    for i, path in enumerate(PHOTO_FILES):
        with open(path, "rb") as f:
            data = f.read()
        fast += compare(data, samples=i % 10 == 0, key=i)
    assert fast == len(PHOTO_FILES)


def _jpegtran(data: bytes, *args: str) -> bytes:
    return subprocess.run([JPEGTRAN, *args], input=data, capture_output=True,
                          check=True).stdout


@needs_photos
@pytest.mark.skipif(JPEGTRAN is None or CJPEG is None,
                    reason="jpegtran/cjpeg missing (.ci/run installs libjpeg-turbo-progs)")
def test_jpegtran_and_cjpeg_variants(tmp_path):
    """Restart intervals (every MCU, and every few rows), optimised tables and greyscale
    take the fast path; progressive, arithmetic and multi-scan files go to libjpeg; all
    give libjpeg's outcome."""
    scans = tmp_path / "scans.txt"
    scans.write_text("0;\n1;\n2;\n")  # sequential, one component per scan
    for path in PHOTO_FILES[:6]:
        with open(path, "rb") as f:
            data = f.read()
        fast_variants = [_jpegtran(data, "-restart", "1"), _jpegtran(data, "-restart", "3"),
                         _jpegtran(data, "-restart", "7B"), _jpegtran(data, "-optimize"),
                         _jpegtran(data, "-grayscale"),
                         _jpegtran(data, "-grayscale", "-restart", "2")]
        for v in fast_variants:
            assert compare(v)
        slow_variants = [_jpegtran(data, "-progressive"), _jpegtran(data, "-arithmetic")]
        ppm = tmp_path / "p.ppm"
        import io

        from PIL import Image
        Image.open(io.BytesIO(data)).convert("RGB").save(ppm)
        slow_variants.append(subprocess.run([CJPEG, "-scans", str(scans), str(ppm)],
                                            capture_output=True, check=True).stdout)
        for v in slow_variants:
            assert not compare(v)


def test_pillow_files_of_every_sampling_and_odd_size():
    for k, (h, w) in enumerate([(1, 1), (7, 9), (8, 8), (17, 33), (61, 47), (130, 75)]):
        for sub in (0, 1, 2):
            data = pillow_jpeg(rng_image(h, w, seed=k), quality=50 + 9 * k, subsampling=sub)
            assert compare(data)
        assert compare(pillow_jpeg(rng_image(h, w, seed=k, gray=True), quality=90))
        # 4:1:1 and 2x2-sampled greyscale padding come from cjpeg where it is installed
        if CJPEG:
            import tempfile

            from PIL import Image
            with tempfile.TemporaryDirectory() as d:
                src = os.path.join(d, "a.ppm")
                Image.fromarray(rng_image(h, w, seed=k)).save(src)
                for samp in ("4x1,1x1,1x1", "1x2,1x1,1x1", "2x2,1x1,2x1"):
                    out = subprocess.run([CJPEG, "-sample", samp, "-restart", "1", src],
                                         capture_output=True, check=True).stdout
                    assert compare(out)


def _damaged(data: bytes, rng: np.random.Generator) -> bytes:
    """One seeded mutation, mostly inside the entropy-coded data."""
    b = bytearray(data)
    at = int(rng.integers(len(b) // 3, len(b)))
    kind = int(rng.integers(0, 8))
    rst = [i for i in range(len(b) - 1) if b[i] == 0xFF and 0xD0 <= b[i + 1] <= 0xD7]
    if kind == 6 and rst:  # a restart marker renumbered
        i = rst[int(rng.integers(0, len(rst)))]
        b[i + 1] = 0xD0 + (b[i + 1] - 0xD0 + int(rng.integers(1, 8))) % 8
    elif kind == 7:  # cut short, then an EOI: libjpeg fills in zeros and warns
        b = b[:at] + b"\xff\xd9"
    elif kind == 0:
        b[at] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:
        del b[at:at + int(rng.integers(1, 9))]
    elif kind == 2:
        b[at:at] = bytes([0xFF, int(rng.choice([0xD0, 0xD1, 0xD9, 0xD8, 0xC4, 0xFF, 0x00]))])
    elif kind == 3:
        b = b[:at]
    elif kind == 4:  # bytes before the EOI: libjpeg warns of extraneous data
        b[-2:-2] = bytes(int(v) for v in rng.integers(0, 255, int(rng.integers(1, 4))))
    else:
        b[at:at] = b[at:at + int(rng.integers(1, 40))]
    return bytes(b)


def test_a_file_cut_short_below_the_rows_a_sample_reads():
    """Partial decoding stops below the rows a sample reads. libjpeg reads ahead: stopped
    there, it may already have met the EOI of a file cut short further down. That EOI ends
    the file, so for both paths the rest of the scan is clean and the damage below goes
    unseen; libjpeg's path once took it for a stray marker and read the file whole, with
    the warnings (or, strict, the error) of the cut (found by scripts/sanitize.sh diff 200).
    Every cut in the lower two thirds of the scan, with and without restart markers."""
    src = pillow_jpeg(rng_image(149, 227, seed=5), quality=75, subsampling=2)
    sources = [src] + ([_jpegtran(src, "-restart", "1")] if JPEGTRAN else [])
    recipes = [Recipe("dctnet24", (7, 9), transform=kind, strict=strict, max_pixels=0,
                      partial_decode=True)
               for kind in ("blocks", "eval", "train") for strict in (False, True)]
    dec = _core.Decoder()

    def outcome(data, r):
        out = np.zeros((r.channels, r.out_h, r.out_w), np.int16)
        try:
            return ("ok", dec.decode(data, r.packed, 3, out), out)
        except freqload.FreqloadError as e:
            return ("error", type(e).__name__, str(e))

    cases = stopped = 0
    for data in sources:
        sos = data.find(b"\xff\xda")
        start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
        for cut in range(start + (len(data) - start) // 3, len(data) - 2, 5):
            damaged = data[:cut] + b"\xff\xd9"
            for r in recipes:
                dec.libjpeg_only = True
                want = outcome(damaged, r)
                dec.libjpeg_only = False
                got = outcome(damaged, r)
                assert _same(got, want), (cut, r.transform, r.strict, got[:3], want[:3])
                cases += 1
                stopped += got[0] == "ok" and got[1][0] == 0  # no warning: stopped above the cut
    assert cases > 100 and stopped > 10


def test_seeded_damage_gives_libjpegs_outcome():
    rng = np.random.default_rng(2026)
    sources = [pillow_jpeg(rng_image(48, 64, seed=s), quality=75, subsampling=s % 3)
               for s in range(3)]
    if JPEGTRAN:
        sources += [_jpegtran(sources[0], "-restart", "1"), _jpegtran(sources[2], "-restart",
                                                                      "2B")]
    for i in range(300):
        compare(_damaged(sources[i % len(sources)], rng), samples=i % 3 == 0, key=i)
