"""DCTLoader: engines, parity, shards and epochs, last batches, error policies, stats files.

The DALI engine runs wherever DALI is installed (CI installs it); both engines
are checked against per-file references built from read_coefficients +
to_channels(size=...) (checked against numpy in test_channels) and, for the train and
eval transforms, transforms.resize_crop: the same native resize the engines run, so
these tests check the engines' plumbing (boxes, keys, flips, rounding, channels, order),
not the resize itself, which test_transforms checks against Pillow's pixel resize.
"""
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

import freqload
from freqload import ChannelMask, DCTLoader, FreqloadError, Recipe, Source
from freqload.codec.transform import Transform, eval_box, random_resized_crop, sample_keys
from freqload.loading.sampler import EpochPlan
from freqload.loading.stats import ChannelStats, compute_channel_stats

from conftest import ENGINES, HAVE_DALI, PHOTOS, pillow_jpeg, rng_image

SIZES = [(120, 160), (75, 75), (300, 200), (64, 480), (500, 375), (33, 47)]


def write_folder(root, n_per_class=(7, 6), extra=None):
    """ImageFolder with JPEGs of varied sizes and samplings; returns the path."""
    k = 0
    for c, n in enumerate(n_per_class):
        d = root / f"class{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            h, w = SIZES[k % len(SIZES)]
            (d / f"img{i:02d}.jpg").write_bytes(
                pillow_jpeg(rng_image(h, w, seed=k), quality=70 + k % 25, subsampling=k % 3,
                            progressive=bool(k % 2)))
            k += 1
    for name, data in (extra or {}).items():
        (root / name).write_bytes(data)
    return str(root)


def reference(path, mask="dctnet24", size=(12, 10), transform="blocks", key=0):
    """The sample from the Python-level functions: to_channels for "blocks"; for the
    resizing transforms the box from freqload.codec.transform and resize_crop, rounded."""
    c = freqload.read_coefficients(path)
    if transform == "blocks":
        return freqload.to_channels(c, mask, size=size)
    H, W = c.info.height, c.info.width
    if transform == "train":
        box, flip = random_resized_crop(key, H, W)
    else:
        box, flip = eval_box(H, W, size), False
    x = freqload.resize_crop(c, box, size, mask=mask, flip=flip)
    return np.rint(np.clip(x, -32768, 32767))  # the core rounds to nearest, ties to even


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("imgs"))


def collect(loader):
    xs, ys = [], []
    for x, y in loader:
        xs.append(x)
        ys.append(y)
    return xs, ys


@pytest.mark.parametrize("transform", ["blocks", "eval", "train"])
@pytest.mark.parametrize("engine", ENGINES)
def test_batches_match_per_file_references(folder, engine, transform):
    loader = DCTLoader(folder, recipe=Recipe(transform=transform), batch_size=4, size=(12, 10),
                       engine=engine, num_workers=2, shuffle=True, seed=3, normalize=False)
    assert loader.engine.name == engine
    assert len(loader) == 4  # 13 files, batches of 4
    order = np.concatenate(loader.sampler.batches(0))
    xs, ys = collect(loader)
    assert [len(y) for y in ys] == [4, 4, 4, 1]
    x = torch.cat(xs)
    y = torch.cat(ys)
    assert x.dtype == torch.int16 and x.shape == (13, 24, 12, 10)
    assert y.dtype == torch.int64
    ds = loader.dataset
    assert ds.classes == ("class0", "class1")
    keys = sample_keys(3, 0, order)
    for row, i in enumerate(order):
        np.testing.assert_array_equal(x[row].numpy(), reference(ds.paths[i], transform=transform,
                                                                key=int(keys[row])))
        assert y[row] == ds.labels[i]
    assert loader.stats.decoded == 13 and loader.stats.skipped == 0
    assert loader.bytes_per_sample == 24 * 12 * 10 * 2
    assert loader.epoch == 1


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
@pytest.mark.parametrize("chroma,transform", [("dct", "blocks"), ("nearest", "blocks"),
                                              ("dct", "eval"), ("dct", "train")])
def test_dali_and_native_engines_give_identical_tensors(folder, chroma, transform):
    out = {}
    for engine in ("dali", "native"):
        loader = DCTLoader(folder, recipe=Recipe(transform=transform, chroma=chroma), batch_size=5,
                           mask="dctnet48", size=(9, 14), engine=engine, num_workers=2,
                           shuffle=True, seed=11)
        out[engine] = [collect(loader) for _ in range(2)]  # two epochs
    for (xd, yd), (xt, yt) in zip(out["dali"], out["native"]):
        assert len(xd) == len(xt) == 3
        for a, b in zip(xd, xt):
            assert a.dtype == torch.float32 and torch.equal(a, b)
        for a, b in zip(yd, yt):
            assert torch.equal(a, b)
    # the two epochs are different permutations
    assert not torch.equal(torch.cat(out["native"][0][1]), torch.cat(out["native"][1][1]))
    if transform == "train":  # and, sample by sample, different crops
        def by_label(run):
            x, y = torch.cat(run[0]), torch.cat(run[1])
            return x[torch.argsort(y, stable=True)]
        assert not torch.equal(by_label(out["native"][0]), by_label(out["native"][1]))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("num_shards", [1, 2, 3])
def test_every_sample_exactly_once_per_epoch_across_shards(folder, engine, num_shards):
    files = freqload.data.sources.resolve_source(folder).paths
    source = [(p, i) for i, p in enumerate(files)]  # label = identity
    loaders = [DCTLoader(source, batch_size=2, size=(4, 4), engine=engine, num_workers=1,
                         shuffle=True, seed=5, shard_id=s, num_shards=num_shards)
               for s in range(num_shards)]
    epochs = []
    for epoch in range(2):
        seen = []
        for loader in loaders:
            assert loader.epoch == epoch
            seen += [int(v) for _, y in loader for v in y]
        assert sorted(seen) == list(range(len(files))), f"epoch {epoch}"
        epochs.append(seen)
    assert epochs[0] != epochs[1]


@pytest.mark.parametrize("n,shards,batch,drop_last,expect", [
    (10, 1, 4, False, [[4, 4, 2]]),
    (10, 1, 4, True, [[4, 4]]),
    (8, 1, 4, False, [[4, 4]]),
    (3, 1, 4, False, [[3]]),
    (3, 1, 4, True, [[]]),
    (28, 3, 4, False, [[4, 4, 2], [4, 4, 1], [4, 4, 1]]),
    (28, 3, 4, True, [[4, 4], [4, 4], [4, 4]]),
    (9, 2, 5, True, [[], []]),
])
def test_last_batch_table(n, shards, batch, drop_last, expect):
    """The worked table in freqload.loading.sampler's docstring."""
    for s in range(shards):
        plan = EpochPlan(n, batch, shuffle=True, seed=0, shard_id=s, num_shards=shards,
                         drop_last=drop_last)
        assert [len(b) for b in plan.batches(0)] == expect[s]
        assert len(plan) == len(expect[s])


@pytest.mark.parametrize("engine", ENGINES)
def test_loader_last_batch_and_len(folder, engine):
    for drop_last, sizes in ((False, [5, 5, 3]), (True, [5, 5])):
        loader = DCTLoader(folder, batch_size=5, size=(3, 3), engine=engine, num_workers=1,
                           drop_last=drop_last)
        assert [len(y) for _, y in loader] == sizes
        assert len(loader) == len(sizes)


def _png(img):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def dirty_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("dirty")
    write_folder(root, (3, 3))
    good = pillow_jpeg(rng_image(96, 96, seed=99))
    (root / "class0" / "zz_png_named.jpg").write_bytes(_png(rng_image(40, 48, seed=4)))
    (root / "class1" / "zz_truncated.jpg").write_bytes(good[: len(good) // 2])
    return str(root)


@pytest.mark.parametrize("engine", ENGINES)
def test_on_error_raise_names_the_file(dirty_folder, engine):
    loader = DCTLoader(dirty_folder, batch_size=4, size=(6, 6), engine=engine, num_workers=1)
    with pytest.raises(FreqloadError, match=r"zz_(png_named|truncated)\.jpg: "):
        collect(loader)
    with pytest.raises(freqload.UnsupportedImageError, match="zz_png_named.jpg: not JPEG data"):
        collect(DCTLoader([os.path.join(dirty_folder, "class0", "zz_png_named.jpg")],
                          batch_size=1, size=(6, 6), engine=engine, num_workers=1))


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engine_reports_the_error_nothing_decodes_again(dirty_folder, engine, monkeypatch):
    """The error the loader raises is the engine's own message, exactly what the core says
    for those bytes (reference: read_coefficients on the same file in this process, run
    before the loader); the loader never decodes a file a second time to rebuild it."""
    import freqload.codec.read as coefficients

    truncated = os.path.join(dirty_folder, "class1", "zz_truncated.jpg")
    with pytest.raises(freqload.DecodeError) as want:
        freqload.read_coefficients(truncated)

    def no_decode(*a, **k):
        raise AssertionError("the loader decoded a file again")
    monkeypatch.setattr(coefficients, "read_coefficients", no_decode)
    monkeypatch.setattr(coefficients, "coefficients_from_pixels", no_decode)
    with pytest.raises(freqload.DecodeError) as got:
        collect(DCTLoader([truncated], batch_size=1, size=(6, 6), engine=engine, num_workers=1))
    assert str(got.value).startswith(f"{truncated}: {want.value}; ")
    assert 'on_error="skip"' in str(got.value) and '"fallback"' in str(got.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_on_error_skip_and_fallback(dirty_folder, engine):
    skip = DCTLoader(dirty_folder, batch_size=4, size=(6, 6), engine=engine, num_workers=1,
                     on_error="skip")
    xs, ys = collect(skip)
    assert sum(len(y) for y in ys) == 6
    assert (skip.stats.decoded, skip.stats.skipped, skip.stats.fallback) == (6, 2, 0)

    fb = DCTLoader(dirty_folder, batch_size=4, size=(6, 6), engine=engine, num_workers=1,
                   on_error="fallback", normalize=False)
    xs, ys = collect(fb)
    assert sum(len(y) for y in ys) == 7  # the PNG decoded from pixels, the truncated skipped
    assert (fb.stats.decoded, fb.stats.skipped, fb.stats.fallback) == (6, 1, 1)
    kept = [i for b in fb.sampler.batches(0) for i in b if "truncated" not in fb.dataset.paths[i]]
    png_row = next(k for k, i in enumerate(kept) if "png" in fb.dataset.paths[i])
    png = freqload.read_coefficients(os.path.join(dirty_folder, "class0", "zz_png_named.jpg"),
                                     fallback="pixels")
    np.testing.assert_array_equal(torch.cat(xs)[png_row].numpy(),
                                  freqload.codec.resample.sample(png, Transform("eval"), "dctnet24",
                                                             (6, 6)))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("regroup", ["cpu", "device"])
def test_the_engine_makes_the_fallback_sample_in_its_slot(dirty_folder, engine, regroup,
                                                          tmp_path):
    """on_error="fallback": the engine hands over a finished batch, the PNG's slot made from
    its pixels with the sample's own key (train: a random box and flip), status OK and marked
    from_pixels. Reference: read_coefficients(fallback="pixels") then the recipe's sample,
    in this process. A file Pillow cannot read either keeps its failure, both messages in it."""
    from freqload.loading.host_batch import OK, UNSUPPORTED, layout_view
    from freqload.loading.regroup import DeviceRegroup

    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"neither JPEG nor anything Pillow reads" * 10)
    files = list(freqload.data.sources.resolve_source(dirty_folder).paths) + [str(garbage)]
    # regroup="device" has the "blocks" transform only; "cpu" takes train's random box and flip
    loader = DCTLoader(files,
                       recipe=Recipe(transform="train" if regroup == "cpu" else "blocks",
                                     regroup=regroup),
                       batch_size=9, size=(5, 7), engine=engine, num_workers=1, seed=3,
                       on_error="fallback")
    (hb,) = list(loader.host_batches(0))
    keys = sample_keys(3, 0, hb.index)
    png = next(k for k, i in enumerate(hb.index) if "png" in files[i])
    bad = next(k for k, i in enumerate(hb.index) if "garbage" in files[i])
    assert hb.from_pixels.tolist() == [k == png for k in range(9)]
    assert hb.status[png] == OK and hb.status[bad] == UNSUPPORTED
    assert "not JPEG data" in hb.messages[bad] and "Pillow could not decode" in hb.messages[bad]
    ref = freqload.read_coefficients(files[hb.index[png]], fallback="pixels")
    if regroup == "cpu":
        want = freqload.codec.resample.sample(ref, loader.recipe, key=int(keys[png]))
        np.testing.assert_array_equal(hb.x[png].numpy(), want)
        assert not hb.x[bad].any()
    else:  # the slot's planes regroup to what regroup="cpu" makes of the reference
        total = int(layout_view(hb.layouts)["total"][png])
        planes = hb.x[hb.offsets[png]:hb.offsets[png] + total].clone()
        got = DeviceRegroup(loader.recipe)(planes, np.zeros(1, np.int64), hb.layouts[png:png + 1])
        want = freqload.codec.resample.sample(ref, loader.recipe.replace(regroup="cpu"),
                                          key=int(keys[png]))
        np.testing.assert_array_equal(got[0].numpy(), want)
        assert layout_view(hb.layouts)["total"][bad] == 0
    # the policy keeps the engine's batch as it is when nothing failed
    clean = DCTLoader(files[:3], batch_size=3, size=(5, 7), engine=engine, num_workers=1,
                      on_error="fallback")
    (hb,) = list(clean.host_batches(0))
    assert clean._apply_policy(hb) is hb


@pytest.mark.skipif(not os.path.isdir(os.path.join(PHOTOS, "hymenoptera")),
                    reason="../shared/data is absent (data-dependent test)")
@pytest.mark.parametrize("engine", ENGINES)
def test_hymenoptera_skip_epoch_counts_the_gif(engine):
    root = os.path.join(PHOTOS, "hymenoptera", "train")
    loader = DCTLoader(root, batch_size=32, size=(28, 28), engine=engine, num_workers=2,
                       on_error="skip", shuffle=True)
    n = len(loader.dataset)
    assert any(p.endswith(".gif") for p in loader.dataset.paths)
    got = sum(len(y) for _, y in loader)
    assert got == n - 1
    assert loader.stats.skipped == 1 and loader.stats.decoded == n - 1


def test_stats_file_round_trip_and_normalisation(folder, tmp_path):
    files = freqload.data.sources.resolve_source(folder).paths
    stats = compute_channel_stats(files, max_images=None, progress=False)
    # numpy statement of the same statistics
    grids = np.concatenate([freqload.to_channels(freqload.read_coefficients(p)).reshape(192, -1)
                            for p in files], axis=1).astype(np.float64)
    np.testing.assert_allclose(stats.mean, grids.mean(axis=1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.std, grids.std(axis=1), rtol=1e-6, atol=1e-6)
    path = tmp_path / "stats.json"
    stats.save(path)
    again = ChannelStats.load(path)
    np.testing.assert_array_equal(again.mean, stats.mean)
    np.testing.assert_array_equal(again.std, stats.std)
    assert again.images == len(files)

    raw = DCTLoader(folder, batch_size=13, size=(8, 8), engine="native", num_workers=0)
    norm = DCTLoader(folder, batch_size=13, size=(8, 8), engine="native", num_workers=0,
                     normalize=str(path))
    (x_raw, _), = list(raw)
    (x_norm, _), = list(norm)
    mean, std = stats.select(ChannelMask.dctnet24())
    mean_t, std_t = (torch.from_numpy(v).view(1, -1, 1, 1) for v in (mean, std))
    expect = (x_raw - mean_t) / std_t
    torch.testing.assert_close(x_norm, expect)
    with pytest.raises(ValueError, match="stats file"):
        ChannelStats.from_json('{"mean": []}')


def test_argument_errors(folder):
    for kw, match in [({"engine": "jax"}, "engine"), ({"on_error": "ignore"}, "on_error"),
                      ({"batch_size": 0}, "batch_size"), ({"size": (0, 3)}, "size"),
                      ({"shard_id": 1}, "shard_id"), ({"recipe": dict(chroma="x")}, "chroma"),
                      ({"recipe": dict(regroup="gpu")}, "regroup"),
                      ({"mask": "dctnet7"}, "preset")]:
        args = {"batch_size": 2, **kw}
        with pytest.raises(ValueError, match=match):
            if "recipe" in args:  # the recipe's values are checked where it is made
                args["recipe"] = Recipe(**args["recipe"])
            DCTLoader(folder, **args)
    with pytest.raises(TypeError, match="unexpected keyword argument.*'colour'"):
        DCTLoader(folder, batch_size=2, colour="dct")
    with pytest.raises(FileNotFoundError):
        DCTLoader("no/such/folder", batch_size=2)


def test_auto_is_native_and_torch_is_a_deprecated_name_for_it(folder, monkeypatch, recwarn):
    import freqload.loading.engines.dali_engine as de

    def broken(*a, **k):
        raise freqload.loading.engines.dali_build.OperatorBuildError("no compiler here")

    monkeypatch.setattr(de, "DaliEngine", broken)
    loader = DCTLoader(folder, batch_size=4, engine="auto", num_workers=0)
    assert loader.engine.name == "native" and not recwarn.list  # DALI never consulted
    with pytest.warns(DeprecationWarning, match='engine="torch".*removed.*native'):
        old = DCTLoader(folder, batch_size=4, engine="torch", num_workers=0)
    assert old.engine.name == "native"
    with pytest.raises(FreqloadError, match="no compiler here"):
        DCTLoader(folder, batch_size=4, engine="dali")


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
def test_operator_build_errors_say_what_to_install(monkeypatch, tmp_path):
    from freqload.loading.engines import dali_build

    monkeypatch.setenv("FREQLOAD_CACHE", str(tmp_path))  # force a fresh build
    monkeypatch.setattr(dali_build, "cuda_include_dirs", lambda: [])
    with pytest.raises(dali_build.OperatorBuildError, match="nvidia-cuda-runtime"):
        dali_build.operator_path()
    monkeypatch.setenv("CC", str(tmp_path / "no-cc"))
    monkeypatch.setattr(dali_build, "cuda_include_dirs", lambda: ["/usr/include"])
    with pytest.raises(dali_build.OperatorBuildError, match="failed"):
        dali_build.operator_path()


def test_train_mode_defaults_and_transform_errors(folder):
    loader = DCTLoader(folder, batch_size=4, train=True, engine="native", num_workers=0)
    assert loader.sampler.shuffle and loader.transform.kind == "train"
    assert DCTLoader(folder, batch_size=4, engine="native", num_workers=0).transform.kind == "eval"
    for make, match in [(lambda: Recipe(transform="eval", regroup="device"), "transform='blocks'"),
                        (lambda: Recipe(transform="eval", dequantize=False), "dequantize=False"),
                        (lambda: Recipe(transform="random"), "transform must be"),
                        (lambda: Recipe(transform=Transform("eval", scale=(0.5, 0.1))), "scale"),
                        (lambda: Recipe(transform=Transform("eval", flip=2)), "flip"),
                        (lambda: Recipe(transform=Transform("eval", crop_ratio=0)), "crop_ratio")]:
        with pytest.raises(ValueError, match=match):
            DCTLoader(folder, make(), batch_size=4, engine="native", num_workers=0)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_epoch_left_early_does_not_leak_into_the_next(folder, engine):
    files = freqload.data.sources.resolve_source(folder).paths
    loader = DCTLoader([(p, i) for i, p in enumerate(files)], batch_size=3, size=(4, 4),
                       engine=engine, num_workers=2, shuffle=True, seed=2)
    for x, y in loader:
        break  # leave epoch 0 after one batch
    loader.set_epoch(1)
    seen = [int(v) for _, y in loader for v in y]
    expect = [int(i) for b in loader.sampler.batches(1) for i in b]
    assert seen == expect


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("chroma", ["dct", "nearest"])
def test_regroup_device_gives_the_cpu_tensors(folder, engine, chroma):
    runs = {}
    for regroup in ("cpu", "device"):
        loader = DCTLoader(folder,
                           recipe=Recipe(transform="blocks", chroma=chroma, regroup=regroup),
                           batch_size=5, mask="dctnet32", size=(11, 9), engine=engine,
                           num_workers=2, shuffle=True, seed=4, normalize=False)
        runs[regroup] = (collect(loader), loader.bytes_per_sample)
    (xc, yc), cpu_bytes = runs["cpu"]
    (xd, yd), dev_bytes = runs["device"]
    for a, b in zip(xc, xd):
        assert torch.equal(a, b)
    for a, b in zip(yc, yd):
        assert torch.equal(a, b)
    assert cpu_bytes == 32 * 11 * 9 * 2
    assert dev_bytes > 0  # what crossed: planes at native resolution plus quant tables


@pytest.mark.parametrize("engine", ENGINES)
def test_regroup_device_with_error_policies(dirty_folder, engine):
    out = {}
    for regroup in ("cpu", "device"):
        fb = DCTLoader(dirty_folder, recipe=Recipe(transform="blocks", regroup=regroup),
                       batch_size=4, size=(6, 6), engine=engine, num_workers=1, on_error="fallback",
                       normalize=False)
        out[regroup] = torch.cat(collect(fb)[0])
        assert (fb.stats.decoded, fb.stats.skipped, fb.stats.fallback) == (6, 1, 1)
    assert torch.equal(out["cpu"], out["device"])


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_file_is_an_error_by_policy(folder, engine, tmp_path):
    files = list(freqload.data.sources.resolve_source(folder).paths[:3])
    files.append(str(tmp_path / "gone.jpg"))
    with pytest.raises(FreqloadError, match="gone.jpg: cannot read"):
        collect(DCTLoader(files, batch_size=2, size=(4, 4), engine=engine, num_workers=1))
    skip = DCTLoader(files, batch_size=2, size=(4, 4), engine=engine, num_workers=1,
                     on_error="skip")
    assert sum(len(y) for _, y in skip) == 3
    assert (skip.stats.decoded, skip.stats.skipped) == (3, 1)


@pytest.mark.parametrize("transform,regroup", [("blocks", "cpu"), ("blocks", "device"),
                                               ("eval", "cpu"), ("train", "cpu")])
@pytest.mark.parametrize("engine", ENGINES)
def test_partial_decode_gives_the_same_tensors(folder, engine, transform, regroup):
    # small outputs: the rows below the crop (or the resize's reach) are never decoded
    runs = []
    for partial in (True, False):
        loader = DCTLoader(folder,
                           recipe=Recipe(transform=transform, regroup=regroup,
                                         partial_decode=partial),
                           batch_size=4, size=(3, 4), engine=engine, num_workers=2, shuffle=True,
                           seed=9, normalize=False)
        runs.append([collect(loader) for _ in range(2)])
    for (xa, ya), (xb, yb) in zip(*runs):
        assert torch.equal(torch.cat(xa), torch.cat(xb)) and torch.equal(torch.cat(ya),
                                                                         torch.cat(yb))


def damaged_tails(data):
    """A sequential JPEG (ending with EOI) damaged only near its end: name -> bytes."""
    cut = len(data) - 60
    flipped = bytearray(data)
    flipped[len(data) - 100] ^= 0x55  # a data byte changed: no marker appears
    assert 0xFF not in flipped[len(data) - 101:len(data) - 98]
    dqt = data[data.index(b"\xff\xdb"):][:69]  # the file's own first DQT segment
    return {
        # stray markers in the last rows of scan data: a whole decode warns (strict: error)
        "rst_without_interval.jpg": data[:cut] + b"\xff\xd3" + data[cut:],
        "second_soi.jpg": data[:cut] + b"\xff\xd8" + data[cut:],
        "dqt_in_scan.jpg": data[:cut] + dqt + data[cut:],
        "bogus_length.jpg": data[:cut] + b"\xff\xe1\xff\xff" + data[cut:],
        # no marker: undetectable without decoding those rows
        "flipped_bits.jpg": bytes(flipped),
        "truncated.jpg": data[:len(data) // 2],
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_partial_decode_and_damage_below_the_crop(tmp_path, engine):
    data = pillow_jpeg(rng_image(512, 64, seed=1), quality=85, subsampling=2)  # sequential
    files = {"good.jpg": data, **damaged_tails(data)}
    for name, d in files.items():
        (tmp_path / name).write_bytes(d)
    headers = {n: freqload.read_header(str(tmp_path / n)) for n in files}
    # a partial decode may stop early in the good file and the one whose damage has no
    # marker; the others are read whole: a stray marker in the scan, or no EOI (truncated)
    assert [n for n in files if headers[n].partial_decodable] == ["good.jpg",
                                                                  "flipped_bits.jpg"]
    assert not freqload.read_header(pillow_jpeg(rng_image(64, 64), progressive=True)
                                    ).partial_decodable
    for name in files:  # read whole, every damaged file is rejected
        if name != "good.jpg":
            with pytest.raises(freqload.DecodeError):
                freqload.read_coefficients(str(tmp_path / name))
    names = list(files)
    source = [(str(tmp_path / n), k) for k, n in enumerate(names)]
    good = freqload.to_channels(freqload.read_coefficients(str(tmp_path / "good.jpg")),
                                "dctnet24", size=(8, 8))
    # partial_decode: a stray marker in the unread rest of the scan makes the file decode
    # whole (and be rejected); damage without a marker below the crop goes unseen
    for partial, kept in ((True, ["good.jpg", "flipped_bits.jpg"]), (False, ["good.jpg"])):
        loader = DCTLoader(source, recipe=Recipe(transform="blocks", partial_decode=partial),
                           batch_size=3, size=(8, 8), engine=engine, num_workers=2, normalize=False,
                           on_error="skip")
        xs, ys = collect(loader)
        assert [names[i] for i in torch.cat(ys).tolist()] == kept
        for x in torch.cat(xs):  # the damage lies below the centre crop: same sample
            np.testing.assert_array_equal(x.numpy(), good)
        assert loader.stats.skipped == len(files) - len(kept)


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
def test_dali_batches_handed_over_without_copy_stay_valid(folder):
    # On a CPU device the int16 batch is DALI's output buffer itself (no copy): it must
    # stay intact while held, however many batches DALI produces meanwhile.
    loader = DCTLoader(folder, recipe=Recipe(transform="blocks"), batch_size=2, size=(12, 10),
                       engine="dali", num_workers=2, shuffle=True, seed=5, normalize=False,
                       prefetch=3, device="cpu")
    held = list(loader)
    snapshot = [(x.clone(), y.clone()) for x, y in held]
    assert not held[0][0].is_pinned()
    for _ in range(4):  # more epochs: DALI allocates and frees many buffers meanwhile
        for x, _ in loader:
            x.fill_(-7)  # writing to a handed-over batch touches nobody else's data
    for (x, y), (xs, ys) in zip(held, snapshot):
        assert torch.equal(x, xs) and torch.equal(y, ys)
    order = np.concatenate(loader.sampler.batches(0))
    first = torch.cat([x for x, _ in held])
    for row, i in enumerate(order):
        np.testing.assert_array_equal(first[row].numpy(), reference(loader.dataset.paths[i]))


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
def test_dali_engine_serves_one_iteration_at_a_time(folder):
    loader = DCTLoader(folder, batch_size=3, size=(4, 4), engine="dali", num_workers=1)
    first = iter(loader)
    next(first)
    second = iter(loader)
    assert sum(len(y) for _, y in second) == 13  # the new iteration is whole
    with pytest.raises(RuntimeError, match="one iteration at a time"):
        next(first)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("regroup", ["cpu", "device"])
def test_cuda_batches_equal_cpu_batches(folder, engine, regroup):
    out = {}
    for device in ("cpu", "cuda"):
        loader = DCTLoader(folder, recipe=Recipe(transform="eval", regroup=regroup), batch_size=4,
                           size=(8, 8), engine=engine, num_workers=2, shuffle=True, seed=1,
                           device=device)
        xs, ys = collect(loader)
        assert all(x.device.type == device for x in xs)
        out[device] = (torch.cat(xs).cpu(), torch.cat(ys).cpu())
    assert torch.equal(out["cpu"][0], out["cuda"][0])
    assert torch.equal(out["cpu"][1], out["cuda"][1])


def _flag(loader, status, row=1):
    """Make the engine report `status` for the second sample of every batch, with no
    message (a verdict set outside the core, for a good file): it must still count."""
    real = loader.engine.batches

    def flagged(batches, keys):
        for hb in real(batches, keys):
            st = np.array(hb.status, dtype=np.int32, copy=True)
            if len(st) > row:
                st[row] = status
            yield hb._replace(status=st)
    loader.engine.batches = flagged


@pytest.mark.parametrize("status,cls,name", [
    (1, freqload.DecodeError, "corrupt data"), (2, freqload.UnsupportedImageError, "unsupported"),
    (3, freqload.ImageTooLargeError, "over a resource limit"),
    (4, freqload.DecodeError, "out of memory"),
    (5, freqload.DecodeError, "bad argument")])
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_statuses_python_cannot_reproduce_still_count(folder, engine, status, cls, name):
    loader = DCTLoader(folder, batch_size=4, size=(4, 4), engine=engine, num_workers=1)
    _flag(loader, status)
    with pytest.raises(cls, match=rf"failed with status {status} \({name}"):
        collect(loader)
    skip = DCTLoader(folder, batch_size=4, size=(4, 4), engine=engine, num_workers=1,
                     on_error="skip")
    _flag(skip, status)
    n = sum(len(y) for _, y in skip)
    assert n == 13 - 3 and skip.stats.skipped == 3  # one per batch of 4, not the last of 1


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_statuses_end_to_end(tmp_path, engine):
    # real files giving each status the core can produce: corrupt, unsupported, too large
    good = pillow_jpeg(rng_image(64, 64, seed=2), quality=80)
    png = io.BytesIO()
    Image.fromarray(rng_image(8, 8)).save(png, "PNG")
    big = pillow_jpeg(rng_image(400, 400, seed=3), quality=80)
    files = {"good.jpg": good, "corrupt.jpg": good[:200] + bytes(50) + good[250:],
             "png.jpg": png.getvalue(), "big.jpg": big}
    for n, d in files.items():
        (tmp_path / n).write_bytes(d)
    expect = {"corrupt.jpg": freqload.DecodeError, "png.jpg": freqload.UnsupportedImageError,
              "big.jpg": freqload.ImageTooLargeError}
    for bad, cls in expect.items():
        source = [(str(tmp_path / "good.jpg"), 0), (str(tmp_path / bad), 1)]
        loader = DCTLoader(source, recipe=Recipe(transform="eval", max_pixels=100_000),
                           batch_size=2, size=(4, 4), engine=engine, num_workers=1)
        with pytest.raises(cls, match=bad):
            collect(loader)
        hb = next(iter(loader.host_batches(0)))
        assert hb.status.tolist() == [0, {freqload.DecodeError: 1,
                                          freqload.UnsupportedImageError: 2,
                                          freqload.ImageTooLargeError: 3}[cls]]


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
def test_dali_error_mid_epoch_then_the_loader_and_forked_workers_still_work(folder):
    from freqload.loading.engines import dali_engine

    loader = DCTLoader(folder, recipe=Recipe(transform="blocks"), batch_size=3, size=(4, 4),
                       engine="dali", num_workers=2, normalize=False, seed=3, shuffle=True)
    calls = {"n": 0}
    real = dali_engine._EpochSource.__call__

    def failing(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom: the source failed mid-epoch")
        return real(self)
    dali_engine._EpochSource.__call__ = failing
    try:
        with pytest.raises(Exception, match="boom"):
            collect(loader)
    finally:
        dali_engine._EpochSource.__call__ = real
    loader.set_epoch(0)
    xs, ys = collect(loader)  # a clean pipeline serves the next iteration, whole
    assert sum(len(y) for y in ys) == 13
    # a torch loader with forked workers after an abandoned DALI pipeline: no deadlock
    # (a child must never destroy an inherited DALI pipeline)
    del loader
    torch_loader = DCTLoader(folder, recipe=Recipe(transform="blocks"), batch_size=3, size=(4, 4),
                             engine="native", num_workers=2, normalize=False, seed=3, shuffle=True)
    xt, yt = collect(torch_loader)
    assert torch.equal(torch.cat(xt), torch.cat(xs)) and torch.equal(torch.cat(yt), torch.cat(ys))


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
def _a_child_collects(make_garbage) -> None:
    """Fork with what make_garbage() returns caught in a reference cycle (garbage the
    parent has not collected yet, as when a torch DataLoader forks a worker); the child
    collects everything and must not hang (DALI's executor destructor would wait for
    threads the child does not have)."""
    import gc
    import signal
    import time

    import freqload.loading.engines.dali_engine  # noqa: F401  (its at-fork hook)

    gc.disable()
    try:
        cycle = {"garbage": make_garbage()}
        cycle["self"] = cycle
        del cycle
        pid = os.fork()
        if pid == 0:  # the child: collect everything, then leave at once
            gc.enable()
            gc.collect()
            os._exit(0)
    finally:
        gc.enable()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung finalizing a DALI pipeline it inherited")


def test_a_forked_child_never_destroys_an_inherited_dali_pipeline(folder):
    def abandoned_loader():  # mid-epoch: DALI's threads are busy with queued batches
        loader = DCTLoader(folder, batch_size=3, size=(4, 4), engine="dali", num_workers=2)
        it = iter(loader)
        next(it)
        return loader, it
    _a_child_collects(abandoned_loader)


def test_num_workers_is_the_name_num_threads_a_deprecated_alias(folder):
    loader = DCTLoader(folder, batch_size=4, engine="native", num_workers=0)
    assert loader.num_workers == 0 == loader.num_threads
    with pytest.warns(DeprecationWarning, match="num_workers"):
        old = DCTLoader(folder, batch_size=4, engine="native", num_threads=0)
    assert old.num_workers == 0
    assert torch.equal(collect(old)[0][0], collect(loader)[0][0])
    with pytest.raises(ValueError, match="num_workers only"):
        DCTLoader(folder, batch_size=4, engine="native", num_workers=0, num_threads=0)
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        DCTLoader(folder, batch_size=4, engine="native", num_workers=-1)


def test_dct_and_rgb_loaders_share_their_set_up(folder):
    """One set-up (sampler.EpochLoader._setup_epochs) for both loaders: the same arguments
    give the same shard's batches, device and workers, and the same argument errors."""
    from freqload.loading.rgb_loader import RGBLoader

    kw = dict(batch_size=3, train=True, seed=7, shard_id=1, num_shards=2, drop_last=True,
              num_workers=0, device="cpu")
    dct = DCTLoader(folder, engine="native", size=(4, 4), **kw)
    rgb = RGBLoader(folder, size=32, **kw)
    for epoch in range(3):
        assert [list(b) for b in dct.sampler.batches(epoch)] == \
            [list(b) for b in rgb.sampler.batches(epoch)]
    assert (dct.device, dct.num_workers, dct.train, dct.seed, len(dct)) == \
        (rgb.device, rgb.num_workers, rgb.train, rgb.seed, len(rgb))
    for bad, match in [(dict(batch_size=0), "batch_size"), (dict(num_workers=-2), "num_workers"),
                       (dict(prefetch=0), "prefetch"), (dict(shard_id=1), "both shard_id")]:
        args = dict(kw, **bad)
        if "shard_id" in bad:
            args.pop("num_shards")
        for make in (lambda: DCTLoader(folder, engine="native", **args),
                     lambda: RGBLoader(folder, **args)):
            with pytest.raises(ValueError, match=match):
                make()



def test_sources_and_settings_users_get_wrong(tmp_path):
    """One image as a source; string labels and label_fn; a dataset of decoded images
    refused at its first item; device="cuda" without a GPU refused when made; a pixel
    size warned about; compute_channel_stats on a path."""
    img = tmp_path / "a" / "cat.jpg"
    img.parent.mkdir()
    img.write_bytes(pillow_jpeg(rng_image(32, 40, seed=1)))
    dog = tmp_path / "a" / "dog.jpg"
    dog.write_bytes(pillow_jpeg(rng_image(32, 40, seed=2)))
    one = DCTLoader(str(img), batch_size=1, size=(2, 2), engine="native", num_workers=0)
    (x, y), = list(one)
    assert x.shape[0] == 1 and int(y[0]) == -1
    named = DCTLoader([(str(img), "cat"), (str(dog), "dog"), (str(img), "ant")], batch_size=3,
                      size=(2, 2), engine="native", num_workers=0)
    assert named.classes == ("ant", "cat", "dog")
    assert next(iter(named))[1].tolist() == [1, 2, 0]
    by_fn = DCTLoader(Source([str(img), str(dog)], label_fn=lambda p: os.path.basename(p)[:3]),
                      batch_size=2, size=(2, 2), engine="native", num_workers=0)
    assert by_fn.classes == ("cat", "dog") and next(iter(by_fn))[1].tolist() == [0, 1]

    class Decoded(torch.utils.data.Dataset):  # what torchvision's ImageFolder yields
        def __len__(self):
            return 10**6

        def __getitem__(self, i):
            if i > 0:
                raise AssertionError("iterated past the first item")
            return Image.new("RGB", (4, 4)), 0
    with pytest.raises(TypeError, match="decoded items.*Pass their paths"):
        DCTLoader(Decoded(), batch_size=1, engine="native", num_workers=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
            DCTLoader(str(img), batch_size=1, engine="native", num_workers=0, device="cuda")
    with pytest.warns(UserWarning, match=r"size is in 8x8 blocks.*size=\(28, 28\)"):
        DCTLoader(str(img), batch_size=1, size=(224, 224), engine="native", num_workers=0)
    stats = compute_channel_stats(str(img), progress=False)
    assert stats.images == 1


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
def test_a_forked_child_never_finalizes_a_dali_pipeline_left_as_garbage():
    """Any built and run DALI pipeline (not the loader's: one made by user code, or by
    freqload.tools.bench), garbage at the fork: the child freezes what it inherits."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=2, num_threads=2, device_id=None)
    def tiny():
        return fn.random.uniform(range=[0.0, 1.0], shape=[4], dtype=types.FLOAT)

    def run_pipeline():
        p = tiny()
        p.build()
        p.run()
        return p
    _a_child_collects(run_pipeline)
