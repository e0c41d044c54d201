"""regroup="device": torch finishing the sample gives exactly the CPU path's tensors."""
import numpy as np
import pytest
import torch
from test_channels import SAMPLINGS, synthetic

import freqload
from freqload import ChannelMask
from freqload.codec.recipe import Recipe
from freqload.loading.regroup import DeviceRegroup, parse_layout, planes_from_coefficients

from conftest import pillow_jpeg, rng_image


def batch_of(coeff_list, spec):
    payloads, layouts = zip(*(planes_from_coefficients(c, spec) for c in coeff_list))
    offsets = np.cumsum([0] + [len(p) for p in payloads[:-1]])
    return torch.from_numpy(np.concatenate(payloads)), offsets, np.stack(layouts)


def cpu_path(coeff_list, spec):
    return torch.from_numpy(np.stack([
        freqload.to_channels(c, list(spec.indices), dequantize=spec.dequantize, chroma=spec.chroma,
                             size=(spec.out_h, spec.out_w)) for c in coeff_list]))


@pytest.mark.parametrize("chroma", ["dct", "nearest"])
@pytest.mark.parametrize("dequantize", [True, False])
@pytest.mark.parametrize("mask", ["dctnet24", "dctnet64", "all"])
def test_device_regroup_equals_cpu_on_mixed_batches(chroma, dequantize, mask):
    m = ChannelMask.preset(mask)
    batch = [synthetic((9 + i % 4, 11 + i % 3), SAMPLINGS[name], seed=i, scale=60)
             for i, name in enumerate(list(SAMPLINGS) * 2)]
    for size in [(8, 10), (14, 9), (5, 5)]:
        spec = Recipe(m, size, chroma=chroma, dequantize=dequantize, regroup="device")
        payload, offsets, layouts = batch_of(batch, spec)
        ours = DeviceRegroup(spec)(payload, offsets, layouts)
        ref = cpu_path(batch, spec)
        assert ours.dtype == torch.int16 and ours.shape == ref.shape
        assert torch.equal(ours, ref), (size, (ours != ref).nonzero()[:5])


def test_device_regroup_on_real_jpegs_and_bytes():
    files = [pillow_jpeg(rng_image(h, w, seed=i, gray=(i == 3)), quality=60 + 7 * i,
                         subsampling=[0, 1, 2, 0, 2][i])
             for i, (h, w) in enumerate([(149, 227), (480, 640), (300, 200), (90, 70), (448, 448)])]
    coeffs = [freqload.read_coefficients(f) for f in files]
    spec = Recipe(ChannelMask.dctnet24(), 56, regroup="device")
    payload, offsets, layouts = batch_of(coeffs, spec)
    assert torch.equal(DeviceRegroup(spec)(payload, offsets, layouts), cpu_path(coeffs, spec))
    # what crosses: a 4:2:0 448x448 sample ships luma channels + 64 coefficients per chroma block
    L = parse_layout(layouts[4])
    assert [g["kind"] for g in L["groups"]] == [1, 2, 2]
    assert L["total"] == 16 * 56 * 56 + 2 * 64 * 28 * 28
    L0 = parse_layout(layouts[0])  # 4:4:4: only the masked channels
    assert [g["count"] for g in L0["groups"]] == [16, 4, 4]
    Lg = parse_layout(layouts[3])  # greyscale: nothing for chroma
    assert [g["kind"] for g in Lg["groups"]] == [1, 0, 0]
