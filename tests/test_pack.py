"""freqload pack / unpack: kept coefficients exact, residual rebuilds the originals, the
loader refuses masks the pack cannot serve and matches the originals where it should."""
from __future__ import annotations

import hashlib
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import freqload
from freqload.data.packs import MANIFEST, PARTIAL, check_mask, find_pack_root
from freqload.tools import pack as packmod
from freqload.tools.pack import pack, unpack

from conftest import ENGINES, pillow_jpeg, rng_image


@pytest.fixture()
def src(tmp_path):
    root = tmp_path / "src"
    k = 0
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            h, w = [(64, 96), (75, 101), (120, 80), (33, 47)][i]
            (root / cls / f"{i}.jpg").write_bytes(
                pillow_jpeg(rng_image(h, w, seed=k, gray=(k == 5)), quality=85 + k,
                            subsampling=k % 3, progressive=(k == 3)))
            k += 1
    buf = io.BytesIO()
    Image.fromarray(rng_image(10, 10)).save(buf, "PNG")
    (root / "b" / "png_named.jpg").write_bytes(buf.getvalue())
    return str(root)


def masked(c, mask):
    keep = [np.zeros(64, bool) for _ in c.components]
    for k in freqload.ChannelMask.preset(mask).indices:
        if k // 64 < len(keep):
            keep[k // 64][k % 64] = True
    return [np.where(kp, a, 0) for a, kp in zip(c.components, keep)]


def test_pack_keeps_the_mask_bands_exactly_and_unpack_rebuilds(src, tmp_path):
    dst = str(tmp_path / "packed")
    man = pack(src, dst, "dctnet24", residual=True, workers=2, progress=False)
    assert man["format"] == "freqload-pack/1" and man["freqload_version"] == freqload.__version__
    assert man["mask"] == list(freqload.ChannelMask.dctnet24().indices) and man["residual"]
    on_disk = json.loads(open(os.path.join(dst, MANIFEST)).read())
    assert on_disk["files"] == man["files"] and len(man["files"]) == 9
    for rel, e in man["files"].items():
        data = open(os.path.join(src, rel), "rb").read()
        assert e["sha256"] == hashlib.sha256(data).hexdigest() and e["bytes"] == len(data)
        if rel.endswith("png_named.jpg"):
            assert e["kind"] == "copied"
            assert open(os.path.join(dst, rel), "rb").read() == data
            continue
        assert e["kind"] == "packed" and e["packed_bytes"] < e["bytes"]
        o = freqload.read_coefficients(os.path.join(src, rel))
        p = freqload.read_coefficients(os.path.join(dst, rel))
        assert not p.info.progressive and p.info.sampling == o.info.sampling
        for a, b in zip(masked(o, "dctnet24"), p.components):
            np.testing.assert_array_equal(a, b)  # kept exactly, the rest zero
        for qa, qb in zip(o.quant_tables, p.quant_tables):
            np.testing.assert_array_equal(qa, qb)
    out = str(tmp_path / "unpacked")
    assert unpack(dst, out, progress=False) == 9
    for rel in man["files"]:
        if rel.endswith("png_named.jpg"):
            continue
        o = freqload.read_coefficients(os.path.join(src, rel))
        u = freqload.read_coefficients(os.path.join(out, rel))
        for a, b in zip(o.components, u.components):
            np.testing.assert_array_equal(a, b)


def test_pack_resumes_and_refuses_another_mask(src, tmp_path, monkeypatch):
    dst = str(tmp_path / "packed")
    pack(src, dst, "dctnet24", workers=1, progress=False)
    # interrupted: only a partial manifest, and two outputs missing
    os.replace(os.path.join(dst, MANIFEST), os.path.join(dst, PARTIAL))
    gone = ["a/1.jpg", "b/2.jpg"]
    for rel in gone:
        os.remove(os.path.join(dst, rel))
    calls = []
    real = packmod._pack_data
    monkeypatch.setattr(packmod, "_pack_data", lambda rel, *a: calls.append(rel) or real(rel, *a))
    man = pack(src, dst, "dctnet24", workers=1, progress=False)
    assert sorted(calls) == gone and len(man["files"]) == 9
    assert not os.path.exists(os.path.join(dst, PARTIAL))
    # sources changed since: their recorded SHA-256 no longer matches, so they are packed
    # again - one with other pixels, one of the same size (its JFIF density changed)
    changed = os.path.join(src, "a", "0.jpg")
    new = pillow_jpeg(rng_image(40, 40, seed=99), quality=70)
    open(changed, "wb").write(new)
    same_size = os.path.join(src, "b", "3.jpg")
    old = open(same_size, "rb").read()
    assert old[6:11] == b"JFIF\x00"
    edited = old[:14] + b"\x00\x07" + old[16:]  # X density
    assert len(edited) == len(old) and edited != old
    open(same_size, "wb").write(edited)
    calls.clear()
    man = pack(src, dst, "dctnet24", workers=1, progress=False)
    assert sorted(calls) == ["a/0.jpg", "b/3.jpg"]
    assert man["files"]["a/0.jpg"]["sha256"] == hashlib.sha256(new).hexdigest()
    assert man["files"]["b/3.jpg"]["sha256"] == hashlib.sha256(edited).hexdigest()
    p = freqload.read_coefficients(os.path.join(dst, "a", "0.jpg"))
    for a, b in zip(masked(freqload.read_coefficients(new), "dctnet24"), p.components):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="another mask"):
        pack(src, dst, "dctnet32", workers=1, progress=False)
    with pytest.raises(ValueError, match="inside"):
        pack(src, os.path.join(src, "x"), progress=False)
    with pytest.raises(ValueError, match="without --residual"):
        unpack(dst, str(tmp_path / "u"))


def test_loader_checks_the_pack_mask(src, tmp_path):
    dst = str(tmp_path / "packed")
    pack(src, dst, "dctnet32", workers=1, progress=False)
    check_mask(dst, "dctnet24")  # a subset: fine
    with pytest.raises(ValueError, match="dropped"):
        freqload.DCTLoader(dst, batch_size=2, mask="dctnet48", engine="native", num_workers=0)
    freqload.DCTLoader(dst, batch_size=2, mask="dctnet24", engine="native", num_workers=0)


@pytest.mark.parametrize("engine", ENGINES)
def test_loader_on_packed_data_equals_the_originals(src, tmp_path, engine):
    dst = str(tmp_path / "packed")
    pack(src, dst, "dctnet24", workers=1, progress=False)

    def run(root, recipe):
        loader = freqload.DCTLoader(root, recipe, batch_size=3, mask="dctnet24", size=(6, 7),
                                    engine=engine, num_workers=1, normalize=False,
                                    on_error="skip", shuffle=True, seed=1)
        return torch.cat([x for x, _ in loader])

    # block crops with nearest chroma: only the kept bands are read -> bit-identical
    a = run(src, freqload.Recipe(transform="blocks", chroma="nearest"))
    b = run(dst, freqload.Recipe(transform="blocks", chroma="nearest"))
    assert torch.equal(a, b)
    # DCT-domain chroma upsampling and resizing read neighbouring frequencies: close only
    for transform in ("blocks", "train"):
        recipe = freqload.Recipe(transform=transform)
        a, b = run(src, recipe).double(), run(dst, recipe).double()
        assert a.shape == b.shape
        if transform == "train":
            assert not torch.equal(a, b)
        mse = float(((a - b) ** 2).mean())
        assert mse < float((a ** 2).mean()) * 0.05  # a small part of the signal


def _segments(data: bytes):
    """(marker, payload) of each segment before SOS."""
    i, out = 2, []
    while data[i] == 0xFF and data[i + 1] != 0xDA:
        n = int.from_bytes(data[i + 2:i + 4], "big")
        out.append((data[i + 1], data[i + 4:i + 2 + n]))
        i += 2 + n
    return out


def _without_pack_segment(data: bytes) -> bytes:
    """The same JPEG with freqload's APP15 segment cut out: a plain file with restarts."""
    at = data.index(b"freqload-pack\0") - 4  # after the marker and its length
    assert data[at:at + 2] == b"\xff\xef"
    n = int.from_bytes(data[at + 2:at + 4], "big")
    return data[:at] + data[at + 2 + n:]


def _intervals(data: bytes):
    """[(start, end)): the byte ranges of the scan's restart intervals, in order."""
    sos = data.index(b"\xff\xda")
    at = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    out = []
    i = at
    while True:
        i = data.index(b"\xff", i)
        if data[i + 1] == 0x00:
            i += 2
            continue
        out.append((at, i))
        if not 0xD0 <= data[i + 1] <= 0xD7:
            return out
        at = i = i + 2


def test_packs_mark_restarts_in_each_row_and_loaders_start_at_the_crop(src, tmp_path):
    """freqload pack writes restart intervals of ceil(MCUs per row / 16) MCUs and an APP15
    segment (version 2) saying so; with partial_decode the fast path then starts at the
    restart marker above the first row a sample reads, and passes over the intervals left
    and right of its columns. The samples are those of decoding every row, of the same file
    without the segment (decoded from the top), of the same file with one interval per row
    (jpegtran's, the segment's version 1), and of libjpeg alone; a pack whose restart markers
    above the crop are out of sequence is decoded from the top (libjpeg's outcome)."""
    import shutil
    import subprocess

    from freqload import _core

    dst = str(tmp_path / "packed")
    pack(src, dst, "dctnet24", workers=1, progress=False)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(dst) for f in fs
                   if f.endswith(".jpg") and "png" not in f)
    assert len(files) == 8  # the PNG is copied as it was
    dec = _core.Decoder()

    def sample(data, recipe, key, libjpeg=False):
        dec.libjpeg_only = libjpeg
        out = np.zeros((recipe.channels, recipe.out_h, recipe.out_w), np.int16)
        try:
            res = dec.decode(data, recipe.packed, key, out)
            return ("ok", res, out)
        except freqload.FreqloadError as e:
            return ("error", str(e))
        finally:
            dec.libjpeg_only = False

    def same(a, b):
        return a[0] == b[0] and a[1] == b[1] and (a[0] == "error" or np.array_equal(a[2], b[2]))

    recipes = [freqload.Recipe("dctnet24", (3, 4), transform=t, partial_decode=p)
               for t in ("train", "eval", "blocks") for p in (True, False)]
    started_lower = passed_over = 0
    for f in files:
        data = open(f, "rb").read()
        info = freqload.read_header(data)
        mcu_w = 8 * max(c.h_samp for c in info.components) if info.num_components > 1 else 8
        per_row = -(-info.width // mcu_w)
        assert info.restart_interval == -(-per_row // 16)
        assert (0xEF, b"freqload-pack\0\x02") in _segments(data)
        plain = _without_pack_segment(data)
        assert freqload.read_header(plain).restart_interval == info.restart_interval
        versions = [data, plain]
        if shutil.which("jpegtran"):  # a version-1 pack: one interval per MCU row
            v1 = subprocess.run(["jpegtran", "-copy", "all", "-restart", "1"], input=data,
                                capture_output=True, check=True).stdout
            at = v1.index(b"freqload-pack\0\x02") + 14
            v1 = v1[:at] + b"\x01" + v1[at + 1:]
            assert freqload.read_header(v1).restart_interval == per_row
            versions.append(v1)
        for key in range(12):
            for r in recipes:
                want = sample(data, recipes[recipes.index(r) | 1], key)  # every row decoded
                assert want[0] == "ok"
                for d in versions:
                    assert same(sample(d, r, key), want)
                assert same(sample(data, r, key, libjpeg=True), want)
        # out of sequence above the crop: the count is off, so the fast path reads from the
        # top, declines at the marker, and libjpeg decodes the file (its warning)
        rst = data.index(b"\xff\xd0")
        bad = data[:rst + 1] + b"\xd3" + data[rst + 2:]
        for key in range(12):
            for r in recipes[::2]:
                assert same(sample(bad, r, key), sample(bad, r, key, libjpeg=True))
        # the first row's data overwritten (no marker touched): a sample that starts lower
        # never reads it (no warning, the same values), as partial decoding never reads
        # the rows below a sample; one that reads the first row sees the damage
        sos = data.index(b"\xff\xda")
        start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
        hurt = data[:start] + b"\x55" * (rst - start) + data[rst:]
        for key in range(12):
            r = recipes[0]  # train, partial
            got, want = sample(hurt, r, key), sample(data, r, key)
            if got[0] == "ok" and got[1][0] == 0 and same(got, want):
                started_lower += 1
        # the data of every interval that starts a row overwritten (the scan's last
        # excepted): a train sample that reads none of those columns passes over them (the
        # same values, no warning), though it reads those rows
        spans = _intervals(data)[:-1]
        first_col = [k for k, _ in enumerate(spans)
                     if k * info.restart_interval % per_row == 0]
        hurt = bytearray(data)
        for k in first_col:
            a, b = spans[k]
            hurt[a:b] = b"\x55" * (b - a)
        for key in range(12):
            got, want = sample(bytes(hurt), recipes[0], key), sample(data, recipes[0], key)
            if got[0] == "ok" and got[1][0] == 0 and same(got, want):
                passed_over += 1
    assert started_lower > 20  # of 8 files x 12 keys
    assert passed_over > 20  # 49 here; 0 with the passing over disabled


def test_cli_pack_and_unpack(src, tmp_path, capsys):
    from freqload.tools.cli import main

    dst, out = str(tmp_path / "p"), str(tmp_path / "u")
    assert main(["pack", src, dst, "--mask", "dctnet24", "--residual", "--workers", "1"]) == 0
    assert "packed 8 files (1 copied" in capsys.readouterr().out
    assert main(["unpack", dst, out]) == 0
    assert os.path.exists(os.path.join(out, "a", "0.jpg"))


def test_loader_finds_the_pack_from_any_folder_or_file_inside_it(src, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(src, data / "train")  # data/train/{a,b}/...
    dst = str(tmp_path / "packed")
    pack(str(data), dst, "dctnet24", workers=1, progress=False)
    inside = os.path.join(dst, "train")
    files = [os.path.join(inside, "a", f) for f in sorted(os.listdir(os.path.join(inside, "a")))]
    for source in (inside, files, [(f, 0) for f in files]):
        with pytest.raises(ValueError, match="inside the pack .*dropped"):
            freqload.DCTLoader(source, batch_size=2, mask="dctnet48", engine="native",
                               num_workers=0)
        freqload.DCTLoader(source, batch_size=2, mask="dctnet24", engine="native", num_workers=0)
    assert find_pack_root(files[0]) == dst and find_pack_root(src) is None


def test_pack_of_a_missing_folder_fails(tmp_path, capsys):
    from freqload.tools.cli import main

    with pytest.raises(FileNotFoundError, match="not a folder"):
        pack(str(tmp_path / "nope"), str(tmp_path / "out"), progress=False)
    assert main(["pack", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("freqload pack: error: ") and "no such folder" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


SLOW_PACK = '''
import time
import freqload.tools.pack as p
_real = p._pack_one
def slow(job):
    time.sleep(0.05)
    return _real(job)
p._pack_one = slow
'''


def _many_images(root, n):
    for i in range(n):
        d = root / f"c{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:03d}.jpg").write_bytes(pillow_jpeg(rng_image(48, 64, seed=i), quality=80,
                                                     subsampling=i % 3))


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        pids.append(int(pid))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("how", ["SIGINT to the group", "SIGTERM to the parent"])
def test_interrupted_pack_stops_at_once_and_resumes_to_the_same_pack(tmp_path, how):
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "src"
    _many_images(root, 120)
    (tmp_path / "slowpack.py").write_text(SLOW_PACK)
    dst = str(tmp_path / "interrupted-pack")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), FREQLOAD_PROGRESS="0")
    # Ctrl-C's handler as in a terminal: a test run started in the background by a
    # non-interactive shell passes SIGINT on ignored, and pack rightly leaves that alone
    code = (f"import signal, sys, slowpack; from freqload.tools.cli import main; "
            f"signal.signal(signal.SIGINT, signal.default_int_handler); "
            f"sys.exit(main(['pack', {str(root)!r}, {dst!r}, '--workers', '2']))")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        done = sum(len(fs) for _, _, fs in os.walk(dst)) if os.path.isdir(dst) else 0
        if done >= 12:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the pack ended before it could be interrupted"
    sent = time.monotonic()
    if how.startswith("SIGINT"):
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        expect_sig = signal.SIGINT
    else:
        proc.send_signal(signal.SIGTERM)  # the parent alone, as a job scheduler does
        expect_sig = signal.SIGTERM
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 128 + expect_sig
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"interrupted by {expect_sig.name}" in lines[0] \
        and "resume" in lines[0], err
    time.sleep(0.5)
    assert _processes_mentioning(dst) == []  # no worker left behind
    partial = json.load(open(os.path.join(dst, PARTIAL)))
    assert 0 < len(partial["files"]) < 120
    for rel in partial["files"]:
        assert os.path.exists(os.path.join(dst, rel))
    # resume (without the slowdown) and compare with an uninterrupted pack
    man = pack(str(root), dst, workers=2, progress=False)
    whole = pack(str(root), str(tmp_path / "whole"), workers=2, progress=False)
    assert man["files"] == whole["files"] and len(man["files"]) == 120
    for rel in whole["files"]:
        assert open(os.path.join(dst, rel), "rb").read() == \
            open(os.path.join(tmp_path / "whole", rel), "rb").read()
    assert not os.path.exists(os.path.join(dst, PARTIAL))
