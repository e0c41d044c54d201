"""The policies' ops on pixels, for the RGB side of an A/B run and for pictures.

torchvision.transforms.v2 applies TrivialAugmentWide's and RandAugment's ops to a PIL
image with PIL itself (``_apply_image_or_video_transform``, through
``transforms.v2.functional``'s PIL kernels): ``ImageEnhance`` for brightness, color,
contrast and sharpness (factor ``1 + magnitude``), ``ImageOps`` for posterize, solarize
(threshold ``255 * magnitude``), autocontrast and equalize, and ``Image.transform`` /
``Image.rotate`` with nearest interpolation and fill 0 for the geometric ops (shear about
the top-left corner, ``translate=[int(magnitude), 0]``, rotation about the centre). This
module does the same, so ``RGBLoader(augment=...)`` gives the RGB baseline the ops the
DCT side draws for the same sample (:func:`freqload.codec.policy` draws them from the
key), and ``freqload show --augment`` draws both side by side.
"""
from __future__ import annotations

import numpy as np

from ..codec.policy import OP_NAMES


def apply_op(img, op: str | int, magnitude: float, *, translate_scale=1.0):
    """One op on a PIL RGB image, torchvision's way (see the module). ``translate_scale``
    multiplies translations, one factor or (x, y) (an RGB side at another size than the
    draws were made for keeps their share of the picture). Returns a new image."""
    from PIL import Image, ImageEnhance, ImageOps

    name = OP_NAMES[op] if isinstance(op, (int, np.integer)) else op
    m = float(magnitude)
    sx, sy = (translate_scale, translate_scale) if isinstance(translate_scale, (int, float)) \
        else translate_scale
    affine = {"ShearX": (1, m, 0, 0, 1, 0), "ShearY": (1, 0, 0, m, 1, 0),
              "TranslateX": (1, 0, -int(m * sx), 0, 1, 0),
              "TranslateY": (1, 0, 0, 0, 1, -int(m * sy))}
    if name in affine:
        return img.transform(img.size, Image.Transform.AFFINE, affine[name],
                             Image.Resampling.NEAREST, fillcolor=0)
    if name == "Rotate":
        return img.rotate(m, Image.Resampling.NEAREST, fillcolor=0)
    enhance = {"Brightness": ImageEnhance.Brightness, "Color": ImageEnhance.Color,
               "Contrast": ImageEnhance.Contrast, "Sharpness": ImageEnhance.Sharpness}
    if name in enhance:
        return enhance[name](img).enhance(1.0 + m)
    if name == "Posterize":
        return ImageOps.posterize(img, int(m))
    if name == "Solarize":
        return ImageOps.solarize(img, 255.0 * m)  # type: ignore[arg-type]  # PIL compares
    if name == "AutoContrast":
        return ImageOps.autocontrast(img)
    if name == "Equalize":
        return ImageOps.equalize(img)
    if name == "Identity":
        return img.copy()
    raise ValueError(f"unknown op {op!r}")


def apply_drawn(img, ops, magnitudes, *, translate_scale=1.0):
    """A sample's drawn ops (one row of a policy's ``draw``) in order."""
    for op, m in zip(ops, magnitudes):
        img = apply_op(img, int(op), float(m), translate_scale=translate_scale)
    return img


__all__ = ["apply_drawn", "apply_op"]
