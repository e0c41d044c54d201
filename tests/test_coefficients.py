"""read_header / read_coefficients on JPEGs the tests make with Pillow (always run).

Reference: libjpeg's own pixel decode through Pillow (Pillow bundles its own
libjpeg-turbo); our coefficients are dequantised and inverse-transformed with a
numpy DCT written out in conftest.py.
"""
import io
import math
import pathlib
import threading

import numpy as np
import pytest
from PIL import Image

import freqload
from freqload import (
    DecodeError,
    FreqloadError,
    ImageTooLargeError,
    UnsupportedImageError,
    read_coefficients,
    read_header,
)

from conftest import (
    dequantized,
    fdct_plane,
    idct_plane,
    libjpeg_luma,
    libjpeg_rgb,
    pillow_jpeg,
    rng_image,
)

SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
SIZES = [(1, 1), (5, 7), (8, 8), (17, 9), (16, 33), (149, 227), (481, 640), (771, 1025),
         (1537, 2049)]


def expected_grid(h, w, hs, vs, hmax, vmax):
    """libjpeg's width/height_in_blocks: ceil(size * samp / (max_samp * 8))."""
    return math.ceil(h * vs / (vmax * 8)), math.ceil(w * hs / (hmax * 8))


def our_luma(c) -> np.ndarray:
    px = idct_plane(dequantized(c, 0)) + 128.0
    return np.clip(np.rint(px), 0, 255)[:c.info.height, :c.info.width].astype(np.int32)


@pytest.mark.parametrize("sub", [0, 1, 2], ids=SUBSAMPLING.get)
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
def test_luma_matches_libjpeg_decode(size, sub, progressive):
    h, w = size
    data = pillow_jpeg(rng_image(h, w, seed=h * 7 + w), quality=85, subsampling=sub,
                       progressive=progressive)
    c = read_coefficients(data)
    info = c.info
    assert (info.width, info.height, info.num_components) == (w, h, 3)
    assert info.progressive is progressive
    assert info.sampling == SUBSAMPLING[sub]
    hmax, vmax = info.max_h_samp, info.max_v_samp
    for comp, arr in zip(info.components, c.components):
        assert arr.dtype == np.int16
        assert arr.shape == (*expected_grid(h, w, comp.h_samp, comp.v_samp, hmax, vmax), 64)
    diff = np.abs(our_luma(c) - libjpeg_luma(data))
    assert diff.max() <= 1, f"luma differs from libjpeg by up to {diff.max()}"


@pytest.mark.parametrize("quality", [1, 2, 10, 30, 50, 75, 90, 95, 100])
def test_quality_range_and_quant_tables(quality):
    data = pillow_jpeg(rng_image(149, 227, seed=quality), quality=quality, subsampling=2)
    c = read_coefficients(data)
    pil_tables = Image.open(io.BytesIO(data)).quantization  # Pillow's own DQT parser
    for comp, table in zip(c.info.components, c.quant_tables):
        assert table.dtype == np.uint16 and table.shape == (64,)
        np.testing.assert_array_equal(table, np.asarray(pil_tables[comp.quant_index]))
    for i, header_table in enumerate(c.info.quant_tables):
        np.testing.assert_array_equal(header_table, c.quant_tables[i])
    assert np.abs(our_luma(c) - libjpeg_luma(data)).max() <= 1


@pytest.mark.parametrize("size", [(1, 1), (9, 13), (149, 227), (600, 800)], ids=str)
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_grayscale(size, progressive):
    h, w = size
    data = pillow_jpeg(rng_image(h, w, gray=True), quality=90, progressive=progressive)
    c = read_coefficients(data)
    assert c.info.color_space == "gray" and c.info.sampling == "gray"
    assert len(c.components) == 1
    assert c.components[0].shape == (math.ceil(h / 8), math.ceil(w / 8), 64)
    assert np.abs(our_luma(c) - libjpeg_luma(data)).max() <= 1
    rgb = freqload.to_rgb(c)
    assert rgb.shape == (h, w, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


@pytest.mark.parametrize("sub", [0, 1, 2], ids=SUBSAMPLING.get)
def test_to_rgb_matches_libjpeg_rgb(sub):
    data = pillow_jpeg(rng_image(203, 317, seed=3), quality=90, subsampling=sub)
    ours = freqload.to_rgb(read_coefficients(data)).astype(np.int32)
    ref = libjpeg_rgb(data)
    assert ours.shape == ref.shape == (203, 317, 3)
    diff = np.abs(ours - ref)
    # libjpeg: integer IDCT, fancy upsampling in fixed point; ours: float
    assert diff.mean() < 0.6, diff.mean()
    assert np.percentile(diff, 99.9) <= 4


def test_inputs_bytes_bytearray_memoryview_numpy_path(tmp_path):
    data = pillow_jpeg(rng_image(40, 56), subsampling=2)
    p = tmp_path / "x.jpg"
    p.write_bytes(data)
    ref = read_coefficients(data)
    arr = np.frombuffer(data, dtype=np.uint8)
    for source in (bytearray(data), memoryview(data), arr, str(p), p, pathlib.PurePath(p)):
        c = read_coefficients(source)
        for a, b in zip(c.components, ref.components):
            np.testing.assert_array_equal(a, b)
        assert read_header(source).width == 56
    with pytest.raises(TypeError, match="uint8"):
        read_coefficients(arr.astype(np.float32))
    with pytest.raises(TypeError, match="bytes"):
        read_coefficients(12)
    with pytest.raises(ValueError, match="fallback"):
        read_coefficients(data, fallback="yes")


def test_header_fields():
    data = pillow_jpeg(rng_image(100, 120), quality=75, subsampling=2, progressive=True)
    info = read_header(data)
    assert (info.width, info.height, info.num_components) == (120, 100, 3)
    assert info.color_space == "YCbCr" and info.jfif and info.adobe_transform is None
    assert info.progressive and not info.arithmetic and info.precision == 8
    assert info.restart_interval == 0
    assert [(c.h_samp, c.v_samp) for c in info.components] == [(2, 2), (1, 1), (1, 1)]
    assert [(c.blocks_h, c.blocks_w) for c in info.components] == [(13, 15), (7, 8), (7, 8)]
    assert [(c.alloc_blocks_h, c.alloc_blocks_w) for c in info.components] == [
        (14, 16), (7, 8), (7, 8)]
    assert info.block_grid == (13, 15)
    assert info.source == "jpeg"


def test_truncated_file_strict_and_lenient():
    data = pillow_jpeg(rng_image(256, 256, seed=5), quality=90)
    full = read_coefficients(data)
    cut = data[: len(data) // 2]
    with pytest.raises(DecodeError, match="Premature end of JPEG file"):
        read_coefficients(cut)
    c = read_coefficients(cut, strict=False)
    assert c.warnings >= 1 and "Premature end" in c.warning
    y, y_full = c.components[0], full.components[0]
    # the first rows decoded exactly; the missing tail is zero, as in libjpeg
    np.testing.assert_array_equal(y[:4], y_full[:4])
    assert not y[-4:].any()
    assert full.warnings == 0 and full.warning == ""


def test_pixel_limit_is_checked_from_the_header():
    data = pillow_jpeg(rng_image(100, 100))
    with pytest.raises(ImageTooLargeError, match=r"100 x 100 = 10000 pixels .* limit of 9999"):
        read_coefficients(data, max_pixels=9999)
    assert read_coefficients(data, max_pixels=10000).info.width == 100
    assert read_coefficients(data, max_pixels=None).info.width == 100
    assert read_header(data).width == 100  # the header alone has no limit
    with pytest.raises(ValueError):
        read_coefficients(data, max_pixels=-1)


def _png(img) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _gif(img) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).convert("P").save(buf, format="GIF")
    return buf.getvalue()


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng_image(32, 48)).convert("CMYK").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("make,match", [
    (lambda: _png(rng_image(20, 30)), "not JPEG data"),
    (lambda: _gif(rng_image(20, 30)), "not JPEG data"),
    (lambda: b"", "empty input"),
    (lambda: _cmyk_jpeg(), "CMYK|YCCK"),
], ids=["png", "gif", "empty", "cmyk"])
def test_unsupported_inputs(make, match):
    data = make()
    with pytest.raises(UnsupportedImageError, match=match) as e:
        read_coefficients(data)
    assert isinstance(e.value, FreqloadError)


def test_pixels_fallback_png_and_cmyk():
    img = rng_image(37, 51, seed=9)
    c = read_coefficients(_png(img), fallback="pixels")
    assert c.from_pixels and c.info.source == "pixels"
    assert [a.shape for a in c.components] == [(5, 7, 64)] * 3
    assert all((q == 1).all() for q in c.quant_tables)
    # exactly the rounded forward DCT of Pillow's YCbCr planes (edges replicated to
    # whole blocks), computed here with conftest's own DCT; where the exact value is a
    # tie (x.5: integer pixels make those), float rounding may go either way
    ycc = np.asarray(Image.fromarray(img).convert("YCbCr"), dtype=np.float64)
    for k in range(3):
        plane = np.pad(ycc[..., k], ((0, 40 - 37), (0, 56 - 51)), mode="edge") - 128.0
        exact = fdct_plane(plane)
        ours = c.components[k].astype(np.float64)
        tie = np.abs(np.abs(exact - np.floor(exact)) - 0.5) < 1e-6
        np.testing.assert_array_equal(ours[~tie], np.rint(exact)[~tie])
        assert np.allclose(np.abs(ours[tie] - exact[tie]), 0.5, atol=1e-6)
        px = idct_plane(dequantized(c, k))[:37, :51] + 128.0  # and back: rounding only
        assert np.abs(px - ycc[..., k]).max() < 1.5
    back = freqload.to_rgb(c).astype(int)
    assert np.abs(back - img.astype(int)).mean() < 1.5  # YCbCr round trip in 8 bits
    g = read_coefficients(_png(img[..., 0]), fallback="pixels")
    assert len(g.components) == 1 and g.info.color_space == "gray"
    cmyk = read_coefficients(_cmyk_jpeg(), fallback="pixels")
    assert cmyk.from_pixels and len(cmyk.components) == 3
    assert freqload.to_channels(cmyk, "dctnet24").shape == (24, 4, 6)
    with pytest.raises(UnsupportedImageError, match="Pillow could not decode"):
        read_coefficients(b"", fallback="pixels")
    with pytest.raises(ImageTooLargeError):
        read_coefficients(_png(img), fallback="pixels", max_pixels=100)
    # corrupt JPEG data is not "unsupported": no silent pixel decode
    data = pillow_jpeg(rng_image(64, 64))
    with pytest.raises(DecodeError):
        read_coefficients(data[: len(data) // 2], fallback="pixels")


def test_threads_give_the_serial_results():
    blobs = [pillow_jpeg(rng_image(64 + 8 * i, 80 + 5 * i, seed=i), subsampling=i % 3,
                         progressive=bool(i % 2)) for i in range(24)]
    serial = [read_coefficients(b).components for b in blobs]
    results = {}

    def work(tid):
        for rep in range(3):
            for i in range(tid, len(blobs), 4):
                results[(tid, rep, i)] = read_coefficients(blobs[i]).components

    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(results) == 3 * len(blobs)
    for (tid, rep, i), comps in results.items():
        for a, b in zip(comps, serial[i]):
            np.testing.assert_array_equal(a, b)


def test_errors_are_a_family():
    for cls in (DecodeError, UnsupportedImageError, ImageTooLargeError):
        assert issubclass(cls, FreqloadError)
    assert "libjpeg-turbo" in freqload.libjpeg_version() or "libjpeg" in freqload.libjpeg_version()


def test_native_front_checks_the_callers_buffers():
    """The Python front refuses planes that do not fit the image, and the core writes
    only inside the planes it is given (guard rows around them stay untouched)."""
    from freqload import _core

    data = pillow_jpeg(rng_image(149, 227), subsampling=2)
    dec = _core.Decoder()
    with pytest.raises(RuntimeError, match="begin"):
        dec.fill([])
    dec.begin(data, 0, True, True)
    with pytest.raises(ValueError, match="3 components, got 1 planes"):
        dec.fill([np.zeros((20, 30, 64), np.int16)])
    dec.begin(data, 0, True, True)
    with pytest.raises(ValueError, match="at least 20 x 30 blocks"):
        dec.fill([np.zeros((19, 29, 64), np.int16)] + [np.zeros((10, 15, 64), np.int16)] * 2)
    dec.begin(data, 0, True, True)
    with pytest.raises(ValueError, match="writable int16"):
        dec.fill([np.zeros((20, 30, 64), np.int32)] * 3)
    # and after all that the decoder still works
    c = read_coefficients(data)
    assert c.components[0].shape == (19, 29, 64)
    # planes cut from the middle of larger buffers, larger than the image needs: the
    # guard rows before and after each plane keep their sentinel
    shapes = [(20, 30), (10, 15), (10, 15)]
    bufs = [np.full((r + 5, w + 3, 64), -12345, np.int16) for r, w in shapes]
    planes = [b[2:2 + r + 1] for b, (r, w) in zip(bufs, shapes)]  # one spare row each
    dec.begin(data, 0, True, True)
    dec.fill(planes)
    for b, (r, w), ref in zip(bufs, shapes, c.components):
        assert (b[:2] == -12345).all() and (b[2 + r + 1:] == -12345).all()
        np.testing.assert_array_equal(b[2:2 + ref.shape[0], :ref.shape[1]], ref)
