"""The native core on its own, without Python: tests/native/fl_driver.c.

Built here without sanitizers (scripts/sanitize.sh has the ASan/UBSan, valgrind, TSan
and libFuzzer builds of the same driver, for longer runs). Over every input it runs
each entry point (header, coefficients strict and not, with and without partial
decoding, a lossless re-encode that must decode to the same coefficients, every
transform, the device-regroup planes), and in --threads mode it checks that many
threads at once, each visiting the files in its own order, give exactly what a fresh
decoder gives for each file; in --differential mode, that the fast entropy path gives
libjpeg's outcome on every input and on seeded mutations of it.
"""
from __future__ import annotations

import glob
import os
import runpy
import shlex
import shutil
import subprocess

import pytest

from conftest import CONFORMANCE, PHOTOS, ROOT, pillow_jpeg, rng_image

NATIVE = os.path.join(ROOT, "freqload", "_native")


def _libjpeg_flags() -> list[str]:
    try:
        out = subprocess.run(["pkg-config", "--cflags", "--libs", "libjpeg"], check=True,
                             capture_output=True, text=True).stdout
        return shlex.split(out)
    except (OSError, subprocess.CalledProcessError):
        return ["-ljpeg"]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "") or "cc") or shutil.which("gcc")
    if cc is None:  # setup.sh installs a compiler; the extension itself needs one
        pytest.fail("no C compiler (cc) to build tests/native/fl_driver.c")
    build = runpy.run_path(os.path.join(NATIVE, "build_config.py"))
    out = str(tmp_path_factory.mktemp("native") / "fl_driver")
    cmd = [cc, *build["CORE_CFLAGS"], "-Wall", "-o", out,
           os.path.join(ROOT, "tests", "native", "fl_driver.c"),
           *[os.path.join(NATIVE, s) for s in build["CORE_SOURCES"]],
           *_libjpeg_flags(), "-lm", "-lpthread"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


def _inputs(tmp_path):
    """The shared corpus where it exists (every file: valid, corrupt, not JPEG), else
    generated files, a few damaged."""
    if os.path.isdir(CONFORMANCE):
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(CONFORMANCE) for f in fs
                       if os.path.getsize(os.path.join(d, f)) < 40 << 20)
        assert len(files) >= 400, len(files)
        return files
    files = []
    for k, (h, w) in enumerate([(64, 48), (75, 130), (9, 300)]):
        data = pillow_jpeg(rng_image(h, w, seed=k), quality=60 + 10 * k, subsampling=k % 3,
                           progressive=k == 1)
        for name, d in ((f"g{k}.jpg", data), (f"t{k}.jpg", data[:len(data) // 2]),
                        (f"x{k}.jpg", data[:-30] + b"\xff\xd8" + data[-30:])):
            (tmp_path / name).write_bytes(d)
            files.append(str(tmp_path / name))
    return files


def test_driver_runs_every_entry_point_on_every_input(driver, tmp_path):
    files = _inputs(tmp_path)
    res = subprocess.run([driver, *files], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == f"fl_driver: {len(files)} inputs"


def test_driver_threads_give_what_a_fresh_decoder_gives(driver, tmp_path):
    files = _inputs(tmp_path)
    res = subprocess.run([driver, "--threads", "3", *files], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
    assert f"{len(files)} inputs x 3 threads, 0 samples differ" in res.stdout


@pytest.mark.parametrize("threads", [3, 0])
def test_driver_pool_gives_what_a_fresh_decoder_gives(driver, tmp_path, threads):
    """--pool: the core's thread pool with seven batches in flight (five recipes, bytes and
    path items, one cancelled, one freed unfinished); every slot's status, message, values
    and layout equal a serial decode on a fresh decoder. 0 threads: the waiter decodes."""
    files = _inputs(tmp_path)
    res = subprocess.run([driver, "--pool", str(threads), *files], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
    assert (f"{len(files)} inputs x 7 jobs on a pool of {threads} threads, 0 slots differ"
            in res.stdout), res.stdout


def test_driver_fast_entropy_path_matches_libjpeg_under_damage(driver, tmp_path):
    """--differential: each input and seeded mutations of it (bit flips, cut and repeated
    spans, stray and renumbered markers, truncation, bytes before the EOI) decoded by the
    fast entropy path and by libjpeg alone must agree in status, message, warnings and
    values; strict and lenient, whole reads and every transform's sample with partial
    decoding on and off."""
    files = _inputs(tmp_path)
    photos = sorted(glob.glob(os.path.join(PHOTOS, "imagenet-sample-500", "*", "*")))[:12]
    jpegtran = shutil.which("jpegtran")
    for k, path in enumerate(photos[:4] if jpegtran else []):
        for args in (["-restart", "1"], ["-restart", "2B"], ["-grayscale", "-restart", "3"]):
            out = tmp_path / f"r{k}{args[-1]}.jpg"
            subprocess.run([jpegtran, *args, "-outfile", str(out), path], check=True)
            files.append(str(out))
    res = subprocess.run([driver, "--differential", "6", *files, *photos], capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert "0 differ from libjpeg alone" in res.stdout, res.stdout
