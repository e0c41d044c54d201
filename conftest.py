"""Every Python block of README.md and docs/*.md runs as a test (sybil).

The blocks name the files a user would have: ``photo.jpg``, an ImageFolder in
``imagenet/train`` and ``imagenet/val``, ``stats.json``, tar shards
``data/train-000000.tar`` ... ``000003``, ``resnet50-torchvision.pth``, and an S3 bucket
``bucket`` holding the shards under ``train/``. :func:`doc_workspace` makes them once per
session in a temporary folder (the S3 bucket on a moto server on 127.0.0.1), and each
document's blocks run there, in order, in one namespace.
"""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = os.path.join(HERE, "..", "shared", "data", "photos", "imagenet-sample-500")


def _jpeg(rng: np.random.Generator, h: int, w: int, quality: int = 85) -> bytes:
    from PIL import Image

    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / (3 + w / 10) + rng.uniform(0, 6)) * np.cos(yy / 5)
    img = np.stack([base, 255 - base, base / 2 + 60], axis=-1) + rng.normal(0, 10, (h, w, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality,
                                                                  subsampling=2)
    return buf.getvalue()


def _photo() -> bytes:
    """A real 500x375 photo where the shared data is there, else a generated one."""
    if os.path.isdir(PHOTOS):
        for d in sorted(os.listdir(PHOTOS)):
            for f in sorted(os.listdir(os.path.join(PHOTOS, d))):
                from PIL import Image

                path = os.path.join(PHOTOS, d, f)
                with Image.open(path) as im:
                    if im.size == (500, 375):
                        with open(path, "rb") as fh:
                            return fh.read()
    return _jpeg(np.random.default_rng(1), 375, 500)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _s3_bucket(shards: list[str]):
    """A moto S3 server with bucket ``bucket`` holding the shards under ``train/``; the
    environment pointing at it. Returns the server's process."""
    import boto3

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the moto S3 server did not start") from None
            time.sleep(0.1)
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                       "AWS_ACCESS_KEY_ID": "docs", "AWS_SECRET_ACCESS_KEY": "docs",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    client.create_bucket(Bucket="bucket")
    for p in shards:
        client.upload_file(p, "bucket", f"train/{os.path.basename(p)}")
    return proc


@pytest.fixture(scope="session")
def doc_workspace(tmp_path_factory):
    """The folder the documentation's blocks run in, with the files they name."""
    import torch

    from freqload.loading.stats import compute_channel_stats
    from freqload.models import resnet50

    root = tmp_path_factory.mktemp("docs")
    (root / "photo.jpg").write_bytes(_photo())
    rng = np.random.default_rng(0)
    samples = []
    for split, n in (("train", 6), ("val", 3)):
        for c in ("ants", "bees"):
            folder = root / "imagenet" / split / c
            folder.mkdir(parents=True)
            for k in range(n):
                data = _jpeg(rng, int(rng.integers(72, 120)), int(rng.integers(72, 120)))
                (folder / f"img{k}.jpg").write_bytes(data)
                if split == "train":
                    samples.append((f"{c}{k}", data, 0 if c == "ants" else 1))
    compute_channel_stats(str(root / "imagenet" / "train"), progress=False).save(
        str(root / "stats.json"))
    (root / "data").mkdir()
    shards = []
    for s in range(4):
        path = str(root / "data" / f"train-{s:06d}.tar")
        with tarfile.open(path, "w") as t:
            for key, data, label in samples[3 * s:3 * s + 3]:
                for name, payload in ((f"{key}.jpg", data), (f"{key}.cls", str(label).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    t.addfile(info, io.BytesIO(payload))
        shards.append(path)
    torch.save(resnet50().state_dict(), str(root / "resnet50-torchvision.pth"))
    saved = dict(os.environ)
    server = _s3_bucket(shards)
    try:
        yield str(root)
    finally:
        server.terminate()
        server.wait(10)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def in_doc_workspace(doc_workspace, monkeypatch):
    """Each block runs in the workspace, with progress bars off and freqload's S3 client
    made anew (for the docs' server, not one an earlier test configured)."""
    from freqload.data import remote

    monkeypatch.chdir(doc_workspace)
    monkeypatch.setenv("FREQLOAD_PROGRESS", "0")
    remote._clients.clear()
    yield doc_workspace
    remote._clients.clear()


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser()],
    patterns=["*.md"],
    fixtures=["in_doc_workspace"],
).pytest()
