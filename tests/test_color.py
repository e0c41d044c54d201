"""Colour operations on DCT batches (freqload.loading.color) against their pixel-domain
definitions (torchvision.transforms.v2.functional's, transcribed in numpy below): exact
before clipping with JPEG's grey; with torchvision's grey weights and its clamping, the
difference measured on real photos."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import torch

import freqload
from freqload.loading import color

from conftest import PHOTOS, idct_plane, pillow_jpeg, rng_image


def _photos():
    paths = sorted(glob.glob(os.path.join(PHOTOS, "imagenet-sample-500", "*", "*")))[::50]
    if paths:
        return [freqload.read_coefficients(p) for p in paths]  # 10 real photos
    return [freqload.read_coefficients(pillow_jpeg(rng_image(64, 80, seed=k), subsampling=k % 3))
            for k in range(3)]


@pytest.fixture(scope="module")
def grids():
    """Each photo's 192 dequantised channels, float64 [1, 192, H8, W8]."""
    return [torch.from_numpy(freqload.to_channels(c, None).astype(np.float64))[None]
            for c in _photos()]


def rgb(grid: torch.Tensor) -> np.ndarray:
    """[1, 192, H8, W8] -> float RGB [3, H, W] on 0..255, not clipped (JFIF)."""
    g = grid[0].numpy()
    y, cb, cr = (idct_plane(g[64 * k:64 * k + 64].transpose(1, 2, 0)) + 128 for k in range(3))
    return np.stack([y + 1.402 * (cr - 128),
                     y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                     y + 1.772 * (cb - 128)])


def jpeg_grey(img):
    return 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]


def tv_grey(img):  # torchvision's _rgb_to_grayscale_image
    return 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]


def blend(a, b, f, clip):  # torchvision's _blend: f * a + (1 - f) * b, clamped
    out = f * a + (1 - f) * b
    return np.clip(out, 0, 255) if clip else out


def pixel_op(name, img, f, grey=jpeg_grey, clip=False):
    """torchvision.transforms.v2.functional's definitions on float 0..255."""
    if name == "brightness":
        return blend(img, 0.0, f, clip)
    if name == "contrast":
        return blend(img, grey(img).mean(), f, clip)
    if name == "saturation":
        return blend(img, grey(img)[None], f, clip)
    if name == "grayscale":
        out = np.repeat(grey(img)[None], 3, 0)
        return np.clip(out, 0, 255) if clip else out
    if name == "invert":
        return 255.0 - img
    raise ValueError(name)


def dct_op(name, x, f, mask="all"):
    return getattr(color, name)(x, mask, True if f is None else f)


OPS = [("brightness", 0.6), ("brightness", 1.4), ("contrast", 0.5), ("contrast", 1.7),
       ("saturation", 0.0), ("saturation", 1.8), ("grayscale", None), ("invert", None)]


@pytest.mark.parametrize("name,f", OPS)
def test_exact_before_clipping(grids, name, f):
    """With JPEG's grey and no clamping the DCT-domain result decodes to the pixel-domain
    operation's: within 1e-4 grey levels (the JFIF inverse's constants, 1.402 ..., are
    rounded to 6 digits, so the grey of the decoded RGB is Y to about 1e-6 relative)."""
    for g in grids:
        want = pixel_op(name, rgb(g), f)
        got = rgb(dct_op(name, g, f))
        assert np.abs(got - want).max() < 1e-4


def _psnr(a, b):
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("name,f", OPS)
def test_against_torchvision_with_its_grey_and_clamping(grids, name, f):
    """torchvision's grey weights and clamp against ours clipped only when decoded: the
    difference on real photos stays above 35 dB (most pixels equal; those pushed past
    0..255 by an earlier clamp-free step differ)."""
    worst = float("inf")
    for g in grids:
        src = np.clip(rgb(g), 0, 255)  # the decoded photo torchvision would see
        want = pixel_op(name, src, f, grey=tv_grey, clip=True)
        got = np.clip(rgb(dct_op(name, g, f)), 0, 255)
        worst = min(worst, _psnr(got, want))
    assert worst > 35, worst


def test_hue_is_a_rotation_of_the_chroma_plane(grids):
    for g in grids:
        a = color.hue(g, "all", 0.25)  # a quarter turn: (Cb, Cr) -> (-Cr, Cb)
        assert torch.allclose(a[:, 64:128], -g[:, 128:192], atol=1e-9)
        assert torch.allclose(a[:, 128:192], g[:, 64:128], atol=1e-9)
        assert torch.equal(a[:, :64], g[:, :64])
        back = color.hue(color.hue(g, "all", 0.1), "all", -0.1)
        assert torch.allclose(back, g, atol=1e-9)


def test_per_sample_factors_and_masks(grids):
    """A [B] factor applies sample by sample; on a mask's channels the result is the same
    channels of the full grid's result (dctnet24: luma DC in channel 0)."""
    g = grids[0]
    x = g.repeat(3, 1, 1, 1)
    f = torch.tensor([0.5, 1.0, 1.5], dtype=x.dtype)
    out = color.contrast(x, "all", f)
    for k in range(3):
        assert torch.allclose(out[k:k + 1], color.contrast(g, "all", float(f[k])))
    idx = list(freqload.codec.mask.as_mask("dctnet24").indices)
    for name, fac in OPS:
        want = dct_op(name, g, fac)[:, idx]
        assert torch.allclose(dct_op(name, g[:, idx], fac, "dctnet24"), want, atol=1e-9), name
    off = color.invert(x, "all", torch.tensor([True, False, True]))
    assert torch.equal(off[1], x[1]) and not torch.equal(off[0], x[0])


def test_clear_errors(grids):
    g = grids[0]
    with pytest.raises(ValueError, match="luma DC channel"):
        color.contrast(g[:, 1:64], list(range(1, 64)), 0.5)
    with pytest.raises(ValueError, match="without their partner"):
        color.hue(g[:, [0, 64]], [0, 64], 0.1)
    with pytest.raises(ValueError, match="float dequantised"):
        color.brightness(g.to(torch.int16), "all", 0.5)
    with pytest.raises(ValueError, match=r"\[B, 24, H, W\]"):
        color.brightness(g, "dctnet24", 0.5)
    with pytest.raises(ValueError, match="a factor per sample"):
        color.brightness(g, "all", torch.ones(2))


def test_a_composed_map_equals_the_operations_one_after_another(grids):
    g = grids[0].repeat(2, 1, 1, 1)
    f = torch.tensor([0.7, 1.6], dtype=g.dtype)
    step = color.hue(color.contrast(color.brightness(g, "all", f), "all", 1.3), "all", 0.12)
    once = color.ColorMap(g, "all").brightness(f).contrast(1.3).hue(0.12).apply(g)
    assert torch.allclose(step, once, atol=1e-9)
