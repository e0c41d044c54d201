"""freqload.Recipe: one definition of a sample, checked once, packed by the core.

References: the packed layout documented in fl_recipe.c, rebuilt here with struct (an
independent writer of the same bytes); the loader's samples through both fronts are
compared elsewhere (test_loader, test_dali_operator).
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

import freqload
from freqload import _core
from freqload.codec.augment import ColorJitter, RandomGrayscale, native_augment
from freqload.codec.policy import FixedOp
from freqload.codec.recipe import Recipe, recipe_for
from freqload.codec.transform import Transform


def reference_pack(indices, size, *, dequantize, chroma, output, transform, max_pixels, strict,
                   max_file_size, max_scans, max_memory, partial_decode, orient,
                   augment=(0, 0, 0, 0, 0, 0.0), jitter=(0,) + (0.0,) * 9) -> bytes:
    """The packed form as fl_recipe.c's comment defines it (version 3), written with
    struct."""
    comp = bytes(i // 64 for i in indices)
    coef = bytes(i % 64 for i in indices)
    kind, *values = transform
    return (b"FLR\x03" + struct.pack("<H", len(indices)) + comp + coef +
            struct.pack("<iiBBBB", size[0], size[1], dequantize, chroma, output, kind) +
            struct.pack("<6d", *values) +
            struct.pack("<QBQiQBB", max_pixels, strict, max_file_size, max_scans, max_memory,
                        partial_decode, orient) +
            struct.pack("<Biiiid", *augment) + struct.pack("<B9d", *jitter))


@pytest.mark.parametrize("kw", [
    {},
    dict(mask="dctnet64", size=(7, 9), chroma="nearest", dequantize=False, strict=False,
         max_pixels=None, max_file_size=0, max_scans=None, max_memory=123456789,
         partial_decode=False),
    dict(mask=[0, 1, 64, 128, 191], size=3, transform=Transform("train", (0.3, 0.9),
                                                                (0.5, 2.0), 0.25)),
    dict(mask="all", size=(1, 8192), transform="eval", regroup="cpu"),
    dict(mask="dctnet24", regroup="device"),
    dict(mask="dctnet24", transform="eval", orientation="exif"),
    dict(mask="dctnet24", transform="train", augment="randaugment"),
    dict(mask="dctnet24", transform="eval", augment=FixedOp("Rotate", -12.5)),
    dict(mask="dctnet24", augment=[ColorJitter(0.4, (0.2, 1.3), 0, 0.5), RandomGrayscale(0.2)]),
])
def test_packed_form_is_the_documented_layout_and_round_trips(kw):
    r = Recipe(**kw)
    size = r.size
    expect = reference_pack(
        r.indices, size, dequantize=r.dequantize, chroma=_core.CHROMA_DCT if r.chroma == "dct"
        else _core.CHROMA_NEAREST, output=1 if r.regroup == "device" else 0,
        transform=r.transform.native(), max_pixels=r.max_pixels, strict=r.strict,
        max_file_size=r.max_file_size, max_scans=r.max_scans, max_memory=r.max_memory,
        partial_decode=r.partial_decode, orient=r.orientation == "exif",
        **native_augment(r.augment))
    assert r.packed == expect
    back = _core.unpack_recipe(r.packed)
    assert back["size"] == size
    assert list(back["component"]) == [i // 64 for i in r.indices]
    assert list(back["coef"]) == [i % 64 for i in r.indices]
    assert back["transform"] == r.transform.native()  # doubles travel as their bits
    assert (back["max_pixels"], back["max_file_size"], back["max_scans"], back["max_memory"]) \
        == (r.max_pixels, r.max_file_size, r.max_scans, r.max_memory)
    assert (back["strict"], back["dequantize"], back["partial_decode"], back["orient"]) == \
        (r.strict, r.dequantize, r.partial_decode, r.orientation == "exif")
    assert back["augment"] == native_augment(r.augment).get("augment", (0, 0, 0, 0, 0, 0.0))
    assert back["jitter"] == native_augment(r.augment).get("jitter", (0,) + (0.0,) * 9)
    assert r.dali_arg == list(r.packed)


def test_defaults_come_from_the_core():
    r = Recipe()
    assert (r.max_pixels, r.max_file_size, r.max_scans, r.max_memory) == (
        100_000_000, 256 << 20, 1000, 2 << 30)
    assert freqload.DEFAULT_MAX_PIXELS == _core.DEFAULT_MAX_PIXELS == r.max_pixels
    assert r.mask == freqload.ChannelMask.dctnet24() and r.size == (56, 56)
    assert r.transform == Transform("blocks") and r.regroup == "cpu"
    assert r.out_elements == 24 * 56 * 56
    planes = Recipe(regroup="device")
    assert planes.out_elements == _core.recipe_out_elements(
        planes.packed) > 24 * 56 * 56  # the capacity bound holds all 64 chroma coefficients


@pytest.mark.parametrize("make,match", [
    (lambda: Recipe(size=0), "size"),
    (lambda: Recipe(size=(4, 8193)), "size"),
    (lambda: Recipe(mask=[3, 3]), "repeat"),
    (lambda: Recipe(mask=[192]), "192"),
    (lambda: Recipe(chroma="bilinear"), "chroma"),
    (lambda: Recipe(regroup="gpu"), "regroup"),
    (lambda: Recipe(transform="random"), "transform"),
    (lambda: Transform("train", (0.5, 0.1)), "scale"),
    (lambda: Transform("train", ratio=(0.0, 1.0)), "ratio"),
    (lambda: Transform("train", flip=1.5), "flip"),
    (lambda: Transform("eval", crop_ratio=float("nan")), "crop_ratio"),
    (lambda: Transform("train", scale="big"), "pairs"),
    (lambda: Recipe(transform="eval", regroup="device"),
     "regroup='device' supports transform='blocks'"),
    (lambda: Recipe(transform="train", dequantize=False), "dequantize=False needs"),
    (lambda: Recipe(max_scans=-1), ">= 0"),
    (lambda: Recipe(max_pixels=-5), "max_pixels"),
])
def test_checks_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_the_core_refuses_bad_packed_bytes():
    """Whatever made the bytes (a DALI user, a stale pickle): the core's check, its message."""
    r = Recipe("dctnet24", 4)
    n = r.channels
    out_h = 6 + 2 * n

    def tampered(at, value):
        b = bytearray(r.packed)
        b[at] = value
        return bytes(b)

    for data, match in [(b"", "not a packed recipe"), (tampered(3, 1), "version 1"),
                        (r.packed + b"\0", "wrong length"), (tampered(6, 5), "out of range"),
                        (tampered(7 + n, 0), "twice"), (tampered(out_h, 0), "size"),
                        (tampered(out_h + 10, 7), "regroup"),
                        (tampered(out_h + 11, 9), "transform")]:
        with pytest.raises(ValueError, match=match):
            _core.unpack_recipe(data)
        x = np.zeros((n, 4, 4), np.int16)
        with pytest.raises(ValueError, match=match):
            _core.Decoder().decode(b"\xff\xd8", data, 0, x)


def test_decode_checks_its_buffers():
    r = Recipe("dctnet24", 4)
    data = open(__file__.replace("test_recipe.py", "conftest.py"), "rb").read()  # any bytes
    with pytest.raises(ValueError, match="out must be"):
        _core.Decoder().decode(data, r.packed, 0, np.zeros((24, 4, 5), np.int16))
    with pytest.raises(ValueError, match="needs layout"):
        p = r.replace(regroup="device")
        _core.Decoder().decode(data, p.packed, 0, np.zeros(p.out_elements, np.int16))


def test_repr_replace_and_the_cache():
    r = Recipe("dctnet24", (28, 28), transform="train")
    text = repr(r)
    for part in ("dctnet24", "24 channels", "(28, 28)", "train(scale=(0.08, 1.0)", "chroma='dct'",
                 "partial_decode=True"):
        assert part in text, (part, text)
    assert r.replace(size=(14, 14)).size == (14, 14) and r.replace().packed == r.packed
    assert recipe_for("dctnet24", 5) is recipe_for(freqload.ChannelMask.dctnet24(), (5, 5))


def test_loader_builds_one_recipe_from_its_arguments(tmp_path):
    from conftest import pillow_jpeg, rng_image

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(pillow_jpeg(rng_image(32, 48)))
    loader = freqload.DCTLoader(str(tmp_path),
                                recipe=Recipe(transform=Transform("train", scale=(0.2, 0.9)),
                                              max_scans=7),
                                batch_size=1, size=(5, 6), train=True, engine="native",
                                num_workers=0, device="cpu")
    assert loader.recipe == Recipe("dctnet24", (5, 6), transform=Transform("train", (0.2, 0.9)),
                                   max_scans=7, orientation="exif")
    with pytest.raises(ValueError, match="regroup"):
        freqload.DCTLoader(str(tmp_path), recipe=Recipe(transform="train", regroup="device"),
                           batch_size=1, train=True, engine="native", num_workers=0, device="cpu")


def test_mutated_packed_recipes_never_crash_the_core():
    """2,000 seeded mutations of packed recipes: the core's unpack either refuses them with
    a ValueError or returns a recipe that packs back to the same bytes and passes the
    checks (so a hand-made recipe can never reach the decoder unchecked)."""
    rng = np.random.default_rng(16)
    seeds = [Recipe().packed, Recipe("all", (3, 5), transform="train").packed,
             Recipe([0, 65, 130], 7, regroup="device").packed]
    accepted = 0
    for k in range(2000):
        b = bytearray(seeds[k % len(seeds)])
        for _ in range(int(rng.integers(1, 4))):
            op = rng.integers(3)
            if op == 0 and b:
                b[int(rng.integers(len(b)))] = int(rng.integers(256))
            elif op == 1 and b:
                del b[int(rng.integers(len(b))):][:int(rng.integers(1, 8))]
            else:
                b[int(rng.integers(len(b) + 1)):0] = bytes(rng.integers(0, 256, 3).tolist())
        try:
            fields = _core.unpack_recipe(bytes(b))
        except ValueError:
            continue
        accepted += 1
        assert _core.pack_recipe(**fields) == bytes(b)  # one form per recipe
    assert accepted > 0  # some mutations (a changed limit, a flag) are valid recipes
