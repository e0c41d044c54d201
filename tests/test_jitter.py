"""ColorJitter and RandomGrayscale on DCT batches (freqload.loading.jitter): torchvision's
parameter rules drawn from the key, the order kept per sample, exact against the pixel
operations in the drawn order."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_color import _photos, jpeg_grey, pixel_op, rgb

import freqload
from freqload.loading.jitter import OPS, ColorJitter, RandomGrayscale


def test_parameters_follow_torchvisions_ranges_and_orders():
    keys = freqload.sample_keys(2, 0, np.arange(24_000))
    j = ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=0.4, hue=0.1)
    order, f = j.params(keys)
    assert j.ranges == {"brightness": (0.6, 1.4), "contrast": (0.5, 1.5),
                        "saturation": (0.6, 1.4), "hue": (-0.1, 0.1)}
    for k, name in enumerate(OPS):
        lo, hi = j.ranges[name]
        assert f[:, k].min() >= lo and f[:, k].max() < hi
        assert abs(f[:, k].mean() - (lo + hi) / 2) < 0.01 * (hi - lo) * 3
    perms = {p: 0 for p in itertools.permutations(range(4))}
    for row in order:
        perms[tuple(row)] += 1
    counts = np.array(list(perms.values()))
    assert len(perms) == 24 and (((counts - 1000) ** 2) / 1000).sum() < 49.7  # 23 dof
    o2, f2 = j.params(keys)
    assert np.array_equal(order, o2) and np.array_equal(f, f2)
    off = ColorJitter(brightness=0.2).params(keys)[1]
    assert (off[:, 1:3] == 1).all() and (off[:, 3] == 0).all()
    assert ColorJitter(brightness=0.0).ranges["brightness"] is None  # torchvision: no-op
    grey = RandomGrayscale(0.25).chosen(keys)
    assert abs(grey.mean() - 0.25) < 0.01


def _pixel_hue(img, h):  # the YCbCr rotation on pixels (JFIF forward and inverse)
    y = jpeg_grey(img)
    cb = -0.168736 * img[0] - 0.331264 * img[1] + 0.5 * img[2]
    cr = 0.5 * img[0] - 0.418688 * img[1] - 0.081312 * img[2]
    t = 2 * np.pi * h
    cb, cr = np.cos(t) * cb - np.sin(t) * cr, np.sin(t) * cb + np.cos(t) * cr
    return np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb])


def test_jitter_is_the_pixel_operations_in_the_drawn_order():
    grids = [torch.from_numpy(freqload.to_channels(c, None).astype(np.float64))[None]
             for c in _photos()[:4]]
    j = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2)
    keys = freqload.sample_keys(9, 1, np.arange(4))
    order, f = j.params(keys)
    x = torch.cat([g for g in grids[:1]] * 4)  # one photo, four draws
    out = j(x, "all", keys)
    for s in range(4):
        img = rgb(x[s:s + 1])
        for k in order[s]:
            name = OPS[k]
            img = _pixel_hue(img, f[s, k]) if name == "hue" else pixel_op(name, img, f[s, k])
        assert np.abs(rgb(out[s:s + 1]) - img).max() < 1e-3
    idx = list(freqload.codec.mask.as_mask("dctnet24").indices)
    assert torch.allclose(j(x[:, idx], "dctnet24", keys), out[:, idx], atol=1e-9)


def test_random_grayscale_turns_the_chosen_samples_grey():
    g = torch.from_numpy(freqload.to_channels(_photos()[0], None).astype(np.float64))[None]
    x = g.repeat(6, 1, 1, 1)
    keys = freqload.sample_keys(1, 0, np.arange(6))
    r = RandomGrayscale(0.5)
    out = r(x, "all", keys)
    for k, grey in enumerate(r.chosen(keys)):
        assert bool((out[k, 64:] == 0).all()) == bool(grey)
        assert torch.equal(out[k, :64], x[k, :64])


def test_clear_errors():
    with pytest.raises(ValueError, match="brightness must be >= 0"):
        ColorJitter(brightness=-1)
    with pytest.raises(ValueError, match="hue: a range within"):
        ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="p must be in"):
        RandomGrayscale(1.5)
    with pytest.raises(ValueError, match="one key per sample"):
        ColorJitter(brightness=0.1)(torch.zeros(2, 192, 2, 2), "all", [1])
