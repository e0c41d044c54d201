"""RandomErasing on the block grid (freqload.loading.erasing): torchvision's draw rules,
drawn from the key, and exact against erasing the decoded pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import freqload
from freqload.loading.erasing import RandomErasing

from conftest import idct_plane, pillow_jpeg, rng_image


def test_boxes_follow_torchvisions_rule():
    e = RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3))
    keys = freqload.sample_keys(1, 0, np.arange(20_000))
    b = e.boxes(keys, 56, 40)
    erased = b[:, 2] > 0
    assert abs(erased.mean() - 0.5) < 0.02  # p, less the rare ten misses
    top, left, h, w = b[erased].T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 56).all() and (left + w <= 40).all()
    assert (h < 56).all() and (w < 40).all()
    area = h * w / (56 * 40)
    assert area.min() >= 0.02 * 0.5 and area.max() <= 0.33 * 1.6  # rounding of small sides
    aspect = h / w
    assert aspect.min() >= 0.3 * 0.5 and aspect.max() <= 3.3 * 2
    # the corner is uniform over the places the box fits: the mean relative position 1/2
    rel = top / np.maximum(56 - h, 1)
    assert abs(rel.mean() - 0.5) < 0.02
    assert np.array_equal(b, e.boxes(keys, 56, 40))  # same keys, same boxes
    assert not (RandomErasing(p=0.0).boxes(keys, 56, 40)).any()
    assert (RandomErasing(p=1.0).boxes(keys, 56, 40)[:, 2] > 0).mean() > 0.95


def test_erasing_blocks_is_erasing_pixels_to_grey_128():
    c = freqload.read_coefficients(pillow_jpeg(rng_image(96, 128, seed=3)))
    g = torch.from_numpy(freqload.to_channels(c, None).astype(np.float64))[None]  # [1,192,12,16]
    x = g.repeat(8, 1, 1, 1)
    keys = freqload.sample_keys(4, 0, np.arange(8))
    e = RandomErasing(p=1.0)
    out = e(x, keys)
    for k, (top, left, h, w) in enumerate(e.boxes(keys, 12, 16)):
        for comp in range(3):
            px = idct_plane(out[k, 64 * comp:64 * comp + 64].permute(1, 2, 0).numpy()) + 128
            want = idct_plane(g[0, 64 * comp:64 * comp + 64].permute(1, 2, 0).numpy()) + 128
            want[8 * top:8 * (top + h), 8 * left:8 * (left + w)] = 128.0
            assert np.abs(px - want).max() < 1e-9


def test_clear_errors():
    with pytest.raises(ValueError, match="p in \\[0, 1\\]"):
        RandomErasing(p=2)
    with pytest.raises(ValueError, match="scale_min <= scale_max"):
        RandomErasing(scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="one key per sample"):
        RandomErasing()(torch.zeros(2, 1, 4, 4), [1, 2, 3])
