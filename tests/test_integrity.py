"""Nothing lost, nothing silently wrong: damaged or unusual inputs to the sources and the
writers (freqload.data.destination, freqload.data.tar_headers, freqload.schema, the shard index's
content digest, remote downloads).

Each test names the class of defect it covers. References: the source files' own bytes
(SHA-256 before and after: a writer must not touch them), the images as plain files
through the same loader settings (a sample must be the photo it should be), and hand-made
tar bytes for the damage."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import pytest
import torch

import freqload
from freqload import DCTLoader, Source
from freqload.data import remote
from freqload.data.shards import INDEX_SUFFIX, index_shard, write_index
from freqload.tools import cli

from conftest import ENGINES, ROOT, assert_same_batches
from test_shards import _add, _jpeg, make_shards

LOADER = dict(size=(4, 4), num_workers=1, normalize=False)


def tree_digest(root) -> dict:
    """{relative path: SHA-256} of every file below root (links not followed)."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def photo_folder(root, classes=2, per_class=3) -> str:
    for c in range(classes):
        os.makedirs(os.path.join(root, f"c{c}"), exist_ok=True)
        for k in range(per_class):
            with open(os.path.join(root, f"c{c}", f"img{k}.jpg"), "wb") as f:
                f.write(_jpeg(10 * c + k))
    return str(root)


def run_cli(capsys, *argv) -> tuple[int, str]:
    rc = cli.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def ys(loader) -> list:
    return [int(v) for _, y in loader for v in y]


# ---- data loss: writers never write into their sources or outside their destination ---

@pytest.mark.parametrize("layout", ["dst-is-a-link-to-src", "dst-is-a-link-into-src",
                                    "dst-holds-a-link-into-src"])
@pytest.mark.parametrize("command", ["pack", "pack-tar", "shards"])
def test_writers_never_write_into_their_source(tmp_path, capsys, layout, command):
    """Class: data loss through links. The destination is compared with the source by real
    paths in both directions, and every folder written into must resolve inside the
    destination: refused before anything is written, the source's bytes unchanged."""
    src = photo_folder(tmp_path / "src")
    before = tree_digest(src)
    dst = tmp_path / "dst"
    if layout == "dst-is-a-link-to-src":
        os.symlink(src, dst)
    elif layout == "dst-is-a-link-into-src":
        os.symlink(os.path.join(src, "c0"), dst)
    else:
        dst.mkdir()
        os.symlink(os.path.join(src, "c0"), dst / "c0")
    argv = {"pack": ["pack", src, dst, "--workers", "1"],
            "pack-tar": ["pack", src, dst, "--format", "tar", "--workers", "1"],
            "shards": ["shards", src, dst]}[command]
    rc, err = run_cli(capsys, *argv)
    if command != "pack" and layout == "dst-holds-a-link-into-src":
        # shards are written at dst's top level, never through dst/c0: nothing to refuse
        assert rc == 0, err
    else:
        assert rc == 2, err
        assert "source" in err or "outside the destination" in err, err
    assert tree_digest(src) == before


def _residual_pack(tmp_path) -> tuple[str, str]:
    src = photo_folder(tmp_path / "src")
    packed = str(tmp_path / "packed")
    freqload.tools.pack.pack(src, packed, "dctnet24", residual=True, workers=1, progress=False)
    return src, packed


def _edit_manifest(packed, edit) -> None:
    p = os.path.join(packed, freqload.tools.pack.MANIFEST)
    with open(p) as f:
        man = json.load(f)
    edit(man)
    with open(p, "w") as f:
        json.dump(man, f)


@pytest.mark.parametrize("key", ["../outside.jpg", "ABSOLUTE"])
def test_unpack_writes_only_inside_its_output(tmp_path, capsys, key):
    """Class: data loss through a manifest's paths. A key with '..' or an absolute path is
    a damaged manifest: refused, naming the field; nothing outside OUT is written."""
    src, packed = _residual_pack(tmp_path)
    victim = tmp_path / "outside.jpg"
    victim.write_bytes(b"a user's file")
    if key == "ABSOLUTE":
        key = os.path.join(src, "c0", "img0.jpg")
    before = {str(victim): victim.read_bytes(), **tree_digest(src)}
    _edit_manifest(packed, lambda m: m["files"].__setitem__(key, m["files"]["c0/img0.jpg"]))
    rc, err = run_cli(capsys, "unpack", packed, tmp_path / "out")
    assert rc == 1, err
    assert "freqload-pack.json" in err and "relative path" in err, err
    assert {str(victim): victim.read_bytes(), **tree_digest(src)} == before


@pytest.mark.parametrize("out", ["the-pack", "inside-the-pack", "holding-the-pack"])
def test_unpack_into_its_own_pack_is_refused(tmp_path, capsys, out):
    """Class: data loss by unpacking over the pack. Refused in every layout; the pack's
    bytes stay the same, so a retry cannot add the residual twice."""
    _, packed = _residual_pack(tmp_path)
    before = tree_digest(packed)
    target = {"the-pack": packed, "inside-the-pack": os.path.join(packed, "c0"),
              "holding-the-pack": str(tmp_path)}[out]
    for _ in range(2):  # and again, as a user retrying would
        rc, err = run_cli(capsys, "unpack", packed, target)
        assert rc == 2 and "source" in err, err
    assert tree_digest(packed) == before


def test_unpack_refuses_a_pack_whose_files_were_rebuilt(tmp_path, capsys):
    """A packed file already holding its residual's bands (what unpacking over the pack
    used to leave) is not added to its residual a second time."""
    _, packed = _residual_pack(tmp_path)
    out = tmp_path / "out"
    assert run_cli(capsys, "unpack", packed, out)[0] == 0
    shutil.copyfile(out / "c1" / "img2.jpg", os.path.join(packed, "c1", "img2.jpg"))
    size = os.path.getsize(os.path.join(packed, "c1", "img2.jpg"))
    _edit_manifest(packed, lambda m: m["files"]["c1/img2.jpg"].__setitem__("packed_bytes", size))
    rc, err = run_cli(capsys, "unpack", packed, tmp_path / "again")
    assert rc == 1 and "residual" in err and "c1/img2.jpg" in err, err


@pytest.mark.parametrize("command", ["pack", "pack-tar", "shards", "unpack"])
def test_writers_never_overwrite_files_they_did_not_make(tmp_path, capsys, command):
    """Class: data loss by name collisions. A user's file where a writer would write is
    named and left untouched; nothing is written."""
    src = photo_folder(tmp_path / "src")
    dst = tmp_path / "dst"
    dst.mkdir()
    if command == "unpack":
        _, src = _residual_pack(tmp_path / "p")
    target = {"pack": dst / "c0" / "img1.jpg", "unpack": dst / "c0" / "img1.jpg",
              "pack-tar": dst / "packed-000000.tar", "shards": dst / "shard-000000.tar"}[command]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"precious")
    argv = {"pack": ["pack", src, dst, "--workers", "1"], "unpack": ["unpack", src, dst],
            "pack-tar": ["pack", src, dst, "--format", "tar", "--workers", "1"],
            "shards": ["shards", src, dst]}[command]
    rc, err = run_cli(capsys, *argv)
    assert rc == 1 and "did not write" in err and target.name in err, err
    assert target.read_bytes() == b"precious"
    assert sorted(tree_digest(dst)) == [os.path.relpath(target, dst)]


def test_a_pack_resumes_over_its_own_files_without_a_manifest(tmp_path, capsys):
    """The journal claims each file before it is written: a run killed before its first
    manifest save resumes over its own files (they are not taken for the user's)."""
    src = photo_folder(tmp_path / "src")
    dst = tmp_path / "dst"
    assert run_cli(capsys, "pack", src, dst, "--workers", "1")[0] == 0
    os.remove(dst / freqload.tools.pack.MANIFEST)  # as if killed before any manifest
    rc, err = run_cli(capsys, "pack", src, dst, "--workers", "1")
    assert rc == 0, err
    assert DCTLoader(str(dst), batch_size=8, engine="native", **LOADER).dataset.labels.tolist() \
        == [0, 0, 0, 1, 1, 1]


# ---- a hang: the tar headers are read by a bounded reader -----------------------------

def _negative_size_shard(path) -> None:
    """A shard whose second sample's image header has a negative base-256 size that points
    back at the first sample's label header (Python's tarfile, before CVE-2025-8194's fix,
    then reads the same two headers forever)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        _add(t, "a.jpg", _jpeg(1))
        _add(t, "a.cls", b"1")
        _add(t, "b.jpg", _jpeg(2))
        _add(t, "b.cls", b"2")
    raw = bytearray(buf.getvalue())
    header = raw.index(b"b.jpg")
    back = raw.index(b"a.cls")  # its header, 1536 bytes before b.jpg's data
    size = back - (header + 512)
    raw[header + 124:header + 136] = b"\xff" + ((1 << 88) + size).to_bytes(11, "big")
    raw[header + 148:header + 156] = b" " * 8
    raw[header + 148:header + 155] = b"%06o\0" % sum(raw[header:header + 512])
    with open(path, "wb") as f:
        f.write(raw)


def test_a_negative_member_size_ends_the_index_instead_of_hanging(tmp_path):
    """Class: the hang. In a fresh process with a deadline: indexing, write_index and both
    loaders finish and name the damage; DCTLoader keeps the sample before it under "skip",
    RGBLoader (no error policy) refuses the shard."""
    path = str(tmp_path / "neg.tar")
    _negative_size_shard(path)
    script = f"""
import warnings
import freqload
from freqload import DCTLoader
from freqload.loading.rgb_loader import RGBLoader
from freqload.data.shards import index_shard, write_index
p = {path!r}
idx = index_shard(p)
print("DAMAGE", idx.damage)
print("KEYS", idx.keys)
write_index(p)
try:
    DCTLoader(p, batch_size=2, size=(4, 4), engine="native", num_workers=0)
except freqload.DecodeError as e:
    print("RAISE", e)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    n = len(DCTLoader(p, batch_size=2, size=(4, 4), engine="native", num_workers=0,
                      on_error="skip").dataset)
    print("SKIP", n, len(w))
try:
    RGBLoader(p, batch_size=2, size=16, num_workers=0)
except freqload.DecodeError as e:
    print("RGB", e)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "DAMAGE the tar header at byte" in out.stdout and "negative" in out.stdout
    assert "KEYS ['a']" in out.stdout
    assert "RAISE" in out.stdout and "SKIP 1 1" in out.stdout
    assert "RGB" in out.stdout and "negative" in out.stdout.split("RGB", 1)[1]


# ---- silent wrong data: indexes tied to content ----------------------------------------

def _relabel(path, label=lambda k: (k + 1) % 5):
    """Rewrite a make_shards shard with other labels of the same length: same size."""
    size = os.path.getsize(path)
    with tarfile.open(path) as t:
        members = [(m.name, t.extractfile(m).read()) for m in t if m.isfile()]
    with tarfile.open(path, "w") as t:
        for name, data in members:
            if name.endswith(".cls"):
                data = str(label(int(name[1:5]))).encode()
            _add(t, name, data)
    assert os.path.getsize(path) == size


def test_a_local_index_is_never_trusted_over_the_shard(tmp_path):
    """Class: a stale index. A shard relabelled at the same size after its index was
    written, and an index with shifted offsets, give the shard's own labels and images."""
    (path,) = make_shards(str(tmp_path), counts=(5,))
    write_index(path)
    _relabel(path)
    loader = DCTLoader(path, batch_size=5, engine="native", **LOADER)
    assert ys(loader) == [(k + 1) % 5 for k in range(5)]
    # shifted offsets: sample 0's range moved onto sample 1's image
    write_index(path)
    with open(path + INDEX_SUFFIX) as f:
        d = json.load(f)
    d["samples"][0][2:4] = d["samples"][1][2:4]
    with open(path + INDEX_SUFFIX, "w") as f:
        json.dump(d, f)
    files = []
    with tarfile.open(path) as t:
        for m in t:
            if m.name.endswith(".jpg"):
                files.append(str(tmp_path / m.name))
                with open(files[-1], "wb") as f:
                    f.write(t.extractfile(m).read())
    x_shard = torch.cat([x for x, _ in DCTLoader(path, batch_size=5, engine="native", **LOADER)])
    x_files = torch.cat([x for x, _ in DCTLoader(files, batch_size=5, engine="native", **LOADER)])
    assert torch.equal(x_shard, x_files)


class _Server:
    """An http server on 127.0.0.1 in this process, serving ``files`` (name -> bytes),
    counting GETs per name; ``mode[name]``: "cut" (announce every byte, send half),
    "stall" (send nothing for ``stall`` seconds)."""

    def __init__(self):
        self.files, self.mode, self.gets = {}, {}, {}
        self.stall = 4.0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _head(self, name, data):
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_HEAD(self):
                name = self.path.lstrip("/")
                if name not in server.files:
                    self.send_error(404)
                    return
                self._head(name, server.files[name])

            def do_GET(self):
                name = self.path.lstrip("/")
                if name not in server.files:
                    self.send_error(404)
                    return
                server.gets[name] = server.gets.get(name, 0) + 1
                data, mode = server.files[name], server.mode.get(name)
                if mode == "stall":
                    time.sleep(server.stall)
                    return
                self._head(name, data)
                self.wfile.write(data[:len(data) // 2] if mode == "cut" else data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add_folder(self, folder):
        for n in os.listdir(folder):
            with open(os.path.join(folder, n), "rb") as f:
                self.files[n] = f.read()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_remote_shard_that_changed_at_the_same_size_fails_loudly(tmp_path, server, engine):
    """Class: a stale remote index. The index matches the shard's size, so the loader
    plans from it; the download's SHA-256 differs and its samples do too: IntegrityError
    naming the shard, never the old labels."""
    (path,) = make_shards(str(tmp_path / "s"), counts=(5,))
    write_index(path)
    _relabel(path)
    server.add_folder(tmp_path / "s")
    loader = DCTLoader(f"{server.url}/s-000.tar", batch_size=5, engine=engine, **LOADER)
    with pytest.raises(freqload.FreqloadError, match=r"s-000\.tar changed since its index"):
        for _ in loader:
            pass


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stale_remote_index_is_re_derived_and_downloads_happen_once(tmp_path, server,
                                                                      engine):
    """Class: a stale remote index and repeated downloads. Samples appended after the index
    was written: the size differs at the HEAD request, the index is not used (a warning
    names it), every sample comes, and each shard is downloaded once in an epoch."""
    (old,) = make_shards(str(tmp_path / "old"), counts=(3,))
    write_index(old)
    paths = make_shards(str(tmp_path / "s"), counts=(12, 4))  # s-000 gained samples
    write_index(paths[1])
    server.add_folder(tmp_path / "s")
    with open(old + INDEX_SUFFIX, "rb") as f:
        server.files["s-000.tar" + INDEX_SUFFIX] = f.read()
    with pytest.warns(UserWarning, match=r"s-000\.tar.*changed since its index"):
        loader = DCTLoader(f"{server.url}/s-{{000..001}}.tar", batch_size=3, engine=engine,
                           **LOADER)
    assert_same_batches(DCTLoader(paths, batch_size=3, engine=engine, **LOADER), loader)
    assert server.gets["s-000.tar"] == 1 and server.gets["s-001.tar"] == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_downloads_cut_short_are_never_accepted(tmp_path, server, engine):
    """Class: downloads cut short. A response that ends before its Content-Length is an
    error naming the URL; a half copy left in a kept cache (no record of a complete
    download) is downloaded again, not reused."""
    (path,) = make_shards(str(tmp_path / "s"), counts=(4,))
    server.add_folder(tmp_path / "s")
    url = f"{server.url}/s-000.tar"
    server.mode["s-000.tar"] = "cut"
    with pytest.raises(OSError, match=r"s-000\.tar: cut short"):
        DCTLoader(url, batch_size=2, engine=engine, **LOADER)
    server.mode.clear()
    cache = tmp_path / "cache"
    cache.mkdir()
    half = remote.ShardCache(str(cache)).local(url)
    with open(path, "rb") as f:
        data = f.read()
    with open(half, "wb") as f:
        f.write(data[:len(data) // 2])
    loader = DCTLoader(Source(url, cache_dir=str(cache)), batch_size=2, engine=engine, **LOADER)
    assert_same_batches(DCTLoader(path, batch_size=2, engine=engine, **LOADER), loader)


def _shard(path, members) -> str:
    with tarfile.open(path, "w") as t:
        for name, data in members:
            _add(t, name, data)
    return str(path)


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicate_members_make_a_sample_bad(tmp_path, engine):
    """Class: duplicate member names. Two images or two labels under one key, or one key
    used twice in a shard: those samples go through on_error, named; the rest keep their
    own labels, and the counts are exact."""
    path = _shard(tmp_path / "d.tar", [
        ("ok0.jpg", _jpeg(0)), ("ok0.cls", b"0"),
        ("twoimg.jpg", _jpeg(1)), ("twoimg.cls", b"1"), ("twoimg.jpg", _jpeg(2)),
        ("twolab.jpg", _jpeg(3)), ("twolab.cls", b"3"), ("twolab.cls", b"4"),
        ("ok1.jpg", _jpeg(4)), ("ok1.cls", b"2"),
        ("again.jpg", _jpeg(5)), ("again.cls", b"1"),
        ("ok2.jpg", _jpeg(6)), ("ok2.cls", b"4"),
        ("again.jpg", _jpeg(7)), ("again.cls", b"3")])
    skip = DCTLoader(path, batch_size=8, engine=engine, on_error="skip", **LOADER)
    assert ys(skip) == [0, 2, 4]
    assert (skip.stats.decoded, skip.stats.skipped) == (3, 4)
    with pytest.raises(freqload.FreqloadError, match=r"d\.tar:twoimg.*2 image members"):
        for _ in DCTLoader(path, batch_size=8, engine=engine, **LOADER):
            pass


def test_folder_links_are_followed_once(tmp_path, capsys):
    """Class: link loops. root/c0/loop -> .. would list the whole tree again (class c1's
    pictures under label 0); a link to another class folder would relabel it. Each
    folder is entered once, with a warning naming what was not entered; the shard
    writer and pack see the same 10 files."""
    root = photo_folder(tmp_path / "root", classes=2, per_class=5)
    os.symlink("..", os.path.join(root, "c0", "loop"))
    os.symlink(os.path.join(root, "c1"), os.path.join(root, "c0", "c1-again"))
    with pytest.warns(UserWarning, match=r"2 folder\(s\) not entered"):
        loader = DCTLoader(root, batch_size=4, engine="native", **LOADER)
    assert loader.dataset.labels.tolist() == [0] * 5 + [1] * 5
    assert [os.path.relpath(p, root) for p in loader.dataset.paths] == \
        [f"c{c}/img{k}.jpg" for c in range(2) for k in range(5)]
    with pytest.warns(UserWarning, match="not entered"):
        rc, err = run_cli(capsys, "shards", root, tmp_path / "shards")
    assert rc == 0, err
    with open(tmp_path / "shards" / "freqload-shards.json") as f:
        assert json.load(f)["totals"]["samples"] == 10
    with pytest.warns(UserWarning, match="not entered"):
        man = freqload.tools.pack.pack(root, str(tmp_path / "packed"), workers=1, progress=False)
    assert man["totals"]["files"] == 10


@pytest.mark.parametrize("engine", ENGINES)
def test_a_tar_cut_at_a_member_boundary_is_damage(tmp_path, engine):
    """Class: silent truncation. A shard cut exactly before a member's header lacks tar's
    end-of-archive blocks: refused under on_error="raise", a warning and the samples
    before the cut otherwise."""
    (path,) = make_shards(str(tmp_path), counts=(5,))
    idx = index_shard(path)
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(raw[:idx.offsets[2] - 512])
    assert "without tar's end-of-archive blocks" in index_shard(path).damage
    with pytest.raises(freqload.DecodeError, match="cut short"):
        DCTLoader(path, batch_size=2, engine=engine, **LOADER)
    with pytest.warns(UserWarning, match="cut short"):
        loader = DCTLoader(path, batch_size=2, engine=engine, on_error="skip", **LOADER)
    assert ys(loader) == [0, 1]


def test_a_state_of_another_source_is_refused(tmp_path):
    """Class: a resume over other data. Two folders of as many images: the state of one is
    refused by a loader over the other (names and labels differ); the same data set moved
    elsewhere is the same source."""
    a = photo_folder(tmp_path / "a")
    b = tmp_path / "b"
    for c in range(2):
        os.makedirs(b / f"c{c}")
        for k in range(3):
            (b / f"c{c}" / f"other{k}.jpg").write_bytes(_jpeg(50 + k))
    kw = dict(batch_size=2, engine="native", train=True, **LOADER)
    la = DCTLoader(a, **kw)
    it = iter(la)
    next(it)
    state = la.state_dict()
    with pytest.raises(ValueError, match="another source"):
        DCTLoader(str(b), **kw).load_state_dict(state)
    moved = shutil.copytree(a, tmp_path / "moved")
    DCTLoader(str(moved), **kw).load_state_dict(state)


# ---- raw internal errors -> clear ones ----------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_labels_that_are_not_class_indices_are_bad_samples(tmp_path, engine):
    """Class: labels. 2^63 in .cls, 10^23 in .json, JSON nested 100,000 deep, -1 (not
    "unlabelled"), a float: each a bad sample under on_error, named, with the loader made
    even under raise; .CLS is a label as .JPG is an image."""
    deep = b"[" * 100_000 + b"]" * 100_000
    path = _shard(tmp_path / "l.tar", [
        ("good.jpg", _jpeg(0)), ("good.cls", b"3"),
        ("huge.jpg", _jpeg(1)), ("huge.cls", str(2 ** 63).encode()),
        ("minus.jpg", _jpeg(2)), ("minus.cls", b"-1"),
        ("upper.JPG", _jpeg(3)), ("upper.CLS", b"4"),
        ("word.jpg", _jpeg(4)), ("word.cls", b"three")])
    skip = DCTLoader(path, batch_size=8, engine=engine, on_error="skip", **LOADER)
    assert ys(skip) == [3, 4]
    assert (skip.stats.decoded, skip.stats.skipped) == (2, 3)
    messages = sorted(skip.dataset.problems.values())
    assert any("huge.cls" in m and "2^63" in m for m in messages), messages
    assert any("minus.cls" in m and "negative" in m for m in messages), messages
    with pytest.raises(freqload.FreqloadError, match=r"l\.tar:huge\.jpg.*2\^63"):
        for _ in DCTLoader(path, batch_size=8, engine=engine, **LOADER):
            pass
    jpath = _shard(tmp_path / "j.tar", [
        ("good.jpg", _jpeg(0)), ("good.json", b'{"label": 2}'),
        ("big.jpg", _jpeg(1)), ("big.json", b'{"label": 100000000000000000000000}'),
        ("float.jpg", _jpeg(2)), ("float.json", b'{"label": 1e23}'),
        ("deep.jpg", _jpeg(3)), ("deep.json", b'{"label": ' + deep + b"}")])
    skip = DCTLoader(Source(jpath, label_key="label"), batch_size=8, engine=engine, on_error="skip",
                     **LOADER)
    assert ys(skip) == [2] and skip.stats.skipped == 3
    assert any("nested too deeply" in m for m in skip.dataset.problems.values())


def test_labels_of_file_lists_are_checked(tmp_path):
    """The same label check for (path, label) lists and .txt lists: a clear ValueError
    naming the file, not an OverflowError; -1 stays "unlabelled" there."""
    p = str(tmp_path / "a.jpg")
    with open(p, "wb") as f:
        f.write(_jpeg(0))
    with pytest.raises(ValueError, match=r"a\.jpg: label .* over 2\^63"):
        DCTLoader([(p, 2 ** 64)], batch_size=1, engine="native", **LOADER)
    with pytest.raises(ValueError, match="negative"):
        DCTLoader([(p, -3)], batch_size=1, engine="native", **LOADER)
    (tmp_path / "list.txt").write_text(f"{p} 99999999999999999999999\n")
    with pytest.raises(ValueError, match=r"list\.txt, line 1: label"):
        DCTLoader(str(tmp_path / "list.txt"), batch_size=1, engine="native", **LOADER)
    assert DCTLoader([(p, -1)], batch_size=1, engine="native", **LOADER).dataset.labels[0] == -1


@pytest.mark.parametrize("damage, field", [
    (lambda d: d.pop("samples"), "samples: is missing"),
    (lambda d: d["samples"][1].__setitem__(2, "x"), r"samples\[1\]\[2\]: must be an integer"),
    (lambda d: d["samples"][0].__setitem__(2, -512), r"samples\[0\]\[2\]: must be an integer "
                                                     ">= 0"),
    (lambda d: d.__setitem__("bytes", 10 ** 30), r"bytes: must be an integer >= 0"),
    (lambda d: d["samples"].__setitem__(0, [1, 2]), r"samples\[0\]: must have 6 items"),
    (lambda d: d["samples"][0].__setitem__(3, 10 ** 9), r"samples\[0\]: .*run past"),
])
def test_damaged_index_files_are_named_and_re_derived(tmp_path, server, damage, field):
    """Class: damaged index files (valid JSON, wrong fields), including a negative offset.
    parse_index names the file and the field (ManifestError); a loader reading such an
    index from a server warns so and reads the shard itself: the same samples."""
    from freqload.data.shards import parse_index

    paths = make_shards(str(tmp_path / "s"), counts=(4,))
    write_index(paths[0])
    with open(paths[0] + INDEX_SUFFIX) as f:
        d = json.load(f)
    damage(d)
    data = json.dumps(d).encode()
    with pytest.raises(freqload.errors.ManifestError, match=r"s-000\.tar\.index\.json: " + field):
        parse_index(data, paths[0], None)
    server.add_folder(tmp_path / "s")
    server.files["s-000.tar" + INDEX_SUFFIX] = data
    with pytest.warns(UserWarning, match=r"index\.json: " + field):
        loader = DCTLoader(f"{server.url}/s-000.tar", batch_size=3, engine="native", **LOADER)
    assert_same_batches(DCTLoader(paths, batch_size=3, engine="native", **LOADER), loader)


@pytest.mark.parametrize("tamper, field", [
    (lambda s: s.pop("plan"), "plan: is missing"),
    (lambda s: s.pop("epoch"), "epoch: is missing"),
    (lambda s: s.__setitem__("epoch", -1), "epoch: must be an integer >= 0"),
    (lambda s: s.__setitem__("epoch", "3"), "epoch: must be an integer"),
    (lambda s: s.__setitem__("batches_done", 1.5), "batches_done: must be an integer"),
    (lambda s: s.__setitem__("stats", {"decoded": "x"}), "stats.decoded: must be an integer"),
    (lambda s: s.__setitem__("stats", [1]), "stats: must be an object"),
    (lambda s: s.__setitem__("plan", None), "plan: must be an object"),
])
def test_a_tampered_state_is_refused_naming_the_field(tmp_path, tamper, field):
    """Class: tampered loader states: a ValueError (ManifestError) naming the field, before
    anything changes; never a KeyError, nor a failure in the middle of the next epoch."""
    loader = DCTLoader(photo_folder(tmp_path / "a"), batch_size=2, engine="native", **LOADER)
    state = loader.state_dict()
    tamper(state)
    fresh = DCTLoader(str(tmp_path / "a"), batch_size=2, engine="native", **LOADER)
    with pytest.raises(ValueError, match="the loader state: " + field):
        fresh.load_state_dict(state)
    assert fresh.epoch == 0 and ys(fresh) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("damage, field", [
    (lambda m: m.pop("files"), "files: is missing"),
    (lambda m: m["files"]["c0/img1.jpg"].pop("kind"), r"files\['c0/img1.jpg'\].kind: is missing"),
    (lambda m: m["files"]["c0/img1.jpg"].__setitem__("packed_bytes", "9"),
     r"files\['c0/img1.jpg'\].packed_bytes: must be an integer"),
    (lambda m: m.__setitem__("mask", [0, 999]), r"mask\[1\]: must be an integer in 0..191"),
    ("truncate", "not valid JSON"),
])
def test_damaged_pack_manifests_are_named(tmp_path, capsys, damage, field):
    """Class: pack manifests. unpack, and a loader on any folder inside the pack (or below
    a folder holding a broken manifest), say which file and field is wrong: exit 1 and a
    ManifestError, no traceback."""
    _, packed = _residual_pack(tmp_path)
    p = os.path.join(packed, freqload.tools.pack.MANIFEST)
    if damage == "truncate":
        with open(p, "rb") as f:
            data = f.read()
        with open(p, "wb") as f:
            f.write(data[:len(data) // 2])
    else:
        _edit_manifest(packed, damage)
    rc, err = run_cli(capsys, "unpack", packed, tmp_path / "out")
    assert rc == 1 and "freqload-pack.json" in err and (field.replace("\\", "") in err or
                                                        "not valid JSON" in err), err
    with pytest.raises(freqload.errors.ManifestError, match=r"freqload-pack\.json: "):
        DCTLoader(os.path.join(packed, "c0"), batch_size=2, engine="native", **LOADER)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_negative_offset_is_the_sample_status_in_both_engines(tmp_path, engine):
    """Class: a negative offset reaching an engine (an index damaged in memory). The core
    refuses it per sample: under skip the others come and the count is exact (the DALI
    engine used to abort its pipeline); under raise the message says why."""
    from freqload.data.sources import resolve_source

    (path,) = make_shards(str(tmp_path), counts=(4,))
    shards = resolve_source(path)
    shards.offsets[1] = -5
    skip = DCTLoader(shards, batch_size=4, engine=engine, on_error="skip", **LOADER)
    assert ys(skip) == [0, 2, 3] and skip.stats.skipped == 1
    with pytest.raises(freqload.FreqloadError, match="negative offset"):
        for _ in DCTLoader(shards, batch_size=4, engine=engine, **LOADER):
            pass


def test_a_stalled_server_is_named(tmp_path, server, monkeypatch):
    """Class: remote errors. A server that sends nothing: an error naming the URL within the
    timeout ($FREQLOAD_REMOTE_TIMEOUT), not a bare TimeoutError after a minute."""
    make_shards(str(tmp_path / "s"), counts=(2,))
    server.add_folder(tmp_path / "s")
    server.mode["s-000.tar"] = "stall"
    monkeypatch.setattr(remote, "TIMEOUT", 1.0, raising=False)
    t0 = time.monotonic()
    with pytest.raises(OSError, match=r"s-000\.tar: no data for 1 s"):
        DCTLoader(f"{server.url}/s-000.tar", batch_size=2, engine="native", **LOADER)
    assert time.monotonic() - t0 < server.stall


def test_a_dangling_link_does_not_abort_pack_or_shards(tmp_path, capsys):
    """Class: unreadable source files. One dangling link: the rest is packed (and written as
    shards), the link is named on stderr and in the manifest, exit 1 (not 2, a usage
    error)."""
    src = photo_folder(tmp_path / "src")
    os.symlink(str(tmp_path / "gone.jpg"), os.path.join(src, "c1", "dangling.jpg"))
    rc, err = run_cli(capsys, "pack", src, tmp_path / "packed", "--workers", "1")
    assert rc == 1 and "dangling.jpg" in err and "could not be read" in err, err
    with open(tmp_path / "packed" / freqload.tools.pack.MANIFEST) as f:
        man = json.load(f)
    assert man["files"]["c1/dangling.jpg"]["kind"] == "unreadable"
    assert man["totals"]["packed"] == 6
    rc, err = run_cli(capsys, "shards", src, tmp_path / "shards")
    assert rc == 1 and "dangling.jpg" in err, err
    with open(tmp_path / "shards" / "freqload-shards.json") as f:
        assert json.load(f)["totals"]["samples"] == 6


def test_a_brace_range_typo_is_refused_before_expanding(tmp_path):
    """Class: a typo like {0..99999999}: refused by counting, in a fresh process with a
    deadline (expanding it would take minutes and gigabytes)."""
    script = ("from freqload.data.shards import shard_paths\n"
              "try:\n    shard_paths('x-{0..99999999}.tar')\n"
              "except ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert "expands to 100,000,000 names" in out.stdout, out.stdout + out.stderr[-1000:]


def test_damaged_mask_and_stats_files_are_named(tmp_path):
    """Class: damaged JSON read back: a truncated mask file and a stats file with a field
    missing or of the wrong kind name the file (and the field)."""
    from freqload.loading.stats import ChannelStats

    mask = tmp_path / "mask.json"
    mask.write_text('{"indices": [0, 1, 2')
    with pytest.raises(ValueError, match=r"mask\.json: not valid JSON \(cut short\?\)"):
        DCTLoader(photo_folder(tmp_path / "a"), batch_size=2, engine="native", mask=str(mask),
                  **LOADER)
    stats = tmp_path / "stats.json"
    good = json.loads(ChannelStats(np.zeros(192), np.ones(192)).to_json())
    for damage, field in ((lambda d: d.pop("std"), "std: is missing"),
                          (lambda d: d["mean"].__setitem__(5, "x"), r"mean\[5\]: must be a number"),
                          (lambda d: d.__setitem__("mean", [0.0]), "mean: must have 192 items")):
        d = json.loads(json.dumps(good))
        damage(d)
        stats.write_text(json.dumps(d))
        with pytest.raises(freqload.errors.ManifestError, match=r"stats\.json: " + field):
            ChannelStats.load(str(stats))
