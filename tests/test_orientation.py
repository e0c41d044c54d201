"""EXIF orientation: the tag read in the core, freqload.orient, and upright samples.

References: jpegtran's lossless transforms (freqload.orient bit for bit, every
orientation, 4:4:4 / 4:2:2 / 4:2:0 / grey, odd sizes); Pillow's ImageOps.exif_transpose
(the pixel orientation the upright-resize reference uses); the pixel-domain resize
definition of tests/test_transforms (numpy inverse DCT, Pillow BILINEAR, numpy DCT) on
the upright picture; and the same picture stored upright, through both engines."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps
from test_transforms import jpegtran, needs_jpegtran, psnr

import freqload
from freqload import DCTLoader, Recipe
from freqload.codec.lossless import JPEGTRAN_ORIENT
from freqload.codec.transform import eval_box, random_resized_crop

from conftest import ENGINES, dequantized, fdct_plane, idct_plane, pillow_jpeg, rng_image, tool

#: jpegtran's transform that undoes each orientation (stored = this of the upright picture)
INVERSE = {2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def with_exif(data: bytes, orientation=None, payload: bytes | None = None) -> bytes:
    """JPEG bytes with an APP1 segment after SOI: Pillow's EXIF with this orientation, or
    the payload given."""
    if payload is None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        payload = exif.tobytes()
    return data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def tiff_exif(big: bool, entries) -> bytes:
    """An EXIF payload written by hand: IFD0 with (tag, type, count, value) entries."""
    e = ">" if big else "<"
    import struct

    body = struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        body += struct.pack(e + "HHI", tag, typ, count) + (
            struct.pack(e + "HH", value, 0) if typ == 3 else struct.pack(e + "I", value))
    return b"Exif\0\0" + (b"MM" if big else b"II") + struct.pack(e + "HI", 42, 8) + body + \
        b"\0\0\0\0"


def test_the_tag_is_read_and_bad_ones_are_ignored():
    base = pillow_jpeg(rng_image(24, 32, seed=1))
    assert freqload.read_header(base).orientation == 1
    for o in range(1, 9):
        info = freqload.read_header(with_exif(base, o))
        assert (info.orientation, info.exif_warning) == (o, "")
    for big in (False, True):
        data = with_exif(base, payload=tiff_exif(big, [(0x010F, 2, 4, 0), (0x0112, 3, 1, 6)]))
        assert freqload.read_header(data).orientation == 6
    bad = {"value 0": tiff_exif(False, [(0x0112, 3, 1, 0)]),
           "value 9": tiff_exif(True, [(0x0112, 3, 1, 9)]),
           "a LONG": tiff_exif(False, [(0x0112, 4, 1, 6)]),
           "entries past the end": tiff_exif(False, [(0x0112, 3, 1, 6)])[:20],
           "no TIFF header": b"Exif\0\0XX\0\0\0\0\0\0",
           "IFD offset past the end": b"Exif\0\0II*\0\xff\xff\0\0"}
    for what, payload in bad.items():
        data = with_exif(base, payload=payload)
        info = freqload.read_header(data)
        assert info.orientation == 1 and info.exif_warning, what
        c = freqload.read_coefficients(data, strict=True)  # never an error
        np.testing.assert_array_equal(c.components[0], freqload.read_coefficients(
            base).components[0])
    xmp = with_exif(base, payload=b"http://ns.adobe.com/xap/1.0/\0<x/>")
    assert (freqload.read_header(xmp).orientation, freqload.read_header(xmp).exif_warning) \
        == (1, "")
    rng = np.random.default_rng(0)  # random EXIF bodies: never a failure
    for _ in range(200):
        junk = b"Exif\0\0" + (b"II*\0" if rng.random() < 0.5 else b"MM\0*") + \
            rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()
        assert 1 <= freqload.read_header(with_exif(base, payload=junk)).orientation <= 8


SIZES = [(37, 53), (48, 64), (71, 23), (16, 16)]  # (h, w)


@needs_jpegtran
@pytest.mark.parametrize("sub", [0, 1, 2, "gray"])
@pytest.mark.parametrize("h,w", SIZES)
def test_orient_equals_jpegtran(sub, h, w):
    gray = sub == "gray"
    data = pillow_jpeg(rng_image(h, w, seed=h * w, gray=gray), quality=90,
                       subsampling=0 if gray else sub)
    c = freqload.read_coefficients(data)
    assert freqload.orient(c, 1) is c
    for o, args in JPEGTRAN_ORIENT.items():
        ref = freqload.read_coefficients(jpegtran(data, "-copy", "none", *args, "-trim"))
        got = freqload.orient(freqload.read_coefficients(with_exif(data, o)))  # its own tag
        assert (got.info.width, got.info.height) == (ref.info.width, ref.info.height), o
        assert [(x.h_samp, x.v_samp) for x in got.info.components] == \
            [(x.h_samp, x.v_samp) for x in ref.info.components]
        assert got.info.orientation == 1
        for a, b, qa, qb in zip(got.components, ref.components, got.quant_tables,
                                ref.quant_tables):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(qa, qb)
        # to_channels / read_coefficients take the same turn
        np.testing.assert_array_equal(
            freqload.to_channels(freqload.read_coefficients(with_exif(data, o)), "dctnet24",
                                 orientation="exif"),
            freqload.to_channels(ref, "dctnet24"))
        np.testing.assert_array_equal(
            freqload.read_coefficients(with_exif(data, o), orientation="exif").components[0],
            ref.components[0])


def test_orient_smaller_than_an_mcu_keeps_its_padded_mcu():
    c = freqload.read_coefficients(pillow_jpeg(rng_image(5, 7, seed=3), subsampling=2))
    m = freqload.orient(c, 2)
    assert (m.info.width, m.info.height) == (16, 5)  # one whole MCU wide, mirrored
    back = freqload.orient(m, 2)
    assert (back.info.width, back.info.height) == (16, 5)
    np.testing.assert_array_equal(freqload.orient(back, 2).components[0], m.components[0])
    with pytest.raises(ValueError, match="orientation must be 1..8"):
        freqload.orient(c, 9)


def orient_pixels(a: np.ndarray, o: int) -> np.ndarray:
    """A picture (rows, cols[, ...]) turned upright, as EXIF orientation o says."""
    return {1: lambda x: x, 2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1],
            4: lambda x: x[::-1], 5: lambda x: x.swapaxes(0, 1),
            6: lambda x: x[::-1].swapaxes(0, 1), 7: lambda x: x[::-1, ::-1].swapaxes(0, 1),
            8: lambda x: x[:, ::-1].swapaxes(0, 1)}[o](a)


def test_orient_pixels_is_pillows_exif_transpose():
    img = rng_image(6, 9, seed=2)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        pic = Image.fromarray(img)
        pic.info["exif"] = exif.tobytes()
        b = io.BytesIO()
        pic.save(b, "PNG", exif=exif.tobytes())
        upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(b.getvalue()))))
        np.testing.assert_array_equal(orient_pixels(img, o), upright)


#: per orientation: are the upright picture's columns / rows the stored ones reversed?
MIRRORED = {1: (0, 0), 2: (1, 0), 3: (1, 1), 4: (0, 1), 5: (0, 0), 6: (1, 0), 7: (1, 1),
            8: (0, 1)}


def upright_reference(c, o, box, size, flip):
    """[192, oh, ow]: per component its plane (numpy inverse DCT), turned upright with
    numpy, Pillow BILINEAR from the upright box to size*8, mirrored if flip, 8x8 DCT.

    A subsampled plane of an odd-sized picture has a half-covered last sample (27 chroma
    samples for 53 pixels); reversed, that half sample comes first, so along a reversed
    axis the box lies that far (27 - 53/2) into the plane: the box is in the picture's
    pixels, wherever the plane's samples fall."""
    oh, ow = size
    info = c.info
    uh, uw = (info.width, info.height) if o >= 5 else (info.height, info.width)
    rev_x, rev_y = MIRRORED[o]
    out = np.zeros((192, oh, ow))
    top, left, h, w = box
    for k, ci in enumerate(info.components):
        hs, vs = (ci.v_samp, ci.h_samp) if o >= 5 else (ci.h_samp, ci.v_samp)
        mh, mv = (info.max_v_samp, info.max_h_samp) if o >= 5 else (info.max_h_samp,
                                                                    info.max_v_samp)
        nh = -(-info.height * ci.v_samp // info.max_v_samp)
        nw = -(-info.width * ci.h_samp // info.max_h_samp)
        plane = orient_pixels(idct_plane(dequantized(c, k))[:nh, :nw], o)
        fy, fx = vs / mv, hs / mh
        assert plane.shape == (-(-uh * vs // mv), -(-uw * hs // mh))
        dy = plane.shape[0] - uh * fy if rev_y else 0.0
        dx = plane.shape[1] - uw * fx if rev_x else 0.0
        img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F").resize(
            (ow * 8, oh * 8), Image.BILINEAR, box=(left * fx + dx, top * fy + dy,
                                                   (left + w) * fx + dx, (top + h) * fy + dy))
        px = np.asarray(img, dtype=np.float64)
        out[64 * k:64 * k + 64] = fdct_plane(px[:, ::-1] if flip else px).transpose(2, 0, 1)
    return out


@pytest.mark.parametrize("h,w,sub", [(37, 53, 2), (61, 45, 1), (50, 34, 0)])
def test_upright_resizes_against_the_pixel_reference(h, w, sub):
    """eval and train of a turned picture: every pixel kept (sizes not whole MCUs), the
    boxes drawn in the upright picture, the result that of the upright pixels."""
    data = pillow_jpeg(rng_image(h, w, seed=w), quality=92, subsampling=sub)
    size = (5, 6)
    for o in range(1, 9):
        c = freqload.read_coefficients(with_exif(data, o))
        uh, uw = (w, h) if o >= 5 else (h, w)
        for kind, key in (("eval", 0), ("train", 11), ("train", 12345)):
            r = freqload.Recipe("all", size=size, transform=kind, orientation="exif")
            got = freqload.codec.resample.sample(c, r, key=key)
            if kind == "eval":
                box, flip = eval_box(uh, uw, size, 0.875), False
            else:
                box, flip = random_resized_crop(key, uh, uw)
            ref = upright_reference(c, o, box, size, flip)
            assert psnr(got, ref) > 50, (o, kind, key, psnr(got, ref))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape", [(48, 64), (80, 48)])  # landscape, portrait
def test_all_eight_give_the_upright_sample(tmp_path, engine, shape):
    """The picture stored in each orientation (jpegtran, tagged) gives, through the loader,
    the sample of the picture stored upright: exactly for "blocks" (both regroups),
    within one level for the resizes (float rounding in another order)."""
    if tool("jpegtran") is None:
        pytest.skip("jpegtran is not installed (the CI installs it)")
    h, w = shape
    upright = pillow_jpeg(rng_image(h, w, seed=7), quality=90, subsampling=2)
    files = {}
    for o in range(1, 9):
        stored = upright if o == 1 else jpegtran(upright, "-copy", "none",
                                                 *JPEGTRAN_ORIENT[INVERSE[o]], "-trim")
        files[o] = tmp_path / f"o{o}.jpg"
        files[o].write_bytes(with_exif(stored, o))
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(upright)
    for kind, regroup in (("blocks", "cpu"), ("blocks", "device"), ("eval", "cpu"),
                          ("train", "cpu")):
        def one(path, orientation="exif"):  # one file: index 0, the same key every time
            loader = DCTLoader([str(path)],
                               recipe=Recipe(transform=kind, regroup=regroup,
                                             orientation=orientation),
                               batch_size=1, size=(4, 5), engine=engine, num_workers=1, seed=5,
                               normalize=False)
            (x, _), = list(loader)
            return x[0].numpy().astype(np.int32)
        want = one(plain)
        for o, path in files.items():
            got = one(path)
            if kind == "blocks":
                np.testing.assert_array_equal(got, want, err_msg=f"{kind} {regroup} {o}")
            else:
                assert np.abs(got - want).max() <= 1, (kind, o)
        if kind == "blocks":  # "ignore" keeps the stored picture
            assert not np.array_equal(one(files[6], "ignore"), want)


def test_rgb_loader_turns_pictures_upright_too(tmp_path):
    from freqload.loading.rgb_loader import RGBLoader

    if tool("jpegtran") is None:
        pytest.skip("jpegtran is not installed (the CI installs it)")
    upright = pillow_jpeg(rng_image(48, 64, seed=9), quality=95, subsampling=0)
    stored = jpegtran(upright, "-copy", "none", "-rotate", "270", "-trim")
    (tmp_path / "a.jpg").write_bytes(upright)
    (tmp_path / "b.jpg").write_bytes(with_exif(stored, 6))
    x, _ = next(iter(RGBLoader([str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")],
                               batch_size=2, size=32, num_workers=0, device="cpu")))
    assert float((x[0] - x[1]).abs().mean()) < 0.05  # the same picture, decoded twice
    y, _ = next(iter(RGBLoader([str(tmp_path / "b.jpg")], batch_size=1, size=32,
                               num_workers=0, device="cpu", orientation="ignore")))
    assert float((x[0] - y[0]).abs().mean()) > 0.2
