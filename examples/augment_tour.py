#!/usr/bin/env python
"""DCT-domain augmentation on one JPEG: flip, crop, train and eval resizes.

    python examples/augment_tour.py [photo.jpg] [-o augment.png]

Prints what each transform does and how close the DCT-domain resize is to its
pixel-domain definition (Pillow BILINEAR on each component plane), and writes a
picture of the results rendered back to pixels (freqload.to_rgb) for a look.
Without a file it uses the first shared ImageNet photo, else a synthetic image.
"""
from __future__ import annotations

import argparse
import glob
import io
import math
import os

import numpy as np
from PIL import Image

import freqload
from freqload.codec.resample import resize_crop
from freqload.codec.transform import eval_box, random_resized_crop, sample_keys

HERE = os.path.dirname(os.path.abspath(__file__))


def default_image() -> bytes:
    files = sorted(glob.glob(os.path.join(HERE, "..", "..", "shared", "data", "photos",
                                          "imagenet-sample-500", "*", "*")))
    if files:
        with open(files[0], "rb") as f:
            return f.read()
    y, x = np.mgrid[0:375, 0:500]
    img = np.stack([(x * 255 // 500), (y * 255 // 375), ((x + y) % 256)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def grid_to_pixels(x: np.ndarray) -> np.ndarray:
    """float [192, h, w] dequantised YCbCr coefficients -> uint8 RGB [h*8, w*8, 3]."""
    from freqload.codec.dct import inverse_blocks

    planes = [inverse_blocks(x[64 * c:64 * c + 64].transpose(1, 2, 0)) + 128 for c in range(3)]
    y, cb, cr = (p.astype(np.float64) for p in planes)
    rgb = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                    y + 1.772 * (cb - 128)], -1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("image", nargs="?")
    ap.add_argument("-o", "--output", default="augment.png")
    args = ap.parse_args()
    data = open(args.image, "rb").read() if args.image else default_image()
    c = freqload.read_coefficients(data)
    H, W = c.info.height, c.info.width
    print(f"image: {W}x{H} {c.info.sampling}, blocks {[a.shape[:2] for a in c.components]}")

    f = freqload.hflip(c)
    print(f"hflip: width {W} -> {f.info.width} (trimmed to whole MCUs, like jpegtran -trim)")
    mcu = 8 * c.info.max_h_samp
    k = freqload.crop(c, mcu, mcu, H // 2, W // 2)
    print(f"crop {W // 2}x{H // 2}+{mcu}+{mcu}: blocks {[a.shape[:2] for a in k.components]}")

    tiles = []
    box = eval_box(H, W, 28)
    tiles.append(("eval", resize_crop(c, box, 28)))
    print(f"eval box (top, left, h, w) = {tuple(round(v, 2) for v in box)} -> [192, 28, 28]")
    for i, key in enumerate(sample_keys(0, 0, range(3)).tolist()):
        box, flip = random_resized_crop(key, H, W)
        tiles.append((f"train {i}", resize_crop(c, box, 28, flip=flip)))
        print(f"train draw {i}: box {tuple(int(v) for v in box)}, flip={flip}")

    # the pixel-domain definition of the eval tile's luma, for comparison
    from freqload.codec.dct import forward_blocks, inverse_blocks

    y = inverse_blocks(c.components[0].astype(np.float64) * c.quant_tables[0])[:H, :W]
    top, left, h, w = eval_box(H, W, 28)
    ref = Image.fromarray(y.astype(np.float32), mode="F").resize(
        (224, 224), Image.BILINEAR, box=(left, top, left + w, top + h))
    ref_coef = forward_blocks(np.asarray(ref, dtype=np.float64))
    got = tiles[0][1][:64].transpose(1, 2, 0)
    mse = float(np.mean((got - ref_coef) ** 2))
    print(f"eval luma vs Pillow's pixel-domain resize: PSNR "
          f"{'inf' if mse == 0 else f'{10 * math.log10(255 ** 2 / mse):.1f}'} dB")

    if c.info.num_components == 3:
        from freqload.tools.pictures import labelled_row

        labelled_row([(name, grid_to_pixels(x)) for name, x in tiles]).save(args.output)
        print(f"wrote {args.output}: {', '.join(n for n, _ in tiles)} (rendered from coefficients)")


if __name__ == "__main__":
    main()
