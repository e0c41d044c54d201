"""``freqload show IMG --augment -o PNG``: one photo under each DCT-domain operation, the
DCT-domain result (decoded to pixels) beside the pixel-domain operation it stands for.

The pixel side is torchvision.transforms.v2.functional's definition, transcribed in numpy
on float 0..255 (:data:`PIXEL_OPS`); the DCT side is :mod:`freqload.loading.color` and
:mod:`freqload.loading.geometry` on the photo's 192 dequantised channels, decoded with
JPEG's inverse DCT and JFIF's conversion. Each pair is captioned with its PSNR, so a user
sees what each operation does and how close the coefficients come.
"""
from __future__ import annotations

import sys

import numpy as np

from ..codec.channels import to_channels
from ..codec.lossless import orient
from ..codec.pixels import grid_planes, ycbcr_to_rgb
from ..codec.read import read_coefficients


def decode_grid(grid: np.ndarray) -> np.ndarray:
    """float [192, H8, W8] dequantised channels -> float RGB [3, 8*H8, 8*W8] on 0..255,
    unclipped (JFIF's conversion)."""
    return ycbcr_to_rgb(*grid_planes(grid))


def _grey(img):  # torchvision's _rgb_to_grayscale_image
    return 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]


def _blend(a, b, f):
    return np.clip(f * a + (1 - f) * b, 0, 255)


def _sharpen(img, f):
    k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13
    deg = img.copy()
    acc = np.zeros_like(img[:, 1:-1, 1:-1])
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            acc += k[dy + 1, dx + 1] * img[:, 1 + dy:img.shape[1] - 1 + dy,
                                           1 + dx:img.shape[2] - 1 + dx]
    deg[:, 1:-1, 1:-1] = acc
    return _blend(img, deg, f)


def _translate(img, dx):
    out = np.zeros_like(img)
    if dx >= 0:
        out[:, :, dx:] = img[:, :, :img.shape[2] - dx]
    else:
        out[:, :, :dx] = img[:, :, -dx:]
    return out


#: the pixel-domain definitions (torchvision.transforms.v2.functional on float 0..255,
#: clamped as torchvision clamps): name -> (function(img, arg), the DCT-domain call)
PIXEL_OPS = {
    "brightness 1.5": (lambda i: _blend(i, 0.0, 1.5), ("color", "brightness", 1.5)),
    "contrast 0.5": (lambda i: _blend(i, _grey(i).mean(), 0.5), ("color", "contrast", 0.5)),
    "saturation 2.0": (lambda i: _blend(i, _grey(i)[None], 2.0),
                       ("color", "saturation", 2.0)),
    "grayscale": (lambda i: np.clip(np.repeat(_grey(i)[None], 3, 0), 0, 255),
                  ("color", "grayscale", True)),
    "invert": (lambda i: 255.0 - i, ("color", "invert", True)),
    "sharpness 1.9": (lambda i: _sharpen(i, 1.9), ("color", "sharpness", 1.9)),
    "posterize 3 bits": (lambda i: (np.clip(np.rint(i), 0, 255).astype(np.uint8)
                                    & np.uint8(0xE0)).astype(float),
                         ("color", "posterize", 3)),
    "solarize 128": (lambda i: np.where(i >= 128, 255 - i, i), ("color", "solarize", 128.0)),
    "translate 16 px": (lambda i: _translate(i, 16), ("geometry", "translate", 16)),
}


def augment_panels(coeffs) -> list:
    """[(name, dct-domain uint8 [H, W, 3], pixel-domain uint8 [H, W, 3], psnr dB)]."""
    import torch

    from ..loading import color, geometry

    grid = to_channels(coeffs, None).astype(np.float64)
    x = torch.from_numpy(grid)[None]
    source = np.clip(decode_grid(grid), 0, 255)
    h, w = coeffs.info.height, coeffs.info.width
    out = []
    for name, (pixel, (module, fn, arg)) in PIXEL_OPS.items():
        mod = color if module == "color" else geometry
        if fn == "translate":
            y = mod.translate(x, "all", arg, 0)
        else:
            y = getattr(mod, fn)(x, "all", arg)
        dct = np.clip(decode_grid(y[0].numpy()), 0, 255)
        want = np.clip(pixel(source), 0, 255)
        mse = float(np.mean((dct - want) ** 2))
        psnr = float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)

        def img(a):
            return np.rint(a[:, :h, :w]).astype(np.uint8).transpose(1, 2, 0)
        out.append((name, img(dct), img(want), psnr))
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
    d.text((gap, caption + 2 * th + 2 * gap), "top: in the DCT domain, decoded; bottom: "
           "torchvision's pixel operation", fill="grey")
    canvas.save(path)
    return [(name, psnr) for name, _, _, psnr in panels]


def command(args) -> int:
    """``freqload show IMG --augment -o PNG``."""
    c = orient(read_coefficients(args.image, fallback="pixels"))
    drawn = show_augment(c, args.output)
    print(f"wrote {args.output}: " + ", ".join(f"{n} {p:.1f} dB" for n, p in drawn),
          file=sys.stderr)
    return 0


__all__ = ["PIXEL_OPS", "augment_panels", "decode_grid", "show_augment", "command"]
