#!/usr/bin/env python
"""The table of docs/augmentation.md: every op of Recipe(augment=...) against PIL.

Ten of the shared ImageNet photos (every 50th), each as its eval sample with every
frequency (mask "all", 28 x 28 blocks); the core's op (freqload.codec.policy.apply_ops)
decoded with the reference inverse DCT and JFIF's conversion and clipped, against
torchvision's op on the PIL image (freqload.loading.pixel_policy; hue: torchvision's HSV
adjust_hue, vectorised below; grey: torchvision's weights). Prints, per op and
magnitude, the PSNR min / median over the photos, and the untouched sample's.

    python scripts/augment_table.py [PHOTOS_DIR]
"""
from __future__ import annotations

import glob
import os
import sys

import numpy as np
from PIL import Image

from freqload import Recipe
from freqload.codec.pixels import grid_planes, ycbcr_to_rgb
from freqload.codec.policy import apply_ops
from freqload.codec.read import thread_decoder
from freqload.loading.pixel_policy import apply_op

CASES = [("Brightness", -.5), ("Brightness", .9), ("Color", -.9), ("Color", .9),
         ("Contrast", -.5), ("Contrast", .9), ("Grayscale", 0), ("Hue", .05), ("Hue", .25),
         ("Sharpness", -.9), ("Sharpness", .9), ("Posterize", 2), ("Posterize", 4),
         ("Posterize", 6), ("Solarize", .75), ("Solarize", .5), ("Solarize", .25),
         ("AutoContrast", 0), ("Equalize", 0), ("TranslateX", 16), ("TranslateX", -13),
         ("TranslateY", 5), ("Rotate", 90), ("Rotate", 10), ("Rotate", 30), ("Rotate", -135),
         ("ShearX", .3), ("ShearX", -.99), ("ShearY", .5)]


def rgb(grid) -> np.ndarray:
    return np.clip(ycbcr_to_rgb(*grid_planes(np.asarray(grid, np.float64))), 0, 255)


def psnr(a, b) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def hsv_hue(img, h):
    """torchvision's adjust_hue (_rgb2hsv, the shift, _hsv2rgb) on float 0..255 [3, H, W]."""
    x = img / 255.0
    r, g, b = x
    maxc, minc = x.max(0), x.min(0)
    eqc = maxc == minc
    cr = maxc - minc
    ones = np.ones_like(maxc)
    s = cr / np.where(eqc, ones, maxc)
    crd = np.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd
    hue = ((maxc == r) * (bc - gc) + ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
           + ((maxc != g) & (maxc != r)) * (4.0 + gc - rc))
    hue = ((hue / 6.0 + 1.0) % 1.0 + h) % 1.0
    i = np.floor(hue * 6.0)
    f = hue * 6.0 - i
    i = i.astype(int) % 6
    v = maxc
    p, q, t = (np.clip(v * (1.0 - s * k), 0, 1) for k in (1.0, f, 1.0 - f))
    out = np.zeros_like(x)
    for k, (a0, a1, a2) in enumerate([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
                                      (v, p, q)]):
        m = i == k
        out[0][m], out[1][m], out[2][m] = a0[m], a1[m], a2[m]
    return out * 255.0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = argv[0] if argv else "../shared/data/photos/imagenet-sample-500"
    files = sorted(glob.glob(os.path.join(root, "*", "*")))[::50]
    if not files:
        print(f"no photos under {root}", file=sys.stderr)
        return 1
    recipe = Recipe("all", (28, 28), transform="eval")
    d, out = thread_decoder(), np.empty((192, 28, 28), np.int16)
    grids = []
    for f in files:
        with open(f, "rb") as fh:
            d.decode(fh.read(), recipe.packed, 0, out)
        grids.append(out.astype(np.float32))
    print("op | magnitude | PSNR vs PIL min / median | left alone min / median")
    for op, m in CASES:
        got, alone = [], []
        for g in grids:
            src = np.rint(rgb(g)).astype(np.uint8)
            if op == "Hue":
                want = np.rint(hsv_hue(src.astype(float), m))
            elif op == "Grayscale":
                grey = 0.2989 * src[0] + 0.587 * src[1] + 0.114 * src[2]
                want = np.rint(np.clip(np.repeat(grey[None], 3, 0), 0, 255))
            else:
                want = np.asarray(apply_op(Image.fromarray(src.transpose(1, 2, 0)), op, m),
                                  dtype=np.float64).transpose(2, 0, 1)
            got.append(psnr(rgb(apply_ops(g, recipe.indices, [op], [m])), want))
            alone.append(psnr(src.astype(np.float64), want))
        print(f"{op} | {m:g} | {min(got):.1f} / {np.median(got):.1f} | "
              f"{min(alone):.1f} / {np.median(alone):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
