"""benchmarks/loader.py runs end to end on a small folder (a smoke test: the figures
themselves come from real runs, never from tests)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT, needs_dali, pillow_jpeg, rng_image


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
    got = {r["pipeline"]: r for r in json.loads(out.read_text())["results"]}
    assert set(got) == set(rows)
    assert all(r["img_per_s"] > 0 and r["bytes_per_sample"] == 24 * 56 * 56 * 2
               for r in got.values())
    assert "fast entropy path: dct24-dali " in res.stdout
    assert "fast entropy path: dct24-dali-train " in res.stdout
