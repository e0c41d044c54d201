"""``freqload show IMG --augment -o PNG``: one photo under each of the policies' ops, the
core's DCT-domain result (decoded to pixels) beside the pixel-domain op it stands for.

The DCT side is the core's op (:func:`freqload.codec.policy.apply_ops`, what
``Recipe(augment=...)`` runs on every sample) on the photo's 192 dequantised channels,
decoded with JPEG's inverse DCT and JFIF's conversion; the pixel side is torchvision's op
on the PIL image (:mod:`freqload.loading.pixel_policy`). Each pair is captioned with its
PSNR, so a user sees what each op does and how close the coefficients come.
"""
from __future__ import annotations

import sys

import numpy as np

from ..codec.channels import to_channels
from ..codec.lossless import orient
from ..codec.pixels import grid_planes, ycbcr_to_rgb
from ..codec.policy import apply_ops
from ..codec.read import read_coefficients


def decode_grid(grid: np.ndarray) -> np.ndarray:
    """float [192, H8, W8] dequantised channels -> float RGB [3, 8*H8, 8*W8] on 0..255,
    unclipped (JFIF's conversion)."""
    return ycbcr_to_rgb(*grid_planes(grid))


#: the ops drawn, at one magnitude each (torchvision's units: factor - 1, bits, the
#: threshold's share of 255, pixels, the shear factor, degrees)
SHOWN = [("Brightness", 0.5), ("Color", 0.9), ("Contrast", -0.5), ("Sharpness", 0.9),
         ("Posterize", 3), ("Solarize", 0.5), ("AutoContrast", 0), ("Equalize", 0),
         ("TranslateX", 13), ("ShearX", 0.3), ("Rotate", 30)]


def augment_panels(coeffs) -> list:
    """[(name, dct-domain uint8 [H, W, 3], pixel-domain uint8 [H, W, 3], psnr dB)]."""
    from PIL import Image

    from ..loading.pixel_policy import apply_op

    grid = to_channels(coeffs, None).astype(np.float32)
    source = np.clip(np.rint(decode_grid(grid)), 0, 255).astype(np.uint8)
    pil = Image.fromarray(source.transpose(1, 2, 0))
    h, w = coeffs.info.height, coeffs.info.width
    out = []
    for op, m in SHOWN:
        dct = np.clip(decode_grid(apply_ops(grid, range(192), [op], [m])), 0, 255)
        want = np.asarray(apply_op(pil, op, m), dtype=np.float64).transpose(2, 0, 1)
        mse = float(np.mean((dct[:, :h, :w] - want[:, :h, :w]) ** 2))
        psnr = float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)

        def img(a):
            return np.rint(a[:, :h, :w]).astype(np.uint8).transpose(1, 2, 0)
        out.append((f"{op} {m:g}" if op not in ("AutoContrast", "Equalize") else op,
                    img(dct), img(want), psnr))
    return out


def show_augment(coeffs, path, *, thumb: int = 160) -> list:
    """Write the picture: per operation, the DCT-domain result above the pixel-domain
    one, captioned with the operation and the PSNR between them. Returns the panels'
    (name, psnr)."""
    from PIL import Image, ImageDraw

    panels = augment_panels(coeffs)
    gap, caption = 6, 28
    scale = thumb / max(coeffs.info.width, coeffs.info.height)
    tw = max(1, int(round(coeffs.info.width * scale)))
    th = max(1, int(round(coeffs.info.height * scale)))
    canvas = Image.new("RGB", (gap + len(panels) * (tw + gap),
                               caption + 2 * th + 3 * gap + 14), "white")
    d = ImageDraw.Draw(canvas)
    for k, (name, dct, pixel, psnr) in enumerate(panels):
        x = gap + k * (tw + gap)
        d.text((x, 2), name, fill="black")
        d.text((x, 14), "inf dB" if psnr == float("inf") else f"{psnr:.1f} dB", fill="grey")
        canvas.paste(Image.fromarray(dct).resize((tw, th)), (x, caption))
        canvas.paste(Image.fromarray(pixel).resize((tw, th)), (x, caption + th + gap))
    d.text((gap, caption + 2 * th + 2 * gap), "top: the core's op on the coefficients, "
           "decoded; bottom: torchvision's op on the pixels (PIL)", fill="grey")
    canvas.save(path)
    return [(name, psnr) for name, _, _, psnr in panels]


def command(args) -> int:
    """``freqload show IMG --augment -o PNG``."""
    c = orient(read_coefficients(args.image, fallback="pixels"))
    drawn = show_augment(c, args.output)
    print(f"wrote {args.output}: " + ", ".join(f"{n} {p:.1f} dB" for n, p in drawn),
          file=sys.stderr)
    return 0


__all__ = ["SHOWN", "augment_panels", "decode_grid", "show_augment", "command"]
