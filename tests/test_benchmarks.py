"""benchmarks/loader.py runs end to end on a small folder (a smoke test: the figures
themselves come from real runs, never from tests)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import HAVE_DALI, ROOT, needs_dali, pillow_jpeg, rng_image


@needs_dali
def test_loader_benchmark_rows_and_the_libjpeg_comparison(tmp_path):
    folder = tmp_path / "jpegs"
    folder.mkdir()
    for k in range(6):
        (folder / f"{k}.jpg").write_bytes(pillow_jpeg(rng_image(120 + 8 * k, 160, seed=k),
                                                      quality=85, subsampling=2))
    out = tmp_path / "rows.json"
    rows = ["dct24-dali", "dct24-dali-libjpeg", "dct24-dali-train", "dct24-dali-train-libjpeg"]
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "loader.py"),
                          str(folder), "--seconds", "0.2", "--repeat", "2", "--batch-size", "4",
                          "--rows", *rows, "--json", str(out)],
                         capture_output=True, text=True, timeout=600,
                         env={k: v for k, v in os.environ.items() if k != "FREQLOAD_ENTROPY"})
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(out.read_text())
    got = {r["pipeline"]: r for r in report["results"]}
    assert set(got) == set(rows)
    assert all(r["img_per_s"] > 0 and r["bytes_per_sample"] == 24 * 56 * 56 * 2
               for r in got.values())
    # per core: images per CPU-second; the sizes: the six files' mean pixels and bytes
    assert all(abs(r["img_per_s_per_core"] * r["cpu_ms_per_img"] - 1e3) < 1e-6
               for r in got.values())
    assert report["mean_pixels"] == sum((120 + 8 * k) * 160 for k in range(6)) / 6
    assert report["mean_bytes"] == sum(f.stat().st_size for f in folder.iterdir()) / 6
    assert "fast entropy path: dct24-dali " in res.stdout
    assert "fast entropy path: dct24-dali-train " in res.stdout


def _small_folder(tmp_path):
    folder = tmp_path / "jpegs" / "c"
    folder.mkdir(parents=True)
    for k in range(6):
        (folder / f"{k}.jpg").write_bytes(pillow_jpeg(rng_image(120 + 8 * k, 160, seed=k),
                                                      quality=85, subsampling=2))
    return folder.parent


@needs_dali
def test_loader_benchmark_engine_rows(tmp_path):
    out = tmp_path / "rows.json"
    rows = ["dct24-native", "dct24-dali", "dct24-native-planes", "dct24-dali-planes"]
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "loader.py"),
                          str(_small_folder(tmp_path)), "--seconds", "0.2", "--repeat", "2",
                          "--batch-size", "4", "--rows", *rows, "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert {r["pipeline"] for r in json.loads(out.read_text())["results"]} == set(rows)
    assert "engines: dct24-native " in res.stdout
    assert "engines: dct24-native-planes " in res.stdout


def test_memory_benchmark_runs_each_engine(tmp_path):
    out = tmp_path / "mem.json"
    engines = ["native", "process"] + (["dali"] if HAVE_DALI else [])
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "memory.py"),
                          str(_small_folder(tmp_path)), "--epochs", "1", "--workers", "1", "2",
                          "--engines", *engines, "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(out.read_text())["results"]
    assert [(r["engine"], r["workers"]) for r in got] == [(e, w) for e in engines for w in (1, 2)]
    assert all(r["samples"] == 6 and r["peak_rss_mb"] > r["base_rss_mb"] > 0 for r in got)
    assert max(r["processes"] for r in got if r["engine"] == "process") > 1  # forked workers
    assert {r["processes"] for r in got if r["engine"] != "process"} == {1}


def test_decode_benchmark_gives_per_core_figures_and_sizes(tmp_path):
    folder = _small_folder(tmp_path)
    out = tmp_path / "decode.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "decode.py"),
                          str(folder), "--seconds", "0.2", "--threads", "1", "--repeats", "2",
                          "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {r["pipeline"] for r in report["results"]} == {
        "raw-libjpeg", "freqload-core", "freqload", "freqload+dctnet24", "pillow-rgb"}
    assert all(r["cpu_ms_per_img"] > 0 and
               abs(r["img_per_s_per_core"] * r["cpu_ms_per_img"] - 1e3) < 1e-6
               for r in report["results"])
    assert report["mean_pixels"] == sum((120 + 8 * k) * 160 for k in range(6)) / 6
    assert "MP and" in res.stderr and "img/s/core" in res.stdout
    assert "2 interleaved run(s) per row (median)" in res.stderr


def test_augment_benchmark_runs(tmp_path):
    out = tmp_path / "aug.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "augment.py"),
                          "--batch", "4", "--size", "8", "--iters", "1", "--repeats", "1",
                          "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["op"] for r in rows} >= {"MixUp", "CutMix", "RandomErasing(0.5)", "Rotate", "Hue",
                                       "copy only"}
    assert all(r["ms_per_batch"] > 0 for r in rows)
