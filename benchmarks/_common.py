"""Helpers the benchmark scripts share: the data folder, the raw libjpeg reader, CPU time."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

from freqload.data.sources import list_jpegs
from freqload.tools.cpu_time import cpu_seconds

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "..", "..", "shared", "data", "photos", "imagenet-sample-500")
#: what the benchmark scripts take from here (list_jpegs and cpu_seconds passed through)
__all__ = ["DEFAULT_DIR", "HERE", "LoopbackS3", "build_core_reader", "build_raw_reader",
           "cpu_seconds", "default_folder", "image_sizes", "list_jpegs", "per_core", "run_loader",
           "run_raw", "run_rgb_dali", "write_bench_shards"]


def default_folder() -> str:
    """../shared/data/photos/imagenet-sample-500, else freqload bench's embedded set."""
    if os.path.isdir(DEFAULT_DIR):
        return DEFAULT_DIR
    from freqload.tools.bench import default_dataset

    print("../shared/data is absent: using synthetic ImageNet-sized JPEGs", file=sys.stderr)
    return default_dataset(progress="always")


def _build_reader(name: str, extra: list[str], deps: list[str]) -> str:
    """raw_read.c compiled into benchmarks/.build/NAME against libjpeg (pkg-config),
    with the extra sources and flags; rebuilt when raw_read.c or a dependency is newer."""
    out_dir = os.path.join(HERE, ".build")
    exe = os.path.join(out_dir, name)
    src = os.path.join(HERE, "raw_read.c")
    if os.path.exists(exe) and all(os.path.getmtime(exe) >= os.path.getmtime(f)
                                   for f in [src, *deps]):
        return exe
    os.makedirs(out_dir, exist_ok=True)
    try:
        flags = shlex.split(subprocess.run(["pkg-config", "--cflags", "--libs", "libjpeg"],
                                           check=True, capture_output=True, text=True).stdout)
    except (OSError, subprocess.CalledProcessError):
        flags = ["-ljpeg"]
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-o", exe, src, *extra, *flags, "-lm", "-lpthread"], check=True)
    return exe


def build_raw_reader() -> str:
    """libjpeg's own coefficient read (raw_read.c), built into benchmarks/.build."""
    return _build_reader("raw_read", [], [])


def build_core_reader() -> str:
    """The same C loop reading with freqload's native core (raw_read.c -DFL_CORE_READ,
    compiled with the core's sources and flags, as setup.py builds the extension)."""
    from freqload._native import build_config

    native = os.path.join(HERE, "..", "freqload", "_native")
    sources = [os.path.join(native, s) for s in build_config.CORE_SOURCES]
    headers = [os.path.join(native, h) for h in build_config.CORE_HEADERS]
    return _build_reader("core_read", ["-DFL_CORE_READ", "-I" + os.path.join(native, "core"),
                                       *build_config.CORE_CFLAGS, *sources],
                         sources + headers)


def image_sizes(files) -> tuple[float, float]:
    """(mean pixels, mean bytes) of the JPEGs (file paths or bytes): what a row ran on, so
    its figures compare with decoders quoted at other image sizes."""
    import freqload

    pixels = nbytes = 0
    for f in files:
        info = freqload.read_header(f)
        pixels += info.width * info.height
        nbytes += len(f) if isinstance(f, (bytes, bytearray)) else os.path.getsize(f)
    return pixels / max(1, len(files)), nbytes / max(1, len(files))


def per_core(cpu_ms_per_img: float) -> float:
    """Images per CPU-second (1000 / CPU-ms per image): the throughput of one core fully
    busy, comparable with single-core figures people quote (torchvision's ~390 img/s per
    core for full RGB decoding of ImageNet-sized JPEGs)."""
    return 1e3 / cpu_ms_per_img if cpu_ms_per_img > 0 else float("nan")


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
    """A DALI CPU RGB recipe (freqload.tools.bench's), copied into torch tensors."""
    from freqload.loading.epochs import TransferStats
    from freqload.tools.bench import dali_rgb_batches

    it = dali_rgb_batches(files, batch, threads, recipe, out)
    for _ in range(3):
        next(it)
    c0, t0, crossed = cpu_seconds(), time.perf_counter(), TransferStats()
    while time.perf_counter() - t0 < seconds:
        crossed.add(next(it))
    elapsed = time.perf_counter() - t0
    n = crossed.samples_to_device
    return n / elapsed, (cpu_seconds() - c0) * 1e3 / n, crossed.bytes_to_device // n


def write_bench_shards(files, folder: str, parts: int = 8) -> list[str]:
    """The benchmark's files as about ``parts`` tar shards in ``folder`` (freqload shards,
    a seeded random order); their paths."""
    from freqload.tools.shards import write_shards

    total = sum(os.path.getsize(f) for f in files)
    man = write_shards([(f, i) for i, f in enumerate(files)], folder,
                       shard_size=max(total // parts, 1 << 20), progress=False)
    return [os.path.join(folder, s["name"]) for s in man["shards"]]


class LoopbackS3:
    """An S3-compatible server (moto's standalone one, from the test extra) on 127.0.0.1
    in a child process, with the AWS environment pointing at it while in use."""

    def __init__(self):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        import socket

        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                      "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start (pip install moto[server])")
                time.sleep(0.1)
        self.env = {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
        self.old = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        return self

    def upload(self, paths, bucket: str = "bench") -> list[str]:
        """Upload files (and their index files) into a new bucket: their s3:// URLs."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.url)
        client.create_bucket(Bucket=bucket)
        urls = []
        for p in paths:
            for f in (p, p + ".index.json"):
                if os.path.exists(f):
                    client.upload_file(f, bucket, os.path.basename(f))
            urls.append(f"s3://{bucket}/{os.path.basename(p)}")
        return urls

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        return False
