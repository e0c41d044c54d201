"""RGBLoader(engine="dali"): DALI's decoder and resize on DCTLoader's boxes.

The reference is RGBLoader's torch engine (Pillow): the same pictures, boxes and flips
must come out, up to two decoders' and resamplers' rounding (PSNR over 40 dB; the
observed range on ImageNet photos is about 49-59). A sample drawn with another box
falls far below that (checked here too, so the comparison can fail)."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from freqload.loading.rgb_loader import STD, RGBLoader
from freqload.tools.synthetic import encode_jpeg, natural_image

from conftest import needs_dali, tool

SIZES = [(75, 50, "4:2:0"), (120, 90, "4:4:4"), (53, 97, "4:2:2"), (64, 64, "4:2:0"),
         (200, 131, "4:4:4"), (90, 160, "4:2:0")]


def psnr_per_sample(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """PSNR (dB) of two normalised float batches, in 0..255 pixel units."""
    d = (a - b) * torch.tensor(STD).view(1, 3, 1, 1) * 255
    mse = (d.double() ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return (10 * torch.log10(255.0 ** 2 / mse)).numpy()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("rgbdali")
    rng = np.random.default_rng(4)
    paths = []
    for k, (w, h, sub) in enumerate(SIZES):
        p = root / f"p{k}.jpg"
        p.write_bytes(encode_jpeg(natural_image(w, h, rng), quality=92, subsampling=sub))
        paths.append((str(p), k % 3))
    return paths


def batches(source, engine, **kw):
    args = dict(batch_size=3, size=32, num_workers=2, device="cpu", seed=11)
    return list(RGBLoader(source, engine=engine, **{**args, **kw}))


@needs_dali
@pytest.mark.parametrize("train", [False, True])
def test_the_same_boxes_and_flips_as_the_torch_engine(pictures, train):
    for epoch in range(2):
        want = RGBLoader(pictures, batch_size=3, size=32, num_workers=0, device="cpu",
                         seed=11, train=train)
        got = RGBLoader(pictures, batch_size=3, size=32, num_workers=2, device="cpu",
                        seed=11, train=train, engine="dali")
        want.set_epoch(epoch)
        got.set_epoch(epoch)
        for (xa, ya), (xb, yb) in zip(want, got, strict=True):
            assert torch.equal(ya, yb) and xb.dtype == torch.float32
            assert (psnr_per_sample(xa, xb) > 40).all(), psnr_per_sample(xa, xb)
    if train:  # another seed draws other boxes: far apart (the check above can fail)
        other = batches(pictures, "dali", train=True, seed=12)
        same = batches(pictures, "torch", train=True, seed=11)
        gaps = np.concatenate([psnr_per_sample(a, b) for (a, _), (b, _) in zip(same, other)])
        assert (gaps < 30).sum() >= len(gaps) - 1, gaps


@needs_dali
def test_uint8_crosses(pictures):
    ld = RGBLoader(pictures, batch_size=3, size=32, num_workers=1, device="cpu",
                   engine="dali")
    assert ld.engine_name == "dali"
    n = sum(len(x) for x, _ in ld)
    assert n == len(pictures)
    assert ld.stats.bytes_to_device == 3 * 32 * 32 * n  # uint8, normalised after
    assert ld.bytes_per_sample == 3 * 32 * 32


@needs_dali
def test_pictures_are_turned_upright(tmp_path):
    """A picture stored turned (jpegtran) and tagged gives the upright picture's samples
    (eval and train boxes drawn in the upright picture)."""
    from test_orientation import INVERSE, JPEGTRAN_ORIENT, with_exif
    from test_transforms import jpegtran

    if tool("jpegtran") is None:
        pytest.skip("jpegtran is not installed (the CI installs it)")
    rng = np.random.default_rng(2)
    upright = encode_jpeg(natural_image(96, 64, rng), quality=95)  # 4:4:4, MCU-aligned
    (tmp_path / "up.jpg").write_bytes(upright)
    for o in (3, 6, 8, 5):
        stored = jpegtran(upright, "-copy", "none", *JPEGTRAN_ORIENT[INVERSE[o]], "-trim")
        (tmp_path / f"o{o}.jpg").write_bytes(with_exif(stored, o))
        for train in (False, True):
            want = batches([str(tmp_path / "up.jpg")], "dali", train=train, batch_size=1)
            got = batches([str(tmp_path / f"o{o}.jpg")], "dali", train=train, batch_size=1)
            assert psnr_per_sample(want[0][0], got[0][0])[0] > 40, (o, train)
    turned = batches([str(tmp_path / "o6.jpg")], "dali", orientation="ignore", batch_size=1)
    assert turned[0][0].shape == (1, 3, 32, 32)
    assert psnr_per_sample(want[0][0], turned[0][0])[0] < 30


@needs_dali
def test_a_gif_among_the_jpegs_is_read_as_pillow_reads_it(pictures, tmp_path):
    """DALI's decoders do not read GIF; the engine hands Pillow's pixels to DALI as PNG."""
    rng = np.random.default_rng(8)
    buf = io.BytesIO()
    Image.fromarray(natural_image(70, 50, rng)).convert("P").save(buf, format="GIF")
    gif = tmp_path / "not_a_jpeg.jpg"
    gif.write_bytes(buf.getvalue())
    source = pictures[:2] + [(str(gif), 1)]
    for train in (False, True):
        (xa, _), = batches(source, "torch", train=train, num_workers=0)
        (xb, _), = batches(source, "dali", train=train)
        assert (psnr_per_sample(xa, xb) > 40).all(), psnr_per_sample(xa, xb)


def test_engine_choice():
    with pytest.raises(ValueError, match="engine must be 'torch', 'dali' or 'auto'"):
        RGBLoader([], batch_size=1, engine="pillow")


def test_auto_without_dali_says_why_and_uses_torch(pictures, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # import nvidia.dali fails
    with pytest.warns(UserWarning, match=r"engine='auto'\): using the torch engine .*pip "
                                         r"install 'freqload\[dali\]'"):
        ld = RGBLoader(pictures, batch_size=3, size=32, engine="auto", device="cpu")
    assert ld.engine_name == "torch" and ld.bytes_per_sample == 3 * 32 * 32 * 4
    with pytest.raises(ImportError, match="needs nvidia-dali"):
        RGBLoader(pictures, batch_size=3, size=32, engine="dali", device="cpu")
