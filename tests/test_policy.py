"""Augmentation policies (freqload.codec.policy): torchvision's op lists and magnitude
bins, drawn from the sample's key, uniform where torchvision draws uniformly, and
independent of the crop the same key draws."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import freqload
from freqload.codec.policy import POLICY_OPS, RandAugment, TrivialAugmentWide

#: transcribed from torchvision/transforms/v2/_auto_augment.py (TrivialAugmentWide and
#: RandAugment's _AUGMENTATION_SPACE): (magnitudes(num_bins, height, width), signed)
TRIVIAL = {
    "Identity": (None, False),
    "ShearX": (lambda n, h, w: torch.linspace(0.0, 0.99, n), True),
    "ShearY": (lambda n, h, w: torch.linspace(0.0, 0.99, n), True),
    "TranslateX": (lambda n, h, w: torch.linspace(0.0, 32.0, n), True),
    "TranslateY": (lambda n, h, w: torch.linspace(0.0, 32.0, n), True),
    "Rotate": (lambda n, h, w: torch.linspace(0.0, 135.0, n), True),
    "Brightness": (lambda n, h, w: torch.linspace(0.0, 0.99, n), True),
    "Color": (lambda n, h, w: torch.linspace(0.0, 0.99, n), True),
    "Contrast": (lambda n, h, w: torch.linspace(0.0, 0.99, n), True),
    "Sharpness": (lambda n, h, w: torch.linspace(0.0, 0.99, n), True),
    "Posterize": (lambda n, h, w: (8 - (torch.arange(n) / ((n - 1) / 6))).round().int(), False),
    "Solarize": (lambda n, h, w: torch.linspace(1.0, 0.0, n), False),
    "AutoContrast": (None, False),
    "Equalize": (None, False),
}
RAND = {
    "Identity": (None, False),
    "ShearX": (lambda n, h, w: torch.linspace(0.0, 0.3, n), True),
    "ShearY": (lambda n, h, w: torch.linspace(0.0, 0.3, n), True),
    "TranslateX": (lambda n, h, w: torch.linspace(0.0, 150.0 / 331.0 * w, n), True),
    "TranslateY": (lambda n, h, w: torch.linspace(0.0, 150.0 / 331.0 * h, n), True),
    "Rotate": (lambda n, h, w: torch.linspace(0.0, 30.0, n), True),
    "Brightness": (lambda n, h, w: torch.linspace(0.0, 0.9, n), True),
    "Color": (lambda n, h, w: torch.linspace(0.0, 0.9, n), True),
    "Contrast": (lambda n, h, w: torch.linspace(0.0, 0.9, n), True),
    "Sharpness": (lambda n, h, w: torch.linspace(0.0, 0.9, n), True),
    "Posterize": (lambda n, h, w: (8 - (torch.arange(n) / ((n - 1) / 4))).round().int(), False),
    "Solarize": (lambda n, h, w: torch.linspace(1.0, 0.0, n), False),
    "AutoContrast": (None, False),
    "Equalize": (None, False),
}


@pytest.mark.parametrize("policy,table", [(TrivialAugmentWide(), TRIVIAL),
                                          (TrivialAugmentWide(num_magnitude_bins=10), TRIVIAL),
                                          (RandAugment(), RAND),
                                          (RandAugment(num_magnitude_bins=7, magnitude=3), RAND)])
def test_tables_are_torchvisions(policy, table):
    assert list(table) == list(POLICY_OPS)  # the same ops, in the same order
    n = policy.num_magnitude_bins
    for h, w in [(224, 224), (448, 336)]:
        for name, (fn, signed) in table.items():
            got = policy.magnitudes(name, h, w)
            if fn is None:
                assert got is None, name
                continue
            want = fn(n, h, w).double().numpy()  # torch's linspace is float32: to its rounding
            assert got[1] == signed, name
            np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-6, err_msg=name)


def _chi2(counts, expected):
    return float(((counts - expected) ** 2 / expected).sum())


def test_trivial_augment_draws_uniformly():
    keys = freqload.sample_keys(3, 0, np.arange(140_000))
    ops, mags = TrivialAugmentWide().draw(keys, 224, 224)
    counts = np.bincount(ops[:, 0], minlength=14)
    assert _chi2(counts, len(keys) / 14) < 34.5  # chi-square, 13 dof, p = 0.001
    table = TrivialAugmentWide()
    for k, name in enumerate(POLICY_OPS):
        m = mags[ops[:, 0] == k, 0]
        spec = table.magnitudes(name)
        if spec is None:
            assert (m == 0).all()
            continue
        bins, signed = spec
        idx = np.abs(np.abs(m)[:, None] - bins[None]).argmin(1)  # every value is a bin
        assert np.allclose(np.abs(m), bins[idx])
        if name != "Posterize":  # its bins repeat values (8, 8, ..., 2)
            assert _chi2(np.bincount(idx, minlength=31), len(m) / 31) < 59.7  # 30 dof
        if signed:
            nonzero = m[np.abs(m) > 0]
            share = (nonzero < 0).mean()
            assert abs(share - 0.5) < 4 * 0.5 / np.sqrt(len(nonzero))


def test_rand_augment_uses_its_fixed_bin():
    r = RandAugment(num_ops=3, magnitude=12)
    ops, mags = r.draw(freqload.sample_keys(0, 1, np.arange(20_000)), 300, 200)
    assert ops.shape == mags.shape == (20_000, 3)
    for k, name in enumerate(POLICY_OPS):
        spec = r.magnitudes(name, 300, 200)
        m = mags[ops == k]
        if spec is None:
            assert (m == 0).all()
        else:
            assert np.allclose(np.abs(m), spec[0][12])
    assert _chi2(np.bincount(ops.ravel(), minlength=14), ops.size / 14) < 34.5


def test_same_key_same_ops_and_independent_of_the_crop():
    keys = freqload.sample_keys(5, 2, np.arange(20_000))
    a, b = TrivialAugmentWide().draw(keys, 224, 224), TrivialAugmentWide().draw(keys, 224, 224)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], TrivialAugmentWide().draw(keys + 1, 224, 224)[0])
    # the flip the same keys draw (the crop's stream) says nothing about the op
    flips = np.array([freqload.codec.random_resized_crop(int(k), 300, 400)[1] for k in keys[:4000]])
    table = np.zeros((2, 14))
    np.add.at(table, (flips.astype(int), a[0][:4000, 0]), 1)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    assert _chi2(table, expected) < 34.5  # 13 dof


def test_clear_errors():
    with pytest.raises(ValueError, match="magnitude must be a bin 0..30"):
        RandAugment(magnitude=31)
    with pytest.raises(ValueError, match="num_ops must be 0..16"):
        RandAugment(num_ops=17)
    with pytest.raises(ValueError, match="num_magnitude_bins must be 1..1000"):
        TrivialAugmentWide(num_magnitude_bins=0)
    assert RandAugment(num_ops=0).draw([1, 2], 8, 8)[0].shape == (2, 0)
