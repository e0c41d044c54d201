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

from conftest import needs_dali, pillow_jpeg, rng_image

pytestmark = needs_dali

MASK = list(freqload.ChannelMask.dctnet24().indices)


def run_op(datas, *, keys=None, **kw):
    """One batch through fn.freqload.jpeg_to_dct: (x, status, layout) as numpy lists."""
    from nvidia.dali import fn, pipeline_def

    from freqload.engines.dali_build import load_operator

    load_operator()
    arrays = [np.frombuffer(d, dtype=np.uint8) for d in datas]

    @pipeline_def(batch_size=len(datas), num_threads=2, device_id=None)
    def pipe():
        enc = fn.external_source(source=lambda: arrays, batch=True)
        args = [enc]
        if keys is not None:
            args.append(fn.external_source(
                source=lambda: [np.array([k], dtype=np.int64) for k in keys], batch=True))
        return tuple(fn.freqload.jpeg_to_dct(*args, **kw))

    p = pipe()
    p.build()
    x, status, layout = p.run()
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
    xs, status, layout = run_op(files["good"], mask=MASK, size=[5, 6])  # input="bytes"
    assert status == [0, 0, 0] and all(v.size == 0 for v in layout)
    for d, x in zip(files["good"], xs):
        assert x.dtype == np.int16 and x.shape == (24, 5, 6)
        np.testing.assert_array_equal(x, freqload.to_channels(
            freqload.read_coefficients(d), "dctnet24", size=(5, 6)))


def test_train_transform_takes_one_key_per_sample(files):
    from freqload.transforms import Transform, sample

    keys = [11, 12, 13]
    xs, status, _ = run_op(files["good"], keys=keys, mask=MASK, size=[4, 4], transform="train")
    for d, k, x in zip(files["good"], keys, xs):
        ref = sample(freqload.read_coefficients(d), Transform("train"), "dctnet24", (4, 4), key=k)
        np.testing.assert_array_equal(x, ref)
    with pytest.raises(RuntimeError, match="needs the keys input"):
        run_op(files["good"], mask=MASK, size=[4, 4], transform="train")


def test_default_on_error_raises_naming_the_sample_and_libjpeg(files):
    batch = [files["good"][0], files["corrupt"]]
    with pytest.raises(RuntimeError, match=r"freqload: sample 1: corrupt JPEG data"):
        run_op(batch, mask=MASK, size=[4, 4])
    with pytest.raises(RuntimeError, match=r"sample 0: no 8-bit YCbCr/grey|sample 0: not JPEG"):
        run_op([files["png"]], mask=MASK, size=[4, 4])


def test_flag_gives_each_sample_its_status(files):
    batch = [files["good"][0], files["corrupt"], files["png"], files["big"], b""]
    xs, status, _ = run_op(batch, mask=MASK, size=[4, 4], on_error="flag",
                           max_pixels=50_000)
    assert status == [0, 1, 2, 3, 2]  # ok, corrupt, unsupported, too large, empty
    for x, st in zip(xs, status):
        if st:
            assert not x.any()  # flagged samples are zeros
    assert xs[0].any()


@pytest.mark.parametrize("kw,match", [
    (dict(mask=[0, 192]), r"mask indices must be in \[0, 192\)"),
    (dict(mask=[]), "selects no channel"),
    (dict(chroma="bilinear"), "chroma"),
    (dict(size=[0, 4]), "size"),
    (dict(on_error="ignore"), "on_error"),
    (dict(regroup="gpu"), "regroup"),
    (dict(input="file"), "input"),
    (dict(transform="random"), "transform"),
    (dict(transform="train", scale=[0.5, 0.1]), "scale"),
    (dict(transform="train", ratio=[0.0, 1.0]), "ratio"),
    (dict(transform="eval", crop_ratio=1.5), "crop_ratio"),
    (dict(transform="eval", regroup="device"), "blocks"),
    (dict(transform="eval", dequantize=False), "dequantize"),
    (dict(max_scans=-1), ">= 0"),
    (dict(max_pixels=-5), "max_pixels"),
])
def test_argument_checks(files, kw, match):
    args = dict(mask=MASK, size=[4, 4])
    args.update(kw)
    with pytest.raises(RuntimeError, match=match):
        run_op(files["good"][:1], keys=[1] if args.get("transform") == "train" else None,
               **args)
