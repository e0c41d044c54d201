"""Shards from object storage and web servers (freqload.data.remote), through both engines.

A real S3-compatible server (moto's standalone server) and Python's http.server run on
127.0.0.1 for these tests, as separate processes; nothing is mocked. Reference: the same
shard files read from local disk by the same loader settings (which test_shards checks
against Python's tarfile)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from freqload import DCTLoader, Source
from freqload.data import remote
from freqload.data.shards import INDEX_SUFFIX, write_index

from conftest import ENGINES, assert_same_batches
from test_shards import make_shards

COUNTS = (4, 3, 5, 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd} exited with {proc.returncode}")
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote-src")
    paths = make_shards(str(root), counts=COUNTS)
    write_index(paths[0])  # one shard with an index file, the others without
    write_index(paths[2])
    return str(root), paths


@pytest.fixture(scope="module")
def s3(local):
    port = _free_port()
    proc = _serve([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                  port)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    remote._clients.clear()
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
        client.create_bucket(Bucket="data")
        root, paths = local
        for p in paths:
            client.upload_file(p, "data", f"train/{os.path.basename(p)}")
            if os.path.exists(p + INDEX_SUFFIX):
                client.upload_file(p + INDEX_SUFFIX, "data",
                                   f"train/{os.path.basename(p)}{INDEX_SUFFIX}")
        yield "s3://data/train"
    finally:
        proc.terminate()
        proc.wait(10)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        remote._clients.clear()


@pytest.fixture(scope="module")
def http(local):
    root, _ = local
    port = _free_port()
    proc = _serve([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                   "--directory", root], port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def _epoch(src, engine, cache_dir=None):
    loader = DCTLoader(Source(src, shuffle_buffer=3, cache_dir=cache_dir), batch_size=3,
                       size=(4, 5), engine=engine, num_workers=1, train=True, seed=4,
                       normalize=False)
    return loader, [(x.clone(), y.clone()) for x, y in loader]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("where", ["s3", "http", "s3-glob"])
def test_remote_shards_equal_local_ones(local, s3, http, engine, where):
    root, _ = local
    src = {"s3": s3 + "/s-{000..003}.tar", "http": http + "/s-{000..003}.tar",
           "s3-glob": s3 + "/s-*.tar"}[where]
    _, want = _epoch(os.path.join(root, "s-{000..003}.tar"), engine)
    loader, got = _epoch(src, engine)
    assert loader.dataset.files[0].startswith(("s3://", "http://"))
    assert len(got) == len(want) == 5
    assert_same_batches(want, got)
    # the temporary cache let go of every file once the batches reading it were done
    folder = loader.dataset.cache.folder
    assert not [f for f in os.listdir(folder) if f.endswith(".tar")]
    loader.dataset.cache.close()
    assert not os.path.exists(folder)


def test_a_kept_cache_is_reused_and_errors_name_the_url(s3, tmp_path):
    cache = str(tmp_path / "cache")
    loader, first = _epoch(s3 + "/s-{000..003}.tar", "native", cache_dir=cache)
    tars = sorted(f for f in os.listdir(cache) if f.endswith(".tar"))
    assert len(tars) == 4  # kept
    stamps = {f: os.stat(os.path.join(cache, f)).st_mtime_ns for f in tars}
    again, second = _epoch(s3 + "/s-{000..003}.tar", "native", cache_dir=cache)
    assert {f: os.stat(os.path.join(cache, f)).st_mtime_ns for f in tars} == stamps
    assert_same_batches(first, second)
    with pytest.raises(FileNotFoundError, match=r"s3://data/train/s-004\.tar does not exist"):
        DCTLoader(s3 + "/s-{003..004}.tar", batch_size=2, engine="native", num_workers=0)
    with pytest.raises(FileNotFoundError, match="no shard files match"):
        DCTLoader(s3 + "/nothing-*.tar", batch_size=2, engine="native", num_workers=0)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_list_naming_a_url_twice(local, s3, engine):
    """A list may name a shard more than once (an epoch of repeats): its temporary copy is
    kept until the last batch reading it under any of its names is done."""
    root, paths = local
    urls = [f"{s3}/s-000.tar", f"{s3}/s-001.tar"] * 3
    _, want = _epoch([paths[0], paths[1]] * 3, engine)
    loader, got = _epoch(urls, engine)
    assert len(got) == len(want) == 7
    assert_same_batches(want, got)


def test_a_fetch_queued_for_a_shard_already_read_and_released_does_not_download_it_again(
        tmp_path, monkeypatch):
    """The background fetch lags (a busy machine): the reader downloads the shard itself,
    reads it and lets it go; the queued fetch must then drop it, not fetch it a second
    time (a real double download under load, found by CI)."""
    import threading

    gets = []
    gate = threading.Event()

    def fake_fetch(url, dest):
        if url.endswith("blocker"):
            gate.wait(10)
        gets.append(url)
        with open(dest, "wb") as f:
            f.write(b"x" * 10)
        return 10, "0" * 64

    monkeypatch.setattr(remote, "fetch", fake_fetch)
    cache = remote.ShardCache(None, workers=1)  # a temporary cache: released copies go
    cache.prefetch(["http://h/blocker", "http://h/s-000.tar"])  # s-000 queued behind
    cache.ensure("http://h/s-000.tar")  # the reader cannot wait: downloads it now
    cache.release("http://h/s-000.tar")
    gate.set()
    cache._pool.submit(lambda: None).result()  # one worker, in order: the queue has run
    cache.close()
    assert gets.count("http://h/s-000.tar") == 1
    # queued again (a new epoch needs it): fetched again
    cache = remote.ShardCache(None, workers=1)
    cache.release("http://h/s-000.tar")
    cache.prefetch(["http://h/s-000.tar"])
    cache._pool.submit(lambda: None).result()
    cache.close()
    assert gets.count("http://h/s-000.tar") == 2
