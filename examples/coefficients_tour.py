#!/usr/bin/env python
"""A tour of freqload's native core on one JPEG.

    python examples/coefficients_tour.py [IMAGE.jpg] [--out channels.png]

Without an image it makes one. Prints the header, the coefficient arrays and
the masked channel grid, and writes a picture of the 24 dctnet24 channels
(log magnitude) next to the to_rgb reconstruction.
"""
import argparse
import sys

import numpy as np
from PIL import Image

import freqload
from freqload.tools.synthetic import encode_jpeg, natural_image


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("image", nargs="?")
    ap.add_argument("--out", default="channels.png")
    args = ap.parse_args(argv)
    data = (open(args.image, "rb").read() if args.image else
            encode_jpeg(natural_image(448, 336, np.random.default_rng(0)), 90, "4:2:0"))

    info = freqload.read_header(data)
    print(f"{info.width}x{info.height} {info.sampling} {info.color_space} "
          f"progressive={info.progressive} restart={info.restart_interval}")
    coeffs = freqload.read_coefficients(data)
    for name, arr, q in zip(("Y", "Cb", "Cr"), coeffs.components, coeffs.quant_tables):
        print(f"  {name}: int16 {arr.shape}, quant DC step {q[0]}")

    mask = freqload.ChannelMask.dctnet24()
    grid = freqload.to_channels(coeffs, mask)  # int16 [24, H8, W8]
    print(f"to_channels(mask=dctnet24): {grid.dtype} {list(grid.shape)}; "
          f"{grid.nbytes / 1e3:.1f} kB vs {info.width * info.height * 3 / 1e3:.1f} kB of RGB")

    tiles = []
    for k in range(len(mask)):
        t = np.log1p(np.abs(grid[k].astype(np.float32)))
        t = (255 * t / max(float(t.max()), 1e-6)).astype(np.uint8)
        tiles.append(np.pad(t, 1, constant_values=255))
    rows = [np.concatenate(tiles[i:i + 8], axis=1) for i in range(0, len(tiles), 8)]
    sheet = np.concatenate(rows, axis=0)
    rgb = freqload.to_rgb(coeffs)
    scale = sheet.shape[0] / rgb.shape[0]
    small = np.asarray(Image.fromarray(rgb).resize(
        (max(1, int(rgb.shape[1] * scale)), sheet.shape[0])))
    from freqload.tools.pictures import labelled_row

    labelled_row([("the 24 dctnet24 channels, log |x|, each its own scale", sheet),
                  ("to_rgb(coeffs)", small)]).save(args.out)
    print(f"wrote {args.out}: the 24 channels ({', '.join(mask.names[:4])}, ...) and to_rgb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
