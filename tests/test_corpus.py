"""The shared JPEG conformance corpus (../shared/data/jpeg-conformance).

Skips where ../shared/data is absent. References: the manifest's facts, the
djpeg pixel decodes beside generated/cjpeg, coef_groups.json (files that must
share identical coefficients), and libjpeg's decode through Pillow.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import freqload
from freqload import ImageTooLargeError, UnsupportedImageError

from conftest import CONFORMANCE, dequantized, idct_plane, manifest_rows, needs_shared

pytestmark = needs_shared

ROWS = manifest_rows()
BY_EXPECTED = {}
for _r in ROWS:
    BY_EXPECTED.setdefault(_r["expected"], []).append(_r)


def path_of(row):
    return os.path.join(CONFORMANCE, row["path"])


def short_id(row):
    return row["path"].replace("/", ":")[-60:]


def unsupported_reason(row):
    """Why the manifest says a valid file has no 8-bit YCbCr/grey coefficients (or None)."""
    if row["precision"] not in ("", "8"):
        return "8-bit"
    if row["sof"].startswith("lossless"):
        return "lossless"
    if row["color"].startswith(("CMYK", "RGB")) or row["color"].endswith("-comp"):
        return "YCbCr/grey"
    return None


VALID = BY_EXPECTED.get("valid", []) + BY_EXPECTED.get("valid:unsupported-by-pillow/djpeg8", [])


@pytest.mark.parametrize("row", VALID, ids=short_id)
def test_valid_files_header_and_decode(row):
    p = path_of(row)
    reason = unsupported_reason(row)
    if reason in ("8-bit", "lossless"):  # libjpeg's 8-bit DCT build stops at the header
        with pytest.raises(UnsupportedImageError, match="8-bit|lossless"):
            freqload.read_header(p)
    else:
        info = freqload.read_header(p)
        assert (info.width, info.height) == (int(row["width"]), int(row["height"]))
    if reason:
        with pytest.raises(UnsupportedImageError, match="8-bit|lossless|YCbCr/grey"):
            freqload.read_coefficients(p)
        return
    assert info.num_components == int(row["components"])
    assert info.progressive == (row["progressive"] == "True")
    assert info.arithmetic == ("arithmetic" in row["sof"])
    assert info.restart_interval == int(row["restart_interval"] or 0)
    if row["subsampling"] in ("4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1", "4:1:0", "gray"):
        assert info.sampling == row["subsampling"]
    c = freqload.read_coefficients(p)
    assert c.warnings == 0
    for comp, arr in zip(info.components, c.components):
        assert arr.shape == (comp.blocks_h, comp.blocks_w, 64)
    for chroma in ("dct", "nearest"):
        out = freqload.to_channels(c, "dctnet24", chroma=chroma)
        assert out.shape == (24, *info.block_grid)


CJPEG = os.path.join(CONFORMANCE, "generated", "cjpeg")
CJPEG_FILES = sorted(f for f in os.listdir(CJPEG) if f.endswith(".jpg") and "rgb" not in f) \
    if os.path.isdir(CJPEG) else []


def djpeg_reference(name):
    base = os.path.join(CJPEG, name[:-4])
    ref = base + ".ppm" if os.path.exists(base + ".ppm") else base + ".pgm"
    return np.asarray(Image.open(ref).convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize("name", CJPEG_FILES)
def test_luma_against_djpeg(name):
    """IDCT of our dequantised luma vs the luma of djpeg's decode: within 1 level.

    The references are RGB; their luma (JFIF weights) is independent of chroma
    except where an RGB channel clipped at 0 or 255, which is left out."""
    c = freqload.read_coefficients(os.path.join(CJPEG, name))
    ref = djpeg_reference(name)
    y_ref = ref @ np.array([0.299, 0.587, 0.114])
    ours = np.clip(idct_plane(dequantized(c, 0)) + 128, 0, 255)[:c.info.height, :c.info.width]
    unclipped = ~((ref == 0) | (ref == 255)).any(axis=-1)
    assert unclipped.mean() > 0.9
    assert np.abs(ours - y_ref)[unclipped].max() <= 1.0


@pytest.mark.parametrize("name", CJPEG_FILES)
def test_to_rgb_against_djpeg(name):
    c = freqload.read_coefficients(os.path.join(CJPEG, name))
    diff = np.abs(freqload.to_rgb(c).astype(np.float64) - djpeg_reference(name))
    # djpeg upsamples 2x with the same triangle filter as chroma="dct"; 4x
    # (4:1:1, 4:1:0) it replicates, where ours interpolates
    limit = 2.5 if c.info.sampling in ("4:1:1", "4:1:0") else 0.5
    assert diff.mean() < limit


def test_coefficient_groups_are_identical():
    groups = {}
    with open(os.path.join(CONFORMANCE, "generated", "coef_groups.json")) as f:
        for path, group in json.load(f).items():
            groups.setdefault(group, []).append(path)
    checked = 0
    for group, paths in groups.items():
        decoded = []
        for p in paths:
            try:
                decoded.append((p, freqload.read_coefficients(os.path.join(CONFORMANCE, p))))
            except UnsupportedImageError:  # RGB-stored members
                continue
        for p, c in decoded[1:]:
            ref = decoded[0][1]
            assert len(c.components) == len(ref.components), p
            for a, b, qa, qb in zip(c.components, ref.components, c.quant_tables,
                                    ref.quant_tables):
                np.testing.assert_array_equal(a, b, err_msg=f"{p} vs {decoded[0][0]}")
                np.testing.assert_array_equal(qa, qb)
            checked += 1
    assert checked >= 30


CHILD = r"""
import json, sys
import freqload
for path in sys.stdin.read().splitlines():
    try:
        freqload.read_coefficients(path)
        res = {"path": path, "error": None}
    except freqload.FreqloadError as e:
        res = {"path": path, "error": type(e).__name__, "message": str(e)}
    except Exception as e:
        res = {"path": path, "error": "other:" + type(e).__name__, "message": str(e)}
    print(json.dumps(res), flush=True)
"""


def run_child(paths):
    return subprocess.run([sys.executable, "-c", CHILD], input="\n".join(paths),
                          capture_output=True, text=True, timeout=600)


def test_corrupt_and_not_jpeg_files_give_errors_not_crashes():
    rows = BY_EXPECTED.get("corrupt", []) + BY_EXPECTED.get("not-jpeg", [])
    assert len(rows) >= 250
    paths = [path_of(r) for r in rows]
    proc = run_child(paths)
    if proc.returncode != 0:  # find the file that killed it
        for p in paths:
            one = run_child([p])
            assert one.returncode == 0, f"{p} killed the decoder: rc={one.returncode} {one.stderr}"
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in results] == paths
    not_raised = [r["path"] for r in results if r["error"] is None]
    assert not not_raised, f"corrupt files decoded without an error: {not_raised[:5]}"
    wrong = [r for r in results if r["error"] not in
             ("DecodeError", "UnsupportedImageError", "ImageTooLargeError")]
    assert not wrong, wrong[:5]
    assert all(r["message"].strip() for r in results)


def test_recoverable_files_strict_and_lenient():
    rows = BY_EXPECTED.get("recoverable:decoder-warnings", [])
    assert len(rows) >= 20
    checked = 0
    for row in rows:
        p = path_of(row)
        try:
            c = freqload.read_coefficients(p, strict=False)
        except UnsupportedImageError:
            assert row["color"] != "YCbCr" or row["components"] != "3", p
            continue
        assert c.warnings >= 1 and c.warning, p
        with pytest.raises(freqload.DecodeError, match="strict=True"):
            freqload.read_coefficients(p)
        checked += 1
    assert checked >= 8


def test_268_megapixel_file_refused_by_the_pixel_limit():
    (row,) = BY_EXPECTED["valid:exceeds-pillow-MAX_IMAGE_PIXELS"]
    with pytest.raises(ImageTooLargeError, match="16384 x 16384 = 268435456 pixels"):
        freqload.read_coefficients(path_of(row))
    assert freqload.read_header(path_of(row)).width == 16384


@pytest.mark.parametrize("name,shape", [("huge_65500x64_gray.jpg", (8, 8188)),
                                        ("huge_64x65500_gray.jpg", (8188, 8))])
def test_extreme_dimensions(name, shape):
    c = freqload.read_coefficients(os.path.join(CONFORMANCE, "generated", "huge", name))
    assert c.components[0].shape == (*shape, 64)
    assert freqload.to_channels(c, "dctnet24").shape == (24, *shape)


def test_every_manifest_file_gives_data_or_a_freqload_error():
    """The whole corpus in one child process, lenient mode: nothing else escapes."""
    paths = [path_of(r) for r in ROWS]
    code = CHILD.replace("read_coefficients(path)", "read_coefficients(path, strict=False)")
    proc = subprocess.run([sys.executable, "-c", code], input="\n".join(paths),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(paths)
    assert not [r for r in results if r["error"] and r["error"].startswith("other:")]


@pytest.mark.parametrize("row", [r for r in VALID if not unsupported_reason(r)], ids=short_id)
def test_one_call_sample_equals_read_then_to_channels(row):
    """fl_decode_sample (streams full-resolution components while decoding sequential
    files) against read_coefficients + to_channels, on every supported corpus file."""
    from freqload.codec.read import thread_decoder
    from freqload.codec.recipe import Recipe

    p = path_of(row)
    data = open(p, "rb").read()
    c = freqload.read_coefficients(p)
    for mask in ("dctnet24", "all"):
        m = freqload.ChannelMask.preset(mask)
        for size in [(7, 5), (64, 64)]:
            out = np.full((len(m), *size), 99, dtype=np.int16)
            recipe = Recipe(m, size, transform="blocks", max_pixels=0, max_file_size=0,
                            max_scans=0, max_memory=0)
            thread_decoder().decode(data, recipe.packed, 0, out)
            np.testing.assert_array_equal(out, freqload.to_channels(c, m, size=size))


# ---- values of every valid file against an independent decoder ----------------------

DECODABLE = [r for r in VALID if not unsupported_reason(r)]
RECOVERABLE = BY_EXPECTED.get("recoverable:decoder-warnings", [])


def ijg_coefficients(path):
    """IJG libjpeg 9f's own coefficients and tables (through jpeglib, which bundles IJG
    and libjpeg-turbo builds; 9f shares no decoding code with the libjpeg-turbo that
    freqload links)."""
    import jpeglib

    with jpeglib.version("9f"):
        im = jpeglib.read_dct(path)
        comps = [im.Y] + ([im.Cb, im.Cr] if im.Cb is not None else [])
        return ([np.asarray(a).reshape(a.shape[0], a.shape[1], 64) for a in comps],
                [np.asarray(im.qt[t]).reshape(64) for t in im.quant_tbl_no])


def test_every_decodable_file_is_compared_with_ijg():
    assert len(DECODABLE) >= 100 and len(RECOVERABLE) >= 20


@pytest.mark.parametrize("row", DECODABLE + RECOVERABLE, ids=short_id)
def test_coefficients_equal_ijg_libjpeg(row):
    p = path_of(row)
    try:
        c = freqload.read_coefficients(p, strict=row in DECODABLE)
    except UnsupportedImageError:
        assert row in RECOVERABLE and row["components"] != "3" or row["color"] != "YCbCr", p
        return
    comps, tables = ijg_coefficients(p)
    assert len(comps) == len(c.components)
    for k, (ours, ref) in enumerate(zip(c.components, comps)):
        assert ours.shape == ref.shape, (k, ours.shape, ref.shape)
        np.testing.assert_array_equal(ours, ref, err_msg=f"component {k}")
        np.testing.assert_array_equal(c.quant_tables[k], tables[k])


def libjpeg_ycbcr(data: bytes) -> np.ndarray:
    """libjpeg's own decode to YCbCr (Pillow's draft mode): its chroma upsampling for
    4x factors (4:1:1, 4:1:0) is replication (int_upsample), none for 4:4:4."""
    import io

    im = Image.open(io.BytesIO(data))
    im.draft("YCbCr", im.size)
    assert im.mode == "YCbCr"
    return np.asarray(im, dtype=np.float64)


REPLICATED = [r for r in DECODABLE if r["subsampling"] in ("4:4:4", "4:1:1", "4:1:0")
              and r["components"] == "3"]


def test_replicated_sampling_files_are_many():
    assert sum(r["subsampling"] in ("4:1:1", "4:1:0") for r in REPLICATED) >= 10


@pytest.mark.parametrize("row", REPLICATED, ids=short_id)
def test_each_component_against_libjpeg_pixels(row):
    """Per component: the IDCT of our dequantised plane, rounded and replicated by the
    sampling factors, against libjpeg's YCbCr decode: within 1 level everywhere (IDCT
    rounding). A chroma plane off by one pixel is off by 20 or more on these files."""
    data = open(path_of(row), "rb").read()
    c = freqload.read_coefficients(data)
    ref = libjpeg_ycbcr(data)
    h, w = c.info.height, c.info.width
    for k, ci in enumerate(c.info.components):
        fy, fx = c.info.max_v_samp // ci.v_samp, c.info.max_h_samp // ci.h_samp
        plane = np.clip(np.rint(idct_plane(dequantized(c, k)) + 128), 0, 255)
        plane = np.repeat(np.repeat(plane, fy, 0), fx, 1)[:h, :w]
        assert np.abs(plane - ref[..., k]).max() <= 1, f"component {k}"
