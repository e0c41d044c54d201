"""to_channels against numpy references written here.

chroma="dct" is checked against its pixel-domain definition: inverse DCT of
the chroma plane, upsampling with linear interpolation between sample centres
(edges replicated), forward 8x8 DCT on the luma grid.
"""
import math

import numpy as np
import pytest

import freqload
from freqload import ChannelMask, Coefficients, ComponentInfo, JpegInfo, to_channels

from conftest import dequantized, fdct_plane, idct_plane, pillow_jpeg, rng_image


def upsample_linear(plane: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Separable linear interpolation between sample centres, edges replicated."""
    def along(a, f, axis):
        n = a.shape[axis]
        t = (np.arange(n * f) + 0.5) / f - 0.5
        i0 = np.floor(t).astype(int)
        w = t - i0
        lo = np.take(a, np.clip(i0, 0, n - 1), axis=axis)
        hi = np.take(a, np.clip(i0 + 1, 0, n - 1), axis=axis)
        shape = [1, 1]
        shape[axis] = -1
        return lo * (1 - w.reshape(shape)) + hi * w.reshape(shape)
    return along(along(plane, fy, 0), fx, 1)


def reference_grid(c, chroma="dct") -> np.ndarray:
    """float [192, H8, W8] from the definitions (dequantised)."""
    y = dequantized(c, 0)
    h8, w8 = y.shape[:2]
    out = np.zeros((192, h8, w8))
    out[:64] = y.transpose(2, 0, 1)
    comps = c.info.components
    for k in range(1, len(c.components)):
        fy = comps[0].v_samp // comps[k].v_samp
        fx = comps[0].h_samp // comps[k].h_samp
        x = dequantized(c, k)
        if chroma == "nearest":
            rep = np.repeat(np.repeat(x, fy, axis=0), fx, axis=1)[:h8, :w8]
        else:
            plane = upsample_linear(idct_plane(x), fy, fx)[:h8 * 8, :w8 * 8]
            rep = fdct_plane(plane)
        out[64 * k:64 * (k + 1)] = rep.transpose(2, 0, 1)
    return out


def synthetic(luma_hw, sampling, seed=0, scale=40):
    """Coefficients with random values for any sampling factors (no JPEG involved)."""
    r = np.random.default_rng(seed)
    hmax = max(s[0] for s in sampling)
    vmax = max(s[1] for s in sampling)
    H, W = luma_hw[0] * 8 * vmax // sampling[0][1], luma_hw[1] * 8 * hmax // sampling[0][0]
    comps, infos, quants = [], [], []
    for i, (hs, vs) in enumerate(sampling):
        bh, bw = math.ceil(H * vs / (vmax * 8)), math.ceil(W * hs / (hmax * 8))
        decay = 1.0 / (1 + np.add.outer(np.arange(8), np.arange(8)).reshape(64))
        comps.append(np.rint(r.normal(0, scale, (bh, bw, 64)) * decay).astype(np.int16))
        quants.append(r.integers(1, 30, 64).astype(np.uint16))
        infos.append(ComponentInfo(i + 1, hs, vs, i, bh, bw, bh, bw))
    info = JpegInfo(W, H, len(sampling), "YCbCr", None, False, 8, False, False, 0, hmax, vmax,
                    tuple(infos), tuple(quants))
    return Coefficients(comps, quants, info)


SAMPLINGS = {
    "4:4:4": [(1, 1)] * 3, "4:2:0": [(2, 2), (1, 1), (1, 1)], "4:2:2": [(2, 1), (1, 1), (1, 1)],
    "4:4:0": [(1, 2), (1, 1), (1, 1)], "4:1:1": [(4, 1), (1, 1), (1, 1)],
    "4:1:0": [(4, 2), (1, 1), (1, 1)], "3x1": [(3, 1), (1, 1), (1, 1)],
    "2x2,1x2,1x2": [(2, 2), (1, 2), (1, 2)], "2x2,2x2,2x2": [(2, 2)] * 3,
}


@pytest.mark.parametrize("name", list(SAMPLINGS))
@pytest.mark.parametrize("chroma", ["dct", "nearest"])
def test_full_grid_matches_definition(name, chroma):
    c = synthetic((11, 13), SAMPLINGS[name], seed=len(name))
    ours = to_channels(c, chroma=chroma)
    ref = reference_grid(c, chroma)
    assert ours.dtype == np.int16 and ours.shape == (192, *c.components[0].shape[:2])
    np.testing.assert_array_equal(ours[:64], ref[:64])  # luma: exact integers
    err = np.abs(ours[64:] - ref[64:])
    if chroma == "nearest":
        assert err.max() == 0
    else:
        assert err.max() <= 0.5 + 1e-3  # rounding to int16 only (float32 inside)


@pytest.mark.parametrize("sub", [1, 2], ids=["4:2:2", "4:2:0"])
def test_chroma_dct_on_real_jpegs_matches_pixel_domain(sub):
    data = pillow_jpeg(rng_image(149, 227, seed=1), quality=80, subsampling=sub)
    c = freqload.read_coefficients(data)  # odd sizes: padded, non-contiguous luma view
    ours = to_channels(c, chroma="dct")
    ref = reference_grid(c, "dct")
    assert np.abs(ours - ref).max() <= 0.5 + 1e-3


def test_mask_selects_exactly_its_channels_in_order():
    c = synthetic((9, 10), SAMPLINGS["4:2:0"], seed=3)
    full = to_channels(c)
    for mask in (ChannelMask.dctnet24(), ChannelMask.dctnet64(), ChannelMask([191, 0, 70]),
                 ChannelMask.zigzag(y=3, cb=1)):
        part = to_channels(c, mask)
        assert part.shape == (len(mask), 9, 10)
        np.testing.assert_array_equal(part, full[list(mask.indices)])
    assert to_channels(c, "dctnet24").shape == (24, 9, 10)
    assert to_channels(c, [0, 64, 128]).shape == (3, 9, 10)


def test_quantised_output():
    c = synthetic((6, 7), SAMPLINGS["4:2:0"], seed=4)
    q = to_channels(c, dequantize=False)
    np.testing.assert_array_equal(q[:64], c.components[0].transpose(2, 0, 1))
    ref = reference_grid(c, "dct")
    for k in (1, 2):
        steps = ref[64 * k:64 * (k + 1)] / c.quant_tables[k].astype(float)[:, None, None]
        assert np.abs(q[64 * k:64 * (k + 1)] - steps).max() <= 0.5 + 1e-3
    nearest = to_channels(c, dequantize=False, chroma="nearest")
    np.testing.assert_array_equal(
        nearest[64:128],
        np.repeat(np.repeat(c.components[1], 2, 0), 2, 1)[:6, :7].transpose(2, 0, 1))


def test_grayscale_gives_neutral_chroma():
    c = freqload.read_coefficients(pillow_jpeg(rng_image(40, 48, gray=True)))
    out = to_channels(c, "dctnet24")
    assert out.shape == (24, 5, 6)
    assert not out[16:].any()
    np.testing.assert_array_equal(out[0], c.components[0][..., 0] * int(c.quant_tables[0][0]))


def test_saturates_at_int16():
    c = synthetic((2, 2), SAMPLINGS["4:4:4"])
    c.components[0][:] = 32767
    c.components[1][:] = -32768
    c.quant_tables[0][:] = 255
    c.quant_tables[1][:] = 255
    out = to_channels(c)
    assert (out[:64] == 32767).all() and (out[64:128] == -32768).all()


def test_errors():
    c = synthetic((4, 4), SAMPLINGS["4:2:0"])
    with pytest.raises(ValueError, match="chroma"):
        to_channels(c, chroma="bilinear")
    with pytest.raises(ValueError, match="preset"):
        to_channels(c, "dctnet25")
    with pytest.raises(ValueError, match=r"\[0, 192\)"):
        to_channels(c, [192])
    finer = synthetic((4, 4), [(1, 1), (2, 2), (2, 2)])
    with pytest.raises(freqload.UnsupportedImageError, match="whole-number"):
        to_channels(finer)
    odd = synthetic((4, 4), [(3, 1), (2, 1), (2, 1)])
    with pytest.raises(freqload.UnsupportedImageError, match="whole-number"):
        to_channels(odd)
    c.components[0] = c.components[0].astype(np.int32)
    with pytest.raises(ValueError, match="int16"):
        to_channels(c)


def centre(n, out, align):
    """Test's own statement of the window rule: (start, count, destination)."""
    if n >= out:
        return ((n - out) // 2) // align * align, out, 0
    return 0, n, (out - n) // 2


@pytest.mark.parametrize("name", ["4:4:4", "4:2:0", "4:2:2", "4:1:1", "2x2,1x2,1x2"])
@pytest.mark.parametrize("size", [(5, 6), (8, 8), (14, 17), (20, 9)], ids=str)
def test_sized_output_is_crop_then_align(name, size):
    c = synthetic((13, 15), SAMPLINGS[name], seed=7)
    comps = c.info.components
    fy = max(comps[0].v_samp // k.v_samp for k in comps)
    fx = max(comps[0].h_samp // k.h_samp for k in comps)
    h8, w8 = c.components[0].shape[:2]
    y0, rows, dy = centre(h8, size[0], fy)
    x0, cols, dx = centre(w8, size[1], fx)
    cropped = []
    for k, a in zip(comps, c.components):
        ky, kx = comps[0].v_samp // k.v_samp, comps[0].h_samp // k.h_samp
        cropped.append(a[y0 // ky:y0 // ky + -(-rows // ky), x0 // kx:x0 // kx + -(-cols // kx)])
    sub = Coefficients(cropped, c.quant_tables, c.info)
    ref = np.zeros((192, *size))
    ref[:, dy:dy + rows, dx:dx + cols] = reference_grid(sub, "dct")
    ours = to_channels(c, size=size)
    assert ours.shape == (192, *size)
    assert np.abs(ours - ref).max() <= 0.5 + 1e-3
    np.testing.assert_array_equal(to_channels(c, "dctnet24", size=size),
                                  ours[list(ChannelMask.dctnet24().indices)])


@pytest.mark.parametrize("sub", [0, 2], ids=["4:4:4", "4:2:0"])
def test_decode_channels_equals_read_then_to_channels(sub):
    from freqload.codec.read import thread_decoder
    from freqload.codec.recipe import Recipe

    mask = ChannelMask.dctnet24()
    dec = thread_decoder()
    for i, (h, w) in enumerate([(149, 227), (480, 640), (300, 200), (8, 8)]):
        data = pillow_jpeg(rng_image(h, w, seed=i), subsampling=sub, quality=80 + i)
        for size in [(56, 56), (7, 9)]:
            out = np.full((24, *size), -7, dtype=np.int16)
            recipe = Recipe(mask, size, transform="blocks", max_pixels=0)
            warnings, first, width, height = dec.decode(data, recipe.packed, 0, out)
            assert (warnings, width, height) == (0, w, h)
            expect = to_channels(freqload.read_coefficients(data), mask, size=size)
            np.testing.assert_array_equal(out, expect)


def test_size_argument_checks():
    c = synthetic((4, 4), SAMPLINGS["4:2:0"])
    assert to_channels(c, size=3).shape == (192, 3, 3)
    for bad in [(0, 4), (4,), "x", (4, 4, 4)]:
        with pytest.raises(ValueError, match="size"):
            to_channels(c, size=bad)
