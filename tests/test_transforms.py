"""DCT-domain augmentation against independent references.

* hflip / crop: bit-exact against jpegtran's lossless transforms (the shared
  corpus's files, and files these tests make with jpegtran when installed).
* resize_crop: against the pixel-domain definition computed here with numpy
  (inverse DCT) and Pillow (BILINEAR resize of float images), PSNR after
  reconstruction to pixels (read straight off the orthonormal coefficients).
* random_resized_crop: determinism by key, and the distribution of areas and
  aspect ratios against a transcription of torchvision's sampling with numpy's
  generator (two-sample Kolmogorov-Smirnov).
"""
from __future__ import annotations

import glob
import math
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

import freqload
from freqload.codec.lossless import crop, hflip
from freqload.codec.resample import resize_crop, sample
from freqload.codec.transform import Transform, eval_box, random_resized_crop, sample_keys

from conftest import (
    CONFORMANCE,
    PHOTOS,
    dequantized,
    fdct_plane,
    idct_plane,
    needs_shared,
    pillow_jpeg,
    rng_image,
    tool,
)

JPEGTRAN = tool("jpegtran")
needs_jpegtran = pytest.mark.skipif(JPEGTRAN is None, reason="jpegtran is not installed "
                                    "(apt-get install libjpeg-turbo-progs; the CI installs it)")
XFORM = os.path.join(CONFORMANCE, "generated", "jpegtran")


def assert_same_coefficients(a, b):
    assert (a.info.width, a.info.height) == (b.info.width, b.info.height)
    assert len(a.components) == len(b.components)
    for x, y, qa, qb in zip(a.components, b.components, a.quant_tables, b.quant_tables):
        assert x.shape == y.shape
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(qa, qb)


def jpegtran(data: bytes, *args) -> bytes:
    return subprocess.run([JPEGTRAN, *args], input=data, capture_output=True, check=True).stdout


# ---- flip and crop: bit-exact -------------------------------------------------------

@needs_shared
def test_hflip_equals_the_corpus_jpegtran_flip():
    orig = freqload.read_coefficients(os.path.join(XFORM, "testorig_copy.jpg"))
    ref = freqload.read_coefficients(os.path.join(XFORM, "xform_fliph_trim.jpg"))
    assert_same_coefficients(hflip(orig), ref)
    assert hflip(orig).info.width == 224  # 227 trimmed to whole 16-pixel MCUs


@needs_shared
def test_crop_equals_the_corpus_jpegtran_crop():
    orig = freqload.read_coefficients(os.path.join(XFORM, "testorig_copy.jpg"))
    ref = freqload.read_coefficients(os.path.join(XFORM, "xform_crop101x77.jpg"))
    assert_same_coefficients(crop(orig, 16, 16, 77, 101), ref)


CASES = [(149, 227, 0, False), (149, 227, 1, False), (149, 227, 2, False), (64, 80, 2, False),
         (37, 53, 2, False), (100, 120, 0, True), (75, 99, 1, False), (33, 17, 2, False)]


@needs_jpegtran
@pytest.mark.parametrize("h,w,sub,gray", CASES)
def test_hflip_and_crop_equal_jpegtran_on_made_files(h, w, sub, gray):
    data = pillow_jpeg(rng_image(h, w, seed=h + w, gray=gray), quality=88, subsampling=sub)
    c = freqload.read_coefficients(data)
    assert_same_coefficients(hflip(c),
                             freqload.read_coefficients(jpegtran(data, "-flip", "horizontal",
                                                                 "-trim")))
    mh, mw = 8 * c.info.max_v_samp, 8 * c.info.max_h_samp
    rng = np.random.default_rng(h * w)
    for _ in range(4):
        top = int(rng.integers(0, (h - 1) // mh + 1)) * mh
        left = int(rng.integers(0, (w - 1) // mw + 1)) * mw
        ch = int(rng.integers(1, h - top + 1))
        cw = int(rng.integers(1, w - left + 1))
        ref = freqload.read_coefficients(jpegtran(data, "-crop", f"{cw}x{ch}+{left}+{top}"))
        assert_same_coefficients(crop(c, top, left, ch, cw), ref)


def test_flip_twice_and_crop_errors():
    c = freqload.read_coefficients(pillow_jpeg(rng_image(48, 64), subsampling=2))
    assert_same_coefficients(hflip(hflip(c)), c)
    with pytest.raises(ValueError, match="multiples of the MCU size"):
        crop(c, 8, 0, 16, 16)
    with pytest.raises(ValueError, match="not inside"):
        crop(c, 32, 0, 32, 16)
    narrow = freqload.read_coefficients(pillow_jpeg(rng_image(16, 12), subsampling=2))
    with pytest.raises(ValueError, match="narrower than one MCU"):
        hflip(narrow)


# ---- resize: the pixel-domain reference ---------------------------------------------

def reference_resize(c, box, size, flip=False):
    """[192, oh, ow] float64: per component, the plane (numpy inverse DCT) cropped to its
    pixel size, Pillow BILINEAR from the box (in the component's coordinates) to size*8,
    mirrored if flip, then the 8x8 DCT."""
    oh, ow = (size, size) if isinstance(size, int) else size
    info = c.info
    out = np.zeros((192, oh, ow))
    top, left, h, w = box
    for k, ci in enumerate(info.components):
        fy, fx = ci.v_samp / info.max_v_samp, ci.h_samp / info.max_h_samp
        nh = -(-info.height * ci.v_samp // info.max_v_samp)
        nw = -(-info.width * ci.h_samp // info.max_h_samp)
        plane = idct_plane(dequantized(c, k))[:nh, :nw].astype(np.float32)
        img = Image.fromarray(plane, mode="F").resize(
            (ow * 8, oh * 8), Image.BILINEAR, box=(left * fx, top * fy, (left + w) * fx,
                                                   (top + h) * fy))
        px = np.asarray(img, dtype=np.float64)
        if flip:
            px = px[:, ::-1]
        out[64 * k:64 * k + 64] = fdct_plane(px).transpose(2, 0, 1)
    return out


def psnr(a, b):
    mse = float(np.mean((np.asarray(a, np.float64) - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


SYNTH = [  # (h, w, subsampling, gray, box, size)
    (149, 227, 2, False, (10.0, 20.0, 120.0, 150.0), 9),           # 4:2:0 upscale
    (149, 227, 1, False, (0.0, 0.0, 149.0, 227.0), (7, 11)),        # 4:2:2 whole image
    (301, 257, 0, False, (3.5, 7.25, 290.0, 240.5), 5),             # 4:4:4 downscale x6
    (96, 128, 2, True, (16.0, 16.0, 40.0, 40.0), 12),               # grey, upscale x2.4
    (64, 64, 2, False, (0.0, 40.0, 64.0, 24.0), 6),                 # box on three edges
    (513, 389, 2, False, (0.0, 0.0, 513.0, 389.0), 4),              # downscale x12
]


@pytest.mark.parametrize("h,w,sub,gray,box,size", SYNTH)
def test_resize_crop_matches_the_pixel_reference(h, w, sub, gray, box, size):
    c = freqload.read_coefficients(pillow_jpeg(rng_image(h, w, seed=w, gray=gray),
                                               quality=90, subsampling=sub))
    for flip in (False, True):
        got = resize_crop(c, box, size, flip=flip)
        oh, ow = (size, size) if isinstance(size, int) else size
        assert got.dtype == np.float32 and got.shape == (192, oh, ow)
        ref = reference_resize(c, box, size, flip)
        assert psnr(got, ref) > 80, (box, size, flip, psnr(got, ref))
        if gray:
            assert not got[64:].any()


@pytest.mark.parametrize("keep", [(4, 2), (2, 1), (8, 4)])
def test_resize_of_low_frequency_planes_matches_the_pixel_reference(keep):
    """Planes with only their low frequencies left (as in a pack: a (u, v) < keep square of
    luma, a smaller one of chroma, a few blocks all zero): the resize's shortcuts for
    trailing zero columns and all-zero rows against the pixel reference."""
    c = freqload.read_coefficients(pillow_jpeg(rng_image(149, 227, seed=5), quality=90,
                                               subsampling=2))
    for k, n in enumerate((keep[0], keep[1], keep[1])):
        blocks = c.components[k].reshape(*c.components[k].shape[:2], 8, 8)
        blocks[:, :, n:, :] = 0
        blocks[:, :, :, n:] = 0
        blocks[::3, ::2] = 0
    for box, size in (((10.0, 20.0, 120.0, 150.0), 9), ((0.0, 0.0, 149.0, 227.0), (4, 6))):
        for flip in (False, True):
            got = resize_crop(c, box, size, flip=flip)
            ref = reference_resize(c, box, size, flip)
            assert psnr(got, ref) > 80, (keep, box, size, flip, psnr(got, ref))


def test_flip_is_the_exact_output_domain_mirror():
    c = freqload.read_coefficients(pillow_jpeg(rng_image(120, 160), subsampling=2))
    box = (5.0, 9.0, 100.0, 130.0)
    a = resize_crop(c, box, (6, 7))
    b = resize_crop(c, box, (6, 7), flip=True)
    sign = np.array([-1.0 if (k % 64) % 2 else 1.0 for k in range(192)], np.float32)
    np.testing.assert_array_equal(b, a[:, :, ::-1] * sign[:, None, None])


def test_mask_selects_the_same_values():
    c = freqload.read_coefficients(pillow_jpeg(rng_image(100, 140), subsampling=2))
    box = (3.0, 4.0, 90.0, 120.0)
    full = resize_crop(c, box, 8)
    m = freqload.ChannelMask.dctnet24()
    np.testing.assert_array_equal(resize_crop(c, box, 8, mask=m), full[list(m.indices)])


@needs_shared
def test_resize_on_the_shared_photos_psnr():
    files = sorted(glob.glob(os.path.join(PHOTOS, "imagenet-sample-500", "*", "*")))[::25]
    assert files
    worst = math.inf
    keys = sample_keys(7, 0, range(len(files)))
    for f, key in zip(files, keys):
        c = freqload.read_coefficients(f)
        box, flip = random_resized_crop(int(key), c.info.height, c.info.width)
        got = resize_crop(c, box, 56, flip=flip)
        ref = reference_resize(c, box, 56, flip)
        n = 64 * len(c.components)
        worst = min(worst, psnr(got[:n], ref[:n]))
        # the loader's int16 sample is this, rounded
        x = sample(c, Transform("train"), None, 56, int(key))
        np.testing.assert_array_equal(x, np.rint(np.clip(got, -32768, 32767)))
    assert worst > 80, worst  # the floor is 35 dB


# ---- boxes ----------------------------------------------------------------------------

def test_eval_box_is_resize_then_centre_crop():
    top, left, h, w = eval_box(375, 500, 56)
    # shorter side 375 -> 512 (= 448 / 0.875); the centred 448 window maps back to 328.125
    assert (top, left, h, w) == (23.4375, 85.9375, 328.125, 328.125)
    assert eval_box(100, 100, (28, 56), crop_ratio=1.0) == pytest.approx((25.0, 0.0, 50.0, 100.0))


def test_keys_and_boxes_are_deterministic():
    k1 = sample_keys(3, 1, [0, 1, 2, 3])
    np.testing.assert_array_equal(k1, sample_keys(3, 1, np.arange(4)))
    assert len(set(k1.tolist())) == 4
    assert not np.array_equal(k1, sample_keys(3, 2, range(4)))
    assert not np.array_equal(k1, sample_keys(4, 1, range(4)))
    for k in k1.tolist():
        assert random_resized_crop(k, 375, 500) == random_resized_crop(k, 375, 500)
        (top, left, h, w), _ = random_resized_crop(k, 375, 500)
        assert 0 <= top and 0 <= left and top + h <= 375 and left + w <= 500
        assert h == int(h) and w == int(w)


def torchvision_get_params(rng, height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision.transforms.RandomResizedCrop.get_params, transcribed with numpy's RNG."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = int(rng.integers(0, height - h + 1))
            j = int(rng.integers(0, width - w + 1))
            return i, j, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def ks_statistic(a, b):
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


@pytest.mark.parametrize("height,width", [(375, 500), (500, 120)])
def test_crop_distribution_matches_torchvision(height, width):
    n = 20000
    keys = sample_keys(123, 0, range(n))
    ours = [random_resized_crop(int(k), height, width) for k in keys.tolist()]
    rng = np.random.default_rng(0)
    ref = [torchvision_get_params(rng, height, width) for _ in range(n)]
    area = np.array([b[2] * b[3] for b, _ in ours]) / (height * width)
    aspect = np.log([b[3] / b[2] for b, _ in ours])
    centre_y = np.array([b[0] + b[2] / 2 for b, _ in ours])
    area_ref = np.array([h * w for _, _, h, w in ref]) / (height * width)
    aspect_ref = np.log([w / h for _, _, h, w in ref])
    centre_y_ref = np.array([i + h / 2 for i, _, h, _ in ref])
    crit = 1.95 * math.sqrt(2 / n)  # two-sample KS at alpha = 0.001
    for a, b in ((area, area_ref), (aspect, aspect_ref), (centre_y, centre_y_ref)):
        assert ks_statistic(a, b) < crit
    flips = sum(f for _, f in ours)
    assert abs(flips - n / 2) < 4 * math.sqrt(n / 4)  # p = 0.5, 4 sigma
