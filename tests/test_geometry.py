"""Block-grid translation (freqload.loading.geometry) against torchvision's integer
translation with black fill on the decoded pixels."""
from __future__ import annotations

import numpy as np
import torch
from test_color import _photos, _psnr, rgb

import freqload
from freqload.loading import geometry


def _pixel_translate(img, dx, dy):  # torchvision affine, translate=[dx, dy], nearest, fill 0
    out = np.zeros_like(img)
    h, w = img.shape[1:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = img[:, ys, xs]
    return out


def test_whole_block_shifts_are_exact_and_others_close():
    g = torch.from_numpy(freqload.to_channels(_photos()[0], None).astype(np.float64))[None]
    for dx, dy in [(8, 0), (-16, 24), (0, -32), (32, 8)]:
        got = rgb(geometry.translate(g, "all", dx, dy))
        assert np.abs(got - _pixel_translate(rgb(g), dx, dy)).max() < 1e-6
    worst = min(_psnr(np.clip(rgb(geometry.translate(g, "all", d, 0)), 0, 255),
                      np.clip(_pixel_translate(rgb(g), d, 0), 0, 255)) for d in (3, 5, 12, 29))
    assert worst > 15, worst  # up to 4 pixels off: a measured, not an exact, result


def test_per_sample_shifts_and_masks():
    g = torch.from_numpy(freqload.to_channels(_photos()[0], None).astype(np.float64))[None]
    x = g.repeat(3, 1, 1, 1)
    out = geometry.translate(x, "all", np.array([0, 8, -8]), 0)
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1], geometry.translate(g, "all", 8, 0)[0])
    idx = list(freqload.codec.mask.as_mask("dctnet24").indices)
    assert torch.equal(geometry.translate(x[:, idx], "dctnet24", 16, -8),
                       geometry.translate(x, "all", 16, -8)[:, idx])
    assert (geometry.translate(g, "all", 0, 1000)[:, 0] == geometry.BLACK_DC).all()
