"""MixUp and CutMix on DCT batches (freqload.loading.mixing): torchvision's rules, soft
labels that sum to 1, CutMix's label weight equal to its exact area, and both equal to
the pixel-domain operation on the decoded blocks."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

import freqload
from freqload import CutMix, MixUp

from conftest import dequantized, idct_plane, pillow_jpeg, rng_image


def _labels(n=6, k=5):
    return torch.tensor([i % k for i in range(n)])


@pytest.mark.parametrize("mix", [MixUp, CutMix])
def test_soft_labels_sum_to_one_and_weigh_own_and_rolled_class(mix):
    m = mix(alpha=0.7, num_classes=5, seed=1)
    y = _labels()
    for _ in range(20):
        x = torch.randn(6, 3, 7, 9)
        _, soft = m(x, y)
        assert soft.dtype == torch.float32 and soft.shape == (6, 5)
        assert torch.allclose(soft.sum(1), torch.ones(6), atol=1e-6)
        w = m.last.weight
        for i in range(6):
            own, other = int(y[i]), int(y[i - 1])  # roll(1, 0): sample i mixes with i-1
            assert soft[i, own] == pytest.approx(w if own != other else 1.0, abs=1e-6)
            if own != other:
                assert soft[i, other] == pytest.approx(1 - w, abs=1e-6)
    # soft labels mix again (CutMix after MixUp): still a distribution
    x2, y2 = CutMix(num_classes=5, seed=2)(*MixUp(num_classes=5, seed=3)(torch.randn(6, 2, 4, 4),
                                                                           y))
    assert torch.allclose(y2.sum(1), torch.ones(6), atol=1e-6)


def test_cutmix_label_weight_is_its_exact_area():
    """Every sample a constant of its own: the share of each sample's grid that is still
    its own equals the label weight exactly (as a fraction), on grids of any shape."""
    m = CutMix(alpha=1.0, num_classes=4, seed=7)
    for h, w in [(56, 56), (7, 9), (1, 5), (28, 14)]:
        for _ in range(25):
            x = torch.arange(1, 5, dtype=torch.int16).view(4, 1, 1, 1).expand(4, 3, h, w)
            out, soft = m(x, torch.arange(4))
            d = m.last
            y1, x1, y2, x2 = d.box
            assert 0 <= y1 <= y2 <= h and 0 <= x1 <= x2 <= w
            assert out.dtype == torch.int16
            for i in range(4):
                own = int((out[i] == i + 1).sum())
                assert Fraction(own, 3 * h * w) == Fraction(h * w - (y2 - y1) * (x2 - x1), h * w)
                assert Fraction(own, 3 * h * w) == Fraction(d.weight).limit_denominator(h * w)
                assert float(soft[i, i]) == pytest.approx(d.weight, abs=1e-7)


def test_draws_follow_torchvisions_rule_and_repeat_with_the_seed():
    """torchvision.transforms.v2.CutMix._get_params (transcribed): half-sides
    int(0.5 * sqrt(1 - lam) * side) around a uniform centre, clamped; lam' = 1 - area."""
    a, b = CutMix(alpha=0.5, num_classes=3, seed=11), CutMix(alpha=0.5, num_classes=3, seed=11)
    rng = np.random.default_rng(11)
    for _ in range(50):
        d = a.draw(56, 40)
        assert d == b.draw(56, 40)
        lam = rng.beta(0.5, 0.5)
        rx, ry = rng.integers(40), rng.integers(56)
        r = 0.5 * np.sqrt(1 - lam)
        x1, y1 = max(rx - int(r * 40), 0), max(ry - int(r * 56), 0)
        x2, y2 = min(rx + int(r * 40), 40), min(ry + int(r * 56), 56)
        assert d.lam == lam and d.box == (y1, x1, y2, x2)
        assert d.weight == 1 - (x2 - x1) * (y2 - y1) / (40 * 56)
    m1, m2 = MixUp(num_classes=3, seed=5), MixUp(num_classes=3, seed=5)
    x = torch.randn(3, 2, 4, 4)
    assert torch.equal(m1(x, _labels(3, 3))[0], m2(x, _labels(3, 3))[0])


@pytest.fixture(scope="module")
def blocks():
    """Three photos' dequantised luma coefficients on one block grid [3, 64, H8, W8] and
    their pixels [3, 1, 8*H8, 8*W8] (the reference inverse DCT of the tests)."""
    coefs, pixels = [], []
    for k in range(3):
        c = freqload.read_coefficients(pillow_jpeg(rng_image(80, 96, seed=20 + k), quality=80))
        d = dequantized(c, 0)[:10, :12]  # [10, 12, 64]
        coefs.append(torch.from_numpy(d).permute(2, 0, 1))
        pixels.append(torch.from_numpy(idct_plane(d))[None])
    return torch.stack(coefs), torch.stack(pixels)


def _pixels(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.from_numpy(idct_plane(s.permute(1, 2, 0).numpy()))[None]
                        for s in x])


def test_mixup_in_the_dct_domain_is_mixup_of_the_pixels(blocks):
    coefs, pixels = blocks
    y = torch.arange(3)
    dct_x, dct_y = MixUp(alpha=0.4, num_classes=3, seed=9)(coefs, y)
    px_x, px_y = MixUp(alpha=0.4, num_classes=3, seed=9)(pixels, y)  # the same draw
    assert torch.allclose(_pixels(dct_x), px_x, atol=1e-9, rtol=0)  # float64: linearity
    assert torch.equal(dct_y, px_y)
    lam = MixUp(alpha=0.4, num_classes=3, seed=9).rng.beta(0.4, 0.4)
    want = lam * pixels + (1 - lam) * pixels.roll(1, 0)
    assert torch.allclose(px_x, want, atol=1e-9, rtol=0)


def test_cutmix_on_the_block_grid_is_cutmix_of_the_pixels_with_the_box_times_8(blocks):
    coefs, pixels = blocks
    m = CutMix(alpha=1.0, num_classes=3, seed=4)
    for _ in range(10):
        x, _ = m(coefs, torch.arange(3))
        y1, x1, y2, x2 = m.last.box
        want = pixels.clone()
        want[..., 8 * y1:8 * y2, 8 * x1:8 * x2] = pixels.roll(1, 0)[..., 8 * y1:8 * y2,
                                                                   8 * x1:8 * x2]
        assert torch.equal(_pixels(x), want)  # whole blocks moved: bit for bit


def test_clear_errors():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        MixUp(alpha=0)
    with pytest.raises(ValueError, match="num_classes=...\\) is needed"):
        CutMix()(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="float input"):
        MixUp(num_classes=2)(torch.zeros(2, 1, 2, 2, dtype=torch.int16), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels must be in \\[0, 2\\).*-1"):
        MixUp(num_classes=2)(torch.zeros(2, 1, 2, 2), torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="x: \\[B, C, H, W\\]"):
        CutMix(num_classes=2)(torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="3 rows for a batch of 2"):
        CutMix(num_classes=2)(torch.zeros(2, 1, 2, 2), torch.zeros(3, 2))
    assert repr(CutMix(alpha=0.5, num_classes=7)) == "CutMix(alpha=0.5, num_classes=7)"
