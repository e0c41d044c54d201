"""Natural-looking JPEGs made on the fly, for benchmarks and tests without data.

Images are coloured 1/f noise (the power spectrum of natural photos falls
roughly as 1/f^2) with a few smooth shapes, at ImageNet-like sizes, encoded
by Pillow with a mix of qualities and chroma subsamplings like ImageNet's
(mostly 4:4:4, about a fifth 4:2:0). Everything is seeded: the same call
gives the same bytes.
"""
from __future__ import annotations

import io
import os

import numpy as np

from ..cache_dir import default_cache_dir
from ..progress import Progress

#: (width, height) choices around ImageNet's median of 500x375
_SIZES = [(500, 375), (375, 500), (500, 333), (500, 400), (640, 480), (400, 300), (500, 500)]


def natural_image(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [height, width, 3]: 1/f noise per channel, correlated, plus shapes."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = 1.0 / f
    shape = (height, width // 2 + 1)
    base = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    planes = []
    for c in range(3):
        own = rng.normal(size=base.shape) + 1j * rng.normal(size=base.shape)
        spec = (0.8 * base + 0.45 * own) * amp
        spec[0, 0] = 0
        p = np.fft.irfft2(spec, s=(height, width))
        planes.append(p / (p.std() + 1e-9))
    img = np.stack(planes, axis=-1) * 38.0 + rng.uniform(90, 160, size=3)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(rng.integers(2, 6)):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.05, 0.3) * min(width, height)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[inside] = img[inside] * 0.5 + rng.uniform(0, 255, size=3) * 0.5
    return np.clip(img, 0, 255).astype(np.uint8)


def encode_jpeg(rgb: np.ndarray, quality: int = 90, subsampling: str = "4:4:4",
                progressive: bool = False) -> bytes:
    """Pillow JPEG encode of uint8 [H, W, 3] or [H, W]."""
    from PIL import Image

    sub = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[subsampling]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=sub,
                              progressive=progressive)
    return buf.getvalue()


def make_jpeg_folder(root: str | None = None, *, count: int = 200, classes: int = 10,
                     seed: int = 0, progress: bool = True) -> str:
    """Write (once) and return an ImageFolder-style tree of synthetic JPEGs.

    ``root`` defaults to ``<cache>/synthetic-v1-{count}-{seed}``; files are
    ``class_XX/img_XXXXX.jpg``. A finished tree has a ``.complete`` marker, so
    an interrupted run is redone, never half-used.
    """
    if root is None:
        root = os.path.join(default_cache_dir(), f"synthetic-v1-{count}-{seed}")
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return root
    rng = np.random.default_rng(seed)
    # progress: "always", True (when stderr is a terminal) or False
    enabled = True if progress == "always" else (None if progress else False)
    bar = Progress(count, "generating synthetic JPEGs", enabled)
    for i in range(count):
        w, h = _SIZES[rng.integers(len(_SIZES))]
        sub = "4:2:0" if rng.random() < 0.2 else "4:4:4"
        q = int(rng.integers(75, 96))
        data = encode_jpeg(natural_image(w, h, rng), quality=q, subsampling=sub)
        d = os.path.join(root, f"class_{i % classes:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(data)
        bar.update()
    bar.close()
    with open(marker, "w") as f:
        f.write("ok\n")
    return root


def make_class_folders(root: str, *, classes: int = 3, train: int = 24, val: int = 8,
                       size: tuple = (64, 48), seed: int = 0) -> str:
    """Write a small learnable data set: ``root/train/class_K/*.jpg`` and ``root/val/...``
    (``train`` and ``val`` pictures per class, ``size`` = (width, height) pixels, 4:2:0,
    quality 85). Class K's pictures are stripes at angle K*180/classes degrees with a
    random period (6-14 pixels), phase and colours, over 1/f noise: a task both the RGB
    and the DCT input can learn, for tests and demos of ``freqload compare``. Returns
    ``root``."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    for split, count in (("train", train), ("val", val)):
        for k in range(classes):
            d = os.path.join(root, split, f"class_{k}")
            os.makedirs(d, exist_ok=True)
            angle = np.pi * k / classes
            for i in range(count):
                t = xx * np.cos(angle) + yy * np.sin(angle)
                wave = np.sin(2 * np.pi * t / rng.uniform(6, 14) + rng.uniform(0, 2 * np.pi))
                a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
                img = (a + (b - a) * (0.5 + 0.5 * wave[..., None])) * 0.7
                img += 0.3 * natural_image(w, h, rng).astype(np.float64)
                data = encode_jpeg(np.clip(img, 0, 255).astype(np.uint8), quality=85,
                                   subsampling="4:2:0")
                with open(os.path.join(d, f"{split}_{i:04d}.jpg"), "wb") as f:
                    f.write(data)
    return root
