"""Shared test helpers: paths to ../shared/data, Pillow-made fixtures, references.

References here are independent of freqload: libjpeg's own pixel decodes (via
Pillow, or the djpeg outputs in the shared corpus) and numpy DCTs written out
in the tests.
"""
from __future__ import annotations

import csv
import io
import os
import shutil

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
CONFORMANCE = os.path.join(SHARED, "jpeg-conformance")
PHOTOS = os.path.join(SHARED, "photos")

needs_shared = pytest.mark.skipif(not os.path.isdir(CONFORMANCE),
                                  reason="../shared/data is absent (data-dependent test)")

try:
    import nvidia.dali  # noqa: F401
    HAVE_DALI = True
except ImportError:
    HAVE_DALI = False
#: DALI tests skip (and say so) only where DALI is missing; the CI installs it
needs_dali = pytest.mark.skipif(not HAVE_DALI,
                                reason="nvidia-dali is not installed (the CI installs it)")
#: both engines as a parameter: the DALI case is reported as a skip, never dropped
ENGINES = [pytest.param("dali", marks=needs_dali), "native"]


def manifest_rows():
    """Rows of ../shared/data/jpeg-conformance/manifest.csv ([] where absent)."""
    path = os.path.join(CONFORMANCE, "manifest.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def tool(name: str):
    return shutil.which(name)


def rng_image(h: int, w: int, seed: int = 0, gray: bool = False) -> np.ndarray:
    """A smooth-plus-texture test picture, uint8 [h, w, 3] (or [h, w])."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 60 * np.sin(xx / (3 + w / 10)) * np.cos(yy / (4 + h / 9))
    img = np.stack([base + 40 * np.cos((xx + 2 * yy) / 7.0), base, 255 - base], axis=-1)
    img += r.normal(0, 12, size=img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[..., 0] if gray else img


def pillow_jpeg(img: np.ndarray, *, quality: int = 85, subsampling: int = 0,
                progressive: bool = False, **kw) -> bytes:
    """Encode with Pillow (libjpeg-turbo inside Pillow): subsampling 0=4:4:4, 1=4:2:2, 2=4:2:0."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, subsampling=subsampling,
                              progressive=progressive, **kw)
    return buf.getvalue()


def libjpeg_luma(data: bytes) -> np.ndarray:
    """libjpeg's own luma decode (Pillow draft to L: libjpeg outputs the Y plane)."""
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    if im.mode != "L":
        im.draft("L", im.size)
    if im.mode != "L":
        raise RuntimeError("Pillow did not give libjpeg's greyscale output")
    return np.asarray(im, dtype=np.int32)


def libjpeg_rgb(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int32)


def dct_matrix() -> np.ndarray:
    """Orthonormal 8-point DCT-II, written out independently of freqload.codec.dct."""
    m = np.zeros((8, 8))
    for k in range(8):
        for n in range(8):
            m[k, n] = (np.sqrt(1 / 8) if k == 0 else np.sqrt(2 / 8)) * np.cos(
                np.pi * (2 * n + 1) * k / 16)
    return m


def idct_plane(blocks: np.ndarray) -> np.ndarray:
    """float [Hb, Wb, 64] dequantised coefficients -> float [Hb*8, Wb*8] pixels (no +128)."""
    d = dct_matrix()
    hb, wb, _ = blocks.shape
    b = blocks.reshape(hb, wb, 8, 8)
    px = np.einsum("ki,hwkl,lj->hwij", d, b, d)
    return px.transpose(0, 2, 1, 3).reshape(hb * 8, wb * 8)


def fdct_plane(plane: np.ndarray) -> np.ndarray:
    """float [H, W] (multiples of 8) -> float [H/8, W/8, 64]."""
    d = dct_matrix()
    h, w = plane.shape
    b = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    return np.einsum("ki,hwij,lj->hwkl", d, b, d).reshape(h // 8, w // 8, 64)


def dequantized(coeffs, c: int) -> np.ndarray:
    return coeffs.components[c].astype(np.float64) * coeffs.quant_tables[c].astype(np.float64)


def assert_same_batches(want, got) -> None:
    """Two iterations (or lists) of (x, y) batches are the same: as many batches, each x
    and y equal, tensor for tensor."""
    import torch

    want, got = list(want), list(got)
    assert len(want) == len(got), f"{len(want)} batches against {len(got)}"
    for k, ((xa, ya), (xb, yb)) in enumerate(zip(want, got)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb), f"batch {k} differs"


# ---- pictures: both renderers, and what a matplotlib figure holds ----------------------

RENDERERS = ["pillow", pytest.param("matplotlib", marks=pytest.mark.skipif(
    not __import__("importlib").import_module("freqload.tools.pictures").have_matplotlib(),
    reason="matplotlib not installed (the [plot] extra)"))]


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the pictures make, kept to look at what they hold."""
    from freqload.tools import pictures as drawing

    made = []
    real = drawing.mpl_figure
    monkeypatch.setattr(drawing, "mpl_figure", lambda *a, **k: made.append(real(*a, **k))
                        or made[-1])
    return made


def mpl_texts(fig) -> list:
    """Every piece of text on a matplotlib figure: titles, axis labels, legends, notes."""
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def colour_bars(fig) -> list:
    """The colour bars' axes of a matplotlib figure."""
    return [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
