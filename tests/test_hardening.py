"""Resource limits with crafted files, and thread safety.

The scan limit is exercised with a progressive file that jpegtran writes from a
scan script of many successive-approximation scans (a mild CPU bomb: each scan is
a pass over the image); without the limit the same file decodes to exactly the
original's coefficients (jpegtran is lossless), which checks the crafted file.
"""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import freqload
from freqload import ImageTooLargeError
from freqload.codec.read import thread_decoder
from freqload.codec.recipe import Recipe
from freqload.codec.transform import Transform

from conftest import ENGINES, pillow_jpeg, rng_image, tool

JPEGTRAN = tool("jpegtran")


def many_scans_jpeg(tmp_path, data: bytes, refinements: int = 9) -> tuple[bytes, int]:
    """(progressive JPEG, number of scans) made by jpegtran from a scan script."""
    lines = ["0,1,2: 0 0 0 1;", "0,1,2: 0 0 1 0;"]
    for comp in range(3):
        lines.append(f"{comp}: 1 63 0 {refinements};")
        lines += [f"{comp}: 1 63 {al + 1} {al};" for al in range(refinements - 1, -1, -1)]
    script = tmp_path / "scans.txt"
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run([JPEGTRAN, "-scans", str(script)], input=data, capture_output=True,
                         check=True).stdout
    return out, len(lines)


@pytest.mark.skipif(JPEGTRAN is None, reason="jpegtran is not installed (libjpeg-turbo-progs; "
                    "the CI installs it)")
def test_scan_limit_stops_a_many_scan_file(tmp_path):
    base = pillow_jpeg(rng_image(64, 80), quality=90)
    bomb, scans = many_scans_jpeg(tmp_path, base)
    assert scans == 32
    c = freqload.read_coefficients(bomb, max_scans=None)
    assert c.info.progressive
    for a, b in zip(freqload.read_coefficients(base).components, c.components):
        np.testing.assert_array_equal(a, b)
    freqload.read_coefficients(bomb, max_scans=32)  # exactly at the limit: fine
    with pytest.raises(ImageTooLargeError, match="max_scans"):
        freqload.read_coefficients(bomb, max_scans=31)
    with pytest.raises(ImageTooLargeError, match="max_scans"):
        freqload.read_coefficients(bomb, max_scans=5)


def test_file_size_and_memory_limits(tmp_path):
    data = pillow_jpeg(rng_image(100, 120), quality=90, subsampling=2)
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageTooLargeError, match="max_file_size"):
        freqload.read_coefficients(data, max_file_size=len(data) - 1)
    with pytest.raises(ImageTooLargeError, match="max_file_size"):
        freqload.read_coefficients(path, max_file_size=100)  # a path: refused unread
    freqload.read_coefficients(data, max_file_size=len(data))
    # 100x120 4:2:0: luma 14x16 blocks (allocated to 2x2 MCUs), chroma 7x8: 128 bytes each
    need = (14 * 16 + 2 * 7 * 8) * 128
    freqload.read_coefficients(data, max_memory=need)
    with pytest.raises(ImageTooLargeError, match="max_memory"):
        freqload.read_coefficients(data, max_memory=need - 1)
    with pytest.raises(ValueError, match="limits"):
        freqload.read_coefficients(data, max_scans=-1)


@pytest.mark.parametrize("engine", ENGINES)
def test_loader_counts_files_over_a_limit_as_bad(tmp_path, engine):
    root = tmp_path / "data" / "c"
    root.mkdir(parents=True)
    sizes = []
    for i in range(6):
        data = pillow_jpeg(rng_image(48 + 16 * i, 64, seed=i), quality=80)
        (root / f"{i}.jpg").write_bytes(data)
        sizes.append(len(data))
    limit = sorted(sizes)[3]  # the 2 largest files are over it
    loader = freqload.DCTLoader(str(tmp_path / "data"),
                                recipe=Recipe(transform="eval", max_file_size=limit), batch_size=4,
                                size=(4, 4), engine=engine, num_workers=1, on_error="skip")
    n = sum(len(y) for _, y in loader)
    assert n == 4 and loader.stats.skipped == 2
    strict = freqload.DCTLoader(str(tmp_path / "data"),
                                recipe=Recipe(transform="eval", max_file_size=limit), batch_size=4,
                                size=(4, 4), engine=engine, num_workers=1)
    with pytest.raises(ImageTooLargeError, match="max_file_size"):
        list(strict)


def test_many_threads_give_the_serial_results():
    """16 threads over the same decoders' code paths (thread-local decoders, GIL released)
    give exactly what one thread gives: coefficients, int16 samples for every transform."""
    datas = [pillow_jpeg(rng_image(40 + 13 * (i % 7), 50 + 11 * (i % 5), seed=i),
                         quality=60 + i % 40, subsampling=i % 3, progressive=bool(i % 2))
             for i in range(48)]
    mask = freqload.ChannelMask.dctnet32()

    def work(i):
        c = freqload.read_coefficients(datas[i])
        out = [np.concatenate([a.ravel() for a in c.components])]
        for kind in ("blocks", "eval", "train"):
            out.append(freqload.codec.resample.sample(c, Transform(kind), mask, (5, 6), key=i))
            x = np.empty((len(mask), 5, 6), dtype=np.int16)  # the engines' one-call path
            thread_decoder().decode(datas[i], Recipe(mask, (5, 6), transform=kind).packed, i, x)
            out.append(x)
        return out

    serial = [work(i) for i in range(len(datas))]
    for _ in range(3):
        with ThreadPoolExecutor(16) as ex:
            parallel = list(ex.map(work, list(range(len(datas))) * 2))
        for i, got in enumerate(parallel):
            for a, b in zip(serial[i % len(datas)], got):
                np.testing.assert_array_equal(a, b)
