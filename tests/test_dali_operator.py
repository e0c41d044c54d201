"""fn.freqload.jpeg_to_dct used directly in a DALI pipeline, as the README shows.

References: freqload.to_channels on read_coefficients (checked against numpy and
libjpeg elsewhere) for values; the core's status codes for bad files.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import freqload
from freqload.codec.recipe import Recipe

from conftest import needs_dali, pillow_jpeg, rng_image

pytestmark = needs_dali


def run_op(datas, recipe, *, keys=None, **kw):
    """One batch through fn.freqload.jpeg_to_dct: (x, status, layout) as numpy lists."""
    from nvidia.dali import fn, pipeline_def

    from freqload.loading.engines.dali_build import load_operator

    load_operator()
    arrays = [np.frombuffer(d, dtype=np.uint8) for d in datas]

    @pipeline_def(batch_size=len(datas), num_threads=2, device_id=None)
    def pipe():
        enc = fn.external_source(source=lambda: arrays, batch=True)
        args = [enc]
        if keys is not None:
            args.append(fn.external_source(
                source=lambda: [np.array([k], dtype=np.int64) for k in keys], batch=True))
        arg = recipe.dali_arg if isinstance(recipe, Recipe) else list(recipe)
        return tuple(fn.freqload.jpeg_to_dct(*args, recipe=arg, **kw))

    p = pipe()
    p.build()
    x, status, layout, message = p.run()
    run_op.messages = [bytes(np.array(message[i])).split(b"\0", 1)[0].decode()
                       for i in range(len(datas))]
    return ([np.array(x[i]) for i in range(len(datas))],
            [int(np.array(status[i])) for i in range(len(datas))],
            [np.array(layout[i]) for i in range(len(datas))])


@pytest.fixture(scope="module")
def files():
    good = [pillow_jpeg(rng_image(h, w, seed=k), quality=80, subsampling=k % 3)
            for k, (h, w) in enumerate([(64, 80), (120, 96), (33, 47)])]
    png = io.BytesIO()
    Image.fromarray(rng_image(16, 16)).save(png, "PNG")
    return {"good": good, "corrupt": good[0][:len(good[0]) // 2],  # truncated: read whole
            "png": png.getvalue(), "big": pillow_jpeg(rng_image(300, 300), quality=80)}


def test_bytes_input_matches_to_channels(files):
    xs, status, layout = run_op(files["good"], Recipe("dctnet24", (5, 6)))  # input="bytes"
    assert status == [0, 0, 0] and all(v.size == 0 for v in layout)
    for d, x in zip(files["good"], xs):
        assert x.dtype == np.int16 and x.shape == (24, 5, 6)
        np.testing.assert_array_equal(x, freqload.to_channels(
            freqload.read_coefficients(d), "dctnet24", size=(5, 6)))


def test_train_transform_takes_one_key_per_sample(files):
    from freqload.codec.resample import sample
    from freqload.codec.transform import Transform

    keys = [11, 12, 13]
    train = Recipe("dctnet24", 4, transform="train")
    xs, status, _ = run_op(files["good"], train, keys=keys)
    for d, k, x in zip(files["good"], keys, xs):
        ref = sample(freqload.read_coefficients(d), Transform("train"), "dctnet24", (4, 4), key=k)
        np.testing.assert_array_equal(x, ref)
    with pytest.raises(RuntimeError, match="needs the keys input"):
        run_op(files["good"], train)


def test_default_on_error_raises_naming_the_sample_and_libjpeg(files):
    batch = [files["good"][0], files["corrupt"]]
    with pytest.raises(RuntimeError, match=r"freqload: sample 1: corrupt JPEG data"):
        run_op(batch, Recipe("dctnet24", 4))
    with pytest.raises(RuntimeError, match=r"sample 0: no 8-bit YCbCr/grey|sample 0: not JPEG"):
        run_op([files["png"]], Recipe("dctnet24", 4))


def test_flag_gives_each_sample_its_status(files):
    batch = [files["good"][0], files["corrupt"], files["png"], files["big"], b""]
    xs, status, _ = run_op(batch, Recipe("dctnet24", 4, max_pixels=50_000), on_error="flag")
    assert status == [0, 1, 2, 3, 2]  # ok, corrupt, unsupported, too large, empty
    for x, st in zip(xs, status):
        if st:
            assert not x.any()  # flagged samples are zeros
    assert xs[0].any()
    # each sample's message is the core's, as the Python front raises it for the same bytes
    assert run_op.messages[0] == ""
    for d, got in zip(batch[1:], run_op.messages[1:]):
        with pytest.raises(freqload.FreqloadError) as e:
            freqload.read_coefficients(d, max_pixels=50_000)
        assert got and got == str(e.value), (got, str(e.value))


def test_paths_input_reads_with_the_cores_reader(files, tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(files["good"][0])
    big = tmp_path / "big.jpg"
    big.write_bytes(files["big"])
    paths = [str(good), str(tmp_path / "gone.jpg"), str(big)]
    arrays = [np.frombuffer(p.encode() + b"\0", dtype=np.uint8) for p in paths]
    recipe = Recipe("dctnet24", 4, max_file_size=len(files["big"]) - 1)
    xs, status, _ = run_op([a.tobytes() for a in arrays], recipe, on_error="flag",
                           input="paths")
    assert status == [0, 6, 3]  # ok, unreadable, over max_file_size (not read)
    np.testing.assert_array_equal(xs[0], freqload.to_channels(
        freqload.read_coefficients(files["good"][0]), "dctnet24", size=(4, 4)))
    assert run_op.messages[1] == "cannot read: No such file or directory"
    assert run_op.messages[2] == (f"file of {len(files['big'])} bytes is over the limit of "
                                  f"{len(files['big']) - 1} bytes (max_file_size)")
    with pytest.raises(RuntimeError, match=r"gone\.jpg: cannot read: No such file"):
        run_op([a.tobytes() for a in arrays], recipe, input="paths")


def _tampered(recipe: Recipe, at: int, value: int) -> list:
    """The recipe's packed bytes with byte `at` (from the end when negative) set to value."""
    b = bytearray(recipe.packed)
    b[at] = value
    return list(b)


R = Recipe("dctnet24", 4)
N = R.channels
OUT_H = 6 + 2 * N  # offset of out_h in the packed form (fl_recipe.c)


@pytest.mark.parametrize("recipe,kw,match", [
    # a packed recipe the core refuses, whatever made it: its own message
    (_tampered(R, 0, ord("X")), {}, "not a packed recipe"),
    (_tampered(R, 3, 9), {}, "version 9"),
    (list(R.packed[:-1]), {}, "wrong length"),
    (_tampered(R, 6, 3), {}, "out of range"),  # channel 0's component
    (_tampered(R, 6 + N, 64), {}, "out of range"),  # channel 0's coefficient
    (_tampered(R, 7 + N, 0), {}, "twice"),  # channel 1 = channel 0 (both Y(0,0))
    (_tampered(R, OUT_H, 0), {}, "size"),
    (_tampered(R, OUT_H + 9, 7), {}, "chroma"),
    (_tampered(Recipe("dctnet24", 4, transform="eval"), OUT_H + 10, 1), {}, "blocks"),
    ([300] + list(R.packed[1:]), {}, "0..255"),
    # the operator's own arguments
    (R, dict(on_error="ignore"), "on_error"),
    (R, dict(input="file"), "input"),
])
def test_argument_checks(files, recipe, kw, match):
    with pytest.raises(RuntimeError, match=match):
        run_op(files["good"][:1], recipe, **kw)
