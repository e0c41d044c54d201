"""ColorJitter and RandomGrayscale in the core (Recipe(augment=...)): torchvision's
parameter rules, drawn from the key (checked against a numpy transcription of the draw),
applied in each sample's drawn order, on every path a sample takes."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import freqload
from freqload import ColorJitter, RandomGrayscale, Recipe
from freqload.codec.augment import JITTER_OPS
from freqload.codec.policy import TrivialAugmentWide, apply_ops
from freqload.codec.read import thread_decoder

from conftest import pillow_jpeg, rng_image

#: the draws' streams (fl_policy.c's constants)
JITTER_STREAM, GRAYSCALE_STREAM = 0x5851F42D4C957F2D, 0x2545F4914F6CDD1D


def test_parameters_follow_torchvisions_ranges_and_orders():
    keys = freqload.sample_keys(2, 0, np.arange(24_000))
    j = ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=0.4, hue=0.1)
    order, f, grey = j.params(keys)
    assert j.ranges == {"brightness": (0.6, 1.4), "contrast": (0.5, 1.5),
                        "saturation": (0.6, 1.4), "hue": (-0.1, 0.1)}
    for k, name in enumerate(JITTER_OPS):
        lo, hi = j.ranges[name]
        assert f[:, k].min() >= lo and f[:, k].max() < hi
        assert abs(f[:, k].mean() - (lo + hi) / 2) < 0.01 * (hi - lo) * 3
    perms = {p: 0 for p in itertools.permutations(range(4))}
    for row in order:
        perms[tuple(row)] += 1
    counts = np.array(list(perms.values()))
    assert len(perms) == 24 and (((counts - 1000) ** 2) / 1000).sum() < 49.7  # 23 dof
    assert not grey.any()
    off = ColorJitter(brightness=0.2).params(keys)[1]
    assert (off[:, 1:3] == 1).all() and (off[:, 3] == 0).all()
    assert ColorJitter(brightness=0.0).ranges["brightness"] is None  # torchvision: no-op
    assert abs(RandomGrayscale(0.25).chosen(keys).mean() - 0.25) < 0.01


def test_the_draw_is_the_key_streams_transcribed():
    """torchvision's _get_params on the key's streams: fn_idx the permutation sorting
    four uniforms, each factor lo + (hi - lo) u; grey when the grayscale stream's uniform
    is under p."""
    keys = freqload.sample_keys(5, 3, np.arange(500))
    j = ColorJitter(brightness=(0.2, 1.9), contrast=0.3, hue=0.5)
    order, f, _ = j.params(keys)
    u = np.empty((len(keys), 8))
    freqload._core.key_uniforms(keys, JITTER_STREAM, u)
    assert np.array_equal(order, np.argsort(u[:, :4], axis=1, kind="stable"))
    assert np.allclose(f[:, 0], 0.2 + 1.7 * u[:, 4]) and np.allclose(f[:, 3], -0.5 + u[:, 7])
    assert (f[:, 2] == 1).all()
    g = np.empty((len(keys), 1))
    freqload._core.key_uniforms(keys, GRAYSCALE_STREAM, g)
    assert np.array_equal(RandomGrayscale(0.3).chosen(keys), g[:, 0] < 0.3)


def test_the_recipe_applies_the_drawn_ops_in_order():
    """A decode with Recipe(augment=[policy, ColorJitter, RandomGrayscale]) equals the
    untouched sample through the policy's ops, then the jitter's in the drawn order, then
    grey where drawn (the ops each tested against pixels in test_color / test_ops)."""
    data = pillow_jpeg(rng_image(120, 150, seed=8))
    d = thread_decoder()
    policy, j, g = TrivialAugmentWide(), ColorJitter(0.4, 0.4, 0.4, 0.1), RandomGrayscale(0.3)
    base = Recipe("dctnet24", (12, 14), transform="train")
    aug = base.replace(augment=[g, j, policy])  # any order given: they run policy, jitter, grey
    assert aug.augment == (policy, j, g)
    plain, got = np.empty((24, 12, 14), np.int16), np.empty((24, 12, 14), np.int16)
    name = {"brightness": "Brightness", "contrast": "Contrast", "saturation": "Color",
            "hue": "Hue"}
    greys = 0
    for key in range(40):
        keys = np.array([key], np.uint64)
        d.decode(data, base.packed, key, plain)
        d.decode(data, aug.packed, key, got)
        ops, mags = policy.draw(keys, 96, 112)
        order, f, _ = j.params(keys)
        grey = g.chosen(keys)[0]
        names = list(ops[0]) + [name[JITTER_OPS[k]] for k in order[0]]
        values = list(mags[0]) + [f[0, k] if JITTER_OPS[k] == "hue" else f[0, k] - 1
                                  for k in order[0]]
        if grey:
            names, values = names + ["Grayscale"], values + [0.0]
            greys += 1
        want = plain
        for o, m in zip(names, values):  # each op rounds to int16, as the core does
            want = np.rint(apply_ops(want, base.indices, [o], [m])).astype(np.int16)
        assert np.array_equal(got, want), key
    assert 0 < greys < 40


def test_clear_errors():
    with pytest.raises(ValueError, match="brightness must be >= 0"):
        ColorJitter(brightness=-1)
    with pytest.raises(ValueError, match="hue: a range within"):
        ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="p must be in"):
        RandomGrayscale(1.5)
    with pytest.raises(ValueError, match="one ColorJitter at most"):
        Recipe(augment=[ColorJitter(0.1), ColorJitter(0.2)])
    with pytest.raises(ValueError, match="hue needs Cb and Cr"):
        Recipe([0, 64, 65, 129], augment=ColorJitter(hue=0.1))
    Recipe([0, 64, 65, 129], augment=ColorJitter(brightness=0.1))  # no hue: no pairs needed
