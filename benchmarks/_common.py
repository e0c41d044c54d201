"""Helpers the benchmark scripts share: the data folder, the raw libjpeg reader, CPU time."""
from __future__ import annotations

import os
import shlex
import subprocess
import time
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "..", "..", "shared", "data", "photos", "imagenet-sample-500")


from freqload.bench import cpu_seconds, list_jpegs  # noqa: E402,F401  (one home each)


def default_folder() -> str:
    """../shared/data/photos/imagenet-sample-500, else freqload bench's embedded set."""
    if os.path.isdir(DEFAULT_DIR):
        return DEFAULT_DIR
    from freqload.bench import default_dataset

    print("../shared/data is absent: using synthetic ImageNet-sized JPEGs", file=sys.stderr)
    return default_dataset(progress="always")


def build_raw_reader() -> str:
    """Compile raw_read.c against libjpeg (pkg-config) into benchmarks/.build."""
    out_dir = os.path.join(HERE, ".build")
    exe = os.path.join(out_dir, "raw_read")
    src = os.path.join(HERE, "raw_read.c")
    if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
        return exe
    os.makedirs(out_dir, exist_ok=True)
    try:
        flags = shlex.split(subprocess.run(["pkg-config", "--cflags", "--libs", "libjpeg"],
                                           check=True, capture_output=True, text=True).stdout)
    except (OSError, subprocess.CalledProcessError):
        flags = ["-ljpeg"]
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-o", exe, src, *flags, "-lpthread"], check=True)
    return exe


def run_raw(exe: str, files: list[str], threads: int, seconds: float) -> tuple[float, float]:
    """(img/s, CPU-ms/img) of libjpeg's own coefficient read in raw_read.c."""
    c0 = cpu_seconds()
    out = subprocess.run([exe, str(threads), str(seconds), *files], check=True,
                         capture_output=True, text=True).stdout.split()
    images, elapsed = int(out[0]), float(out[1])
    return images / elapsed, (cpu_seconds() - c0) * 1e3 / images


def run_loader(loader, seconds: float) -> tuple[float, float, int]:
    """(img/s, CPU-ms/img, bytes/sample) over whole epochs lasting >= seconds."""
    for _ in loader:  # warm-up epoch (pipeline build, operator load, page cache)
        pass
    c0, t0, n = cpu_seconds(), time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        for x, y in loader:
            n += len(y)
    elapsed = time.perf_counter() - t0
    return n / elapsed, (cpu_seconds() - c0) * 1e3 / n, loader.bytes_per_sample


def run_rgb_dali(files, threads: int, batch: int, seconds: float, recipe: str, out: str):
    """A DALI CPU RGB recipe (freqload.bench's), copied into torch tensors."""
    from freqload.bench import dali_rgb_batches
    from freqload.sampler import TransferStats

    it = dali_rgb_batches(files, batch, threads, recipe, out)
    for _ in range(3):
        next(it)
    c0, t0, crossed = cpu_seconds(), time.perf_counter(), TransferStats()
    while time.perf_counter() - t0 < seconds:
        crossed.add(next(it))
    elapsed = time.perf_counter() - t0
    n = crossed.samples_to_device
    return n / elapsed, (cpu_seconds() - c0) * 1e3 / n, crossed.bytes_to_device // n
