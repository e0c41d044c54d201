"""Tar shard sources (freqload.data.shards, sampler.ShardPlan) in both engines.

References: Python's own tarfile reads each member's bytes (not freqload's index), and
each sample is checked against freqload.codec.resample.sample of those bytes with the
sample's key; folders of the same images give the same tensors; the epoch plans are
checked for exactly-once coverage across ranks."""
from __future__ import annotations

import io
import json
import os
import tarfile

import numpy as np
import pytest
import torch

import freqload
from freqload import DCTLoader, Recipe, Source
from freqload.codec.transform import sample_keys
from freqload.data.shards import expand_braces, index_shard, shard_paths, split_key
from freqload.loading.sampler import ShardPlan, buffer_shuffle

from conftest import ENGINES, HAVE_DALI, assert_same_batches, pillow_jpeg, rng_image

ENGINE_NAMES = ["dali", "native"] if HAVE_DALI else ["native"]


def _add(tar, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _jpeg(k: int) -> bytes:
    return pillow_jpeg(rng_image(40 + 8 * (k % 3), 56 + 8 * (k % 2), seed=k), quality=85,
                       subsampling=k % 3)


def make_shards(root, counts=(5, 4, 3), label=lambda k: k % 5, json_labels=False):
    """Shard files s-000.tar ... holding samples k0000, k0001, ... (image + label)."""
    os.makedirs(root, exist_ok=True)
    k = 0
    paths = []
    for s, n in enumerate(counts):
        p = os.path.join(root, f"s-{s:03d}.tar")
        with tarfile.open(p, "w") as t:
            for _ in range(n):
                _add(t, f"k{k:04d}.jpg", _jpeg(k))
                if json_labels:
                    _add(t, f"k{k:04d}.json", json.dumps({"label": label(k), "x": 1}).encode())
                else:
                    _add(t, f"k{k:04d}.cls", str(label(k)).encode())
                k += 1
        paths.append(p)
    return paths


def same_as_files(files, shards, engine, **kw):
    """DCTLoader on the files and on the shards holding them (in the same order) gives the
    same batches; returns the shards' loader."""
    kw = dict(dict(size=(4, 4), num_workers=1, normalize=False), **kw)
    b = DCTLoader(shards, engine=engine, **kw)
    assert_same_batches(DCTLoader(files, engine=engine, **kw), b)
    return b


def member_bytes(shard: str, name: str) -> bytes:
    with tarfile.open(shard) as t:
        return t.extractfile(name).read()


def test_source_forms(tmp_path):
    assert expand_braces("a-{008..011}.tar") == ["a-008.tar", "a-009.tar", "a-010.tar",
                                                 "a-011.tar"]
    assert expand_braces("{x,y}-{1..2}.tar") == ["x-1.tar", "x-2.tar", "y-1.tar", "y-2.tar"]
    with pytest.raises(ValueError, match="backwards"):
        expand_braces("{3..1}.tar")
    assert split_key("dir/a.b.seg.png") == ("dir/a", "b.seg.png")
    paths = make_shards(str(tmp_path))
    assert shard_paths(str(tmp_path / "s-{000..002}.tar")) == paths
    assert shard_paths(str(tmp_path / "s-*.tar")) == paths
    assert shard_paths(paths[::-1]) == paths[::-1]
    with pytest.raises(FileNotFoundError, match=r"7 of 10 shard files do not exist: .*s-003"
                                                r"\.tar, .*\(4 more\)"):
        shard_paths(str(tmp_path / "s-{000..009}.tar"))
    with pytest.raises(FileNotFoundError, match="no shard files match"):
        shard_paths(str(tmp_path / "t-*.tar"))


def test_index_matches_tarfile(tmp_path):
    (path,) = make_shards(str(tmp_path), counts=(4,), json_labels=True)
    idx = index_shard(path, label_key="label")
    assert idx.keys == [f"k{k:04d}" for k in range(4)] and idx.labels == [0, 1, 2, 3]
    assert not idx.problems and not idx.damage
    raw = open(path, "rb").read()
    for k in range(4):
        assert raw[idx.offsets[k]:idx.offsets[k] + idx.sizes[k]] == member_bytes(
            path, f"k{k:04d}.jpg") == _jpeg(k)
        # the core's reader takes the same range
        assert freqload.codec.read.read_file(path, 0, idx.offsets[k], idx.sizes[k]) == _jpeg(k)
    with pytest.raises(OSError, match="past the end of the file"):
        freqload.codec.read.read_file(path, 0, len(raw) - 10, 100)
    with pytest.raises(ValueError, match="not an uncompressed tar"):
        index_shard(str(tmp_path / "gz.tar") if (tmp_path / "gz.tar").write_bytes(
            b"\x1f\x8b" + b"\0" * 2000) else "")


@pytest.mark.parametrize("engine", ENGINES)
def test_samples_are_the_members_decoded(tmp_path, engine):
    """Every yielded sample is the recipe's sample of its member's bytes (read by Python's
    tarfile) with its key; labels from .cls; both engines the same."""
    paths = make_shards(str(tmp_path))
    loader = DCTLoader(Source(str(tmp_path / "s-{000..002}.tar"), shuffle_buffer=3), batch_size=4,
                       size=(5, 6), engine=engine, num_workers=1, train=True, seed=7,
                       normalize=False)
    order = loader.sampler.order(0)
    assert sorted(order.tolist()) == list(range(12))
    xs, ys = zip(*[(x.clone(), y.clone()) for x, y in loader])
    x, y = torch.cat(xs), torch.cat(ys)
    keys = sample_keys(7, 0, order)
    counts = np.cumsum([0, 5, 4, 3])
    for row, i in enumerate(order.tolist()):
        s = int(np.searchsorted(counts, i, side="right") - 1)
        c = freqload.read_coefficients(member_bytes(paths[s], f"k{i:04d}.jpg"))
        want = freqload.codec.resample.sample(c, loader.recipe, key=int(keys[row]))
        np.testing.assert_array_equal(x[row].numpy(), want)
        assert int(y[row]) == i % 5


def test_engines_agree_and_folders_match(tmp_path):
    """The same images as a folder and as shards (shuffle off: the same order) give the
    same batches; both engines the same tensors with shuffling on."""
    paths = make_shards(str(tmp_path / "shards"), counts=(6, 2, 4))
    files = []
    for k in range(12):
        p = tmp_path / "files" / f"k{k:04d}.jpg"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(_jpeg(k))
        files.append((str(p), k % 5))
    for engine in ENGINE_NAMES:
        same_as_files(files, paths, engine, batch_size=5, recipe=Recipe(transform="eval"))
    runs = [[(x.clone(), y.clone()) for x, y in DCTLoader(
        paths, batch_size=5, size=(4, 4), engine=e, num_workers=1, train=True, seed=3,
        normalize=False)] for e in ENGINE_NAMES]
    for got in runs[1:]:
        assert_same_batches(runs[0], got)


@pytest.mark.parametrize("counts", [(5, 4, 3), (9, 2, 1), (1,) * 7, (30,), (0, 6, 0, 5)])
@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_plan_exactly_once_across_ranks(counts, ranks):
    n = sum(counts)
    for drop_last in (False, True):
        seen = []
        lens = []
        for r in range(ranks):
            plan = ShardPlan(counts, 2, shuffle=True, seed=5, shard_id=r, num_shards=ranks,
                             drop_last=drop_last, shuffle_buffer=4)
            o = plan.order(3)
            assert len(plan) == len(plan.batches(3))
            assert [len(b) for b in plan.batches(3)][:-1] == [2] * (len(plan) - 1)
            seen.extend(o.tolist())
            lens.append(len(o))
        if drop_last:
            assert len(set(seen)) == len(seen) and lens == [(n // ranks) // 2 * 2] * ranks
        else:
            assert sorted(seen) == list(range(n))
            assert max(lens) - min(lens) <= 1


def test_plan_order_rules():
    counts = (5, 4, 3)
    plain = ShardPlan(counts, 4, shuffle=False, seed=0, shard_id=0, num_shards=1,
                      drop_last=False, shuffle_buffer=100)
    assert plain.order(0).tolist() == list(range(12)) == plain.order(1).tolist()
    def mk(seed):
        return ShardPlan(counts, 4, shuffle=True, seed=seed, shard_id=0, num_shards=1,
                         drop_last=False, shuffle_buffer=3)
    assert mk(1).order(0).tolist() == mk(1).order(0).tolist()  # deterministic
    assert mk(1).order(0).tolist() != mk(1).order(1).tolist()  # epochs differ
    assert mk(1).order(0).tolist() != mk(2).order(0).tolist()  # seeds differ
    # buffer 0: whole shard files in the epoch's file order, members in order
    counts = (3, 1, 4, 2, 5, 2)
    starts = np.cumsum((0,) + counts)
    for epoch in range(3):
        files = np.random.default_rng([1, epoch, 0]).permutation(len(counts))
        want = [i for f in files for i in range(starts[f], starts[f + 1])]
        got = ShardPlan(counts, 4, shuffle=True, seed=1, shard_id=0, num_shards=1,
                        drop_last=False, shuffle_buffer=0).order(epoch).tolist()
        assert got == want
    assert want != sorted(want)


def test_buffer_shuffle_moves_a_sample_at_most_the_buffer():
    stream = np.arange(500)
    rng = np.random.default_rng(0)
    for size in (1, 2, 10, 64, 1000):
        out = buffer_shuffle(stream, size, rng)
        assert sorted(out.tolist()) == stream.tolist()
        pos = np.empty(500, np.int64)
        pos[out] = np.arange(500)
        assert (stream - pos).max() <= max(size - 1, 0)  # at most size - 1 places earlier
        if size == 1:
            assert out.tolist() == stream.tolist()


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_shards_go_through_on_error(tmp_path, engine):
    """A sample without an image, one without a label, a member that is not an image, and
    a shard cut short: each a bad sample named by shard and member."""
    root = str(tmp_path)
    make_shards(root, counts=(3,))
    with tarfile.open(os.path.join(root, "s-001.tar"), "w") as t:
        _add(t, "a.jpg", _jpeg(20))
        _add(t, "a.cls", b"1")
        _add(t, "nolabel.jpg", _jpeg(21))
        _add(t, "noimage.cls", b"2")
        _add(t, "text.jpg", b"this is not an image")
        _add(t, "text.cls", b"3")
    whole = tmp_path / "whole.tar"
    with tarfile.open(whole, "w") as t:
        _add(t, "b.jpg", _jpeg(22))
        _add(t, "b.cls", b"4")
        _add(t, "cut.jpg", _jpeg(23))
        _add(t, "cut.cls", b"4")
    raw = whole.read_bytes()
    cut_at = index_shard(str(whole)).offsets[1] + 100
    (tmp_path / "s-002.tar").write_bytes(raw[:cut_at])
    os.remove(whole)
    src = os.path.join(root, "s-{000..002}.tar")
    with pytest.raises(freqload.FreqloadError, match=r"s-001\.tar:(nolabel|noimage|text)"):
        for _ in DCTLoader(src, batch_size=4, size=(4, 4), engine=engine, num_workers=1):
            pass
    skip = DCTLoader(src, batch_size=4, size=(4, 4), engine=engine, num_workers=1,
                     on_error="skip", normalize=False)
    ys = torch.cat([y for _, y in skip])
    assert sorted(ys.tolist()) == [0, 1, 1, 2, 4]  # k0000-k0002, a, b
    assert (skip.stats.decoded, skip.stats.skipped) == (5, 4)
    messages = skip.dataset.problems.values()
    assert any("no label" in m for m in messages) and any("no image" in m for m in messages)
    assert any("truncated" in m for m in messages)


def test_damaged_headers(tmp_path):
    (path,) = make_shards(str(tmp_path), counts=(4,))
    raw = bytearray(open(path, "rb").read())
    idx = index_shard(path)
    header = idx.offsets[2] - 512  # the third sample's image header
    raw[header:header + 512] = b"\x07" * 512
    open(path, "wb").write(raw)
    damaged = index_shard(path)
    assert damaged.damage == f"the tar header at byte {header} does not parse (after " \
        "sample 'k0001'): its checksum is wrong"
    assert damaged.keys == ["k0000", "k0001"]
    with pytest.raises(freqload.DecodeError, match="does not parse.*on_error=.skip"):
        DCTLoader(path, batch_size=2, size=(4, 4), engine="native", num_workers=0)
    with pytest.warns(UserWarning, match="does not parse"):
        loader = DCTLoader(path, batch_size=2, size=(4, 4), engine="native", num_workers=0,
                           on_error="skip")
    assert len(loader.dataset) == 2


def test_index_files(tmp_path):
    """write_index's file gives the same index as reading the headers; a stale one (the
    shard changed size) or one for other labels is not used."""
    from freqload.data.shards import INDEX_SUFFIX, _index_one, write_index

    (path,) = make_shards(str(tmp_path), counts=(5,), json_labels=True)
    write_index(path, label_key="label")
    assert os.path.exists(path + INDEX_SUFFIX)
    scanned = index_shard(path, "label")
    from_file = _index_one(path, "label", None)
    assert from_file == scanned
    # an index for other labels is ignored: the headers are read (.cls: none here)
    assert _index_one(path, None, None).labels == [None] * 5
    with open(path, "ab") as f:  # the shard changed: its old index no longer applies
        f.write(b"\0" * 1024)
    with open(path + INDEX_SUFFIX, "rb") as f:
        data = f.read()
    with open(path + INDEX_SUFFIX, "wb") as f:  # poison the stale index's labels
        f.write(data.replace(b'"label_key":"label"', b'"label_key":"label"', 1)
                .replace(b',0,null]', b',99,null]'))
    assert _index_one(path, "label", None).labels == scanned.labels


def test_rgb_loader_reads_shards_as_files(tmp_path):
    """RGBLoader on shards gives what it gives on the same images as files (shuffle off)."""
    from freqload.loading.rgb_loader import RGBLoader

    paths = make_shards(str(tmp_path / "shards"), counts=(3, 4))
    files = []
    for k in range(7):
        p = tmp_path / f"k{k:04d}.jpg"
        p.write_bytes(_jpeg(k))
        files.append((str(p), k % 5))
    a = RGBLoader(files, batch_size=3, size=24, num_workers=0, device="cpu")
    b = RGBLoader(paths, batch_size=3, size=24, num_workers=0, device="cpu")
    assert_same_batches(a, b)


# ---- writing shards --------------------------------------------------------------------

@pytest.fixture(scope="module")
def source_folder(tmp_path_factory):
    from test_loader import write_folder

    root = tmp_path_factory.mktemp("tosrc")
    write_folder(root, (5, 4))
    from test_loader import _png

    (root / "class1" / "zz_png_named.jpg").write_bytes(_png(rng_image(24, 32, seed=5)))
    return str(root)


def _hash(path):
    import hashlib

    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_write_shards_round_trip(source_folder, tmp_path):
    """Every member is its source file's bytes (Python's tarfile, and DALI's own webdataset
    reader with the .idx files written), shards keep to the size, the manifest's hashes
    hold, and the loader gives what it gives on the folder."""
    from freqload.data.sources import resolve_source
    from freqload.tools.shards import SHARDS_MANIFEST, write_shards

    dst = str(tmp_path / "out")
    man = write_shards(source_folder, dst, shard_size="24KB", shuffle=False, progress=False)
    files = resolve_source(source_folder)
    assert man["totals"]["samples"] == len(files) == 10 and man["totals"]["shards"] >= 3
    assert json.load(open(os.path.join(dst, SHARDS_MANIFEST)))["shards"] == man["shards"]
    position = 0
    for s in man["shards"]:
        p = os.path.join(dst, s["name"])
        assert _hash(p) == s["sha256"] and os.path.getsize(p) == s["bytes"]
        assert s["bytes"] <= 24000 or s["samples"] == 1
        with tarfile.open(p) as t:
            for _ in range(s["samples"]):
                key = f"{position:09d}"
                meta = json.loads(t.extractfile(key + ".json").read())
                assert t.extractfile(key + ".jpg").read() == open(files.paths[position],
                                                                  "rb").read()
                assert int(t.extractfile(key + ".cls").read()) == files.labels[position] \
                    == meta["label"]
                assert meta["path"] == os.path.relpath(files.paths[position], source_folder)
                position += 1
    shards = [os.path.join(dst, s["name"]) for s in man["shards"]]
    if HAVE_DALI:
        from nvidia.dali import fn, pipeline_def

        @pipeline_def(batch_size=10, num_threads=1, device_id=None)
        def read():
            return tuple(fn.readers.webdataset(paths=shards, index_paths=[p + ".idx" for p in
                                                                          shards],
                                               ext=["jpg", "cls"]))
        pipe = read()
        pipe.build()
        jpg, cls = pipe.run()
        for k in range(10):
            assert bytes(np.asarray(jpg.at(k))) == open(files.paths[k], "rb").read()
    for engine in ENGINE_NAMES:
        b = same_as_files(source_folder, shards, engine, batch_size=4, on_error="fallback")
        assert b.stats.fallback == 1  # the PNG under a .jpg name


def test_write_shards_shuffles_and_resumes(source_folder, tmp_path, monkeypatch):
    import freqload.tools.shards as shards_module
    from freqload.tools.jobs import PackInterrupted
    from freqload.tools.shards import SHARDS_MANIFEST, SHARDS_PARTIAL, write_shards

    whole = write_shards(source_folder, str(tmp_path / "whole"), shard_size="16KB", seed=3,
                         progress=False)
    order = np.random.default_rng(3).permutation(10)
    files = freqload.data.sources.resolve_source(source_folder)
    first = os.path.join(tmp_path / "whole", whole["shards"][0]["name"])
    with tarfile.open(first) as t:
        assert t.extractfile("000000000.jpg").read() == open(files.paths[order[0]],
                                                             "rb").read()
    real = shards_module._read_sample
    calls = []

    def interrupted(job):
        calls.append(job[0])
        if job[0] == 7:
            raise KeyboardInterrupt
        return real(job)
    monkeypatch.setattr(shards_module, "_read_sample", interrupted)
    dst = str(tmp_path / "resumed")
    with pytest.raises(PackInterrupted, match="samples written"):
        write_shards(source_folder, dst, shard_size="16KB", seed=3, progress=False)
    partial = json.load(open(os.path.join(dst, SHARDS_PARTIAL)))
    assert 0 < len(partial["shards"]) < len(whole["shards"])
    assert not [f for f in os.listdir(dst) if f.endswith(".tmp")]
    monkeypatch.setattr(shards_module, "_read_sample", real)
    # a finished shard damaged since: written again, with those after it
    damaged = os.path.join(dst, partial["shards"][-1]["name"])
    with open(damaged, "r+b") as f:
        f.seek(700)
        f.write(b"\xff")
    man = write_shards(source_folder, dst, shard_size="16KB", seed=3, progress=False)
    assert [s["sha256"] for s in man["shards"]] == [s["sha256"] for s in whole["shards"]]
    assert not os.path.exists(os.path.join(dst, SHARDS_PARTIAL))
    assert os.path.exists(os.path.join(dst, SHARDS_MANIFEST))
    with pytest.raises(ValueError, match="other settings"):
        write_shards(source_folder, dst, shard_size="16KB", seed=4, progress=False)


def test_pack_into_shards(source_folder, tmp_path):
    """freqload pack --format tar: the packed shards give the originals' tensors where the
    pack is exact (the mask's bands, "blocks", chroma="nearest"), and refuse a wider mask."""
    from freqload.tools.pack import pack_to_shards

    dst = str(tmp_path / "packed")
    man = pack_to_shards(source_folder, dst, "dctnet24", shard_size="1MB", shuffle=False,
                         workers=1, progress=False)
    shards = [os.path.join(dst, s["name"]) for s in man["shards"]]
    kw = dict(batch_size=5, size=(4, 4), engine="native", num_workers=0, normalize=False,
              recipe=Recipe(transform="blocks", chroma="nearest"), on_error="skip")
    a = [(x, y) for x, y in DCTLoader(source_folder, **kw)]
    b = [(x, y) for x, y in DCTLoader(shards, **kw)]
    assert_same_batches(a, b)
    with pytest.raises(ValueError, match="freqload pack"):
        DCTLoader(shards, batch_size=2, mask="all", engine="native", num_workers=0)


def test_shards_command(source_folder, tmp_path, capsys):
    from freqload.tools.cli import main

    dst = str(tmp_path / "cli")
    assert main(["shards", source_folder, dst, "--shard-size", "30KB"]) == 0
    out = capsys.readouterr().out
    assert "wrote 10 samples into" in out and "shard-{000000.." in out
    assert main(["shards", source_folder, str(tmp_path / "x"), "--shard-size", "lots"]) == 2
    assert "not a size" in capsys.readouterr().err
    assert main(["pack", source_folder, str(tmp_path / "p"), "--format", "tar",
                 "--workers", "1"]) == 0
    assert "packed 10 files into 1 shards" in capsys.readouterr().out
