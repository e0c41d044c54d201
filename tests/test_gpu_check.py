"""scripts/gpu_check.sh --dry-run: the GPU check's path on a CPU machine (device cpu).

On a machine with CUDA the same script (without --dry-run) also runs the CUDA tests;
here it must build nothing new, run the device rows of the benchmark on the CPU and print
them as JSON: the loader's measured bytes per sample, a float32 batch on the device.
"""
from __future__ import annotations

import json
import os
import subprocess

from conftest import ROOT


def test_gpu_check_dry_run_prints_the_device_rows():
    res = subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu_check.sh"), "--dry-run",
                          "0.5"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                         env=dict(os.environ, FREQLOAD_PROGRESS="0"))
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["device"] == "cpu" and out["cuda"] is None
    rows = {r["pipeline"]: r for r in out["rows"]}
    assert set(rows) == {"dct24-native-train", "dct24-native-blocks-cpu", "dct24-native-blocks-dev"}
    assert rows["dct24-native-train"]["bytes_per_sample"] == 24 * 56 * 56 * 2
    assert rows["dct24-native-blocks-cpu"]["bytes_per_sample"] == 24 * 56 * 56 * 2
    assert rows["dct24-native-blocks-dev"]["bytes_per_sample"] > 0
    assert all(r["images"] > 0 and r["img_per_s"] > 0 for r in rows.values())
