"""Shards in object storage (``s3://bucket/key``) and on web servers (``http(s)://``).

A remote shard is fetched whole into a local cache folder, then read like a local one (the
core reads its members by byte range): one sequential download per shard file, however
its samples are shuffled. :class:`ShardCache` downloads the files an epoch needs ahead of
the loader, in the order the epoch's plan first needs them, and (unless the cache is a
folder you keep) deletes each once the batches that read it are done, so a temporary
cache holds only the files around the loader's position.

S3 goes through boto3 (``pip install freqload[s3]``) with the usual AWS configuration:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, profiles,
``AWS_DEFAULT_REGION``, and ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) for
S3-compatible servers (MinIO, Ceph, moto ...). http(s) uses the standard library.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

SCHEMES = ("s3://", "http://", "https://")


def is_url(path) -> bool:
    return isinstance(path, str) and path.startswith(SCHEMES)


_clients: dict = {}


def _s3():
    """A boto3 S3 client for this process (one per process: clients do not survive a
    fork)."""
    pid = os.getpid()
    if pid not in _clients:
        try:
            import boto3
        except ImportError:
            raise ImportError("s3:// sources need boto3: pip install 'freqload[s3]'") from None
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        _clients[pid] = boto3.session.Session().client("s3", endpoint_url=endpoint or None)
    return _clients[pid]


def _bucket_key(url: str) -> tuple[str, str]:
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise ValueError(f"{url!r} is not s3://bucket/key")
    return bucket, key


def _missing(e) -> bool:
    code = str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def fetch(url: str, dest: str) -> int:
    """Download ``url`` to the file ``dest`` (written beside it, then renamed: a reader
    never sees half a file). Returns its size. FileNotFoundError when it does not exist,
    OSError for other failures, both naming the URL."""
    tmp = f"{dest}.part{os.getpid()}.{threading.get_ident()}"
    try:
        if url.startswith("s3://"):
            bucket, key = _bucket_key(url)
            try:
                _s3().download_file(bucket, key, tmp)
            except Exception as e:  # botocore's errors
                if _missing(e):
                    raise FileNotFoundError(f"{url} does not exist") from None
                raise OSError(f"cannot download {url}: {e}") from e
        else:
            try:
                with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
                    shutil.copyfileobj(r, f, 1 << 20)
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise FileNotFoundError(f"{url} does not exist") from None
                raise OSError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
            except urllib.error.URLError as e:
                raise OSError(f"cannot download {url}: {e.reason}") from e
        os.replace(tmp, dest)
        return os.path.getsize(dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read(url: str) -> Optional[bytes]:
    """A small object's bytes (an index file), or None when it does not exist."""
    if url.startswith("s3://"):
        bucket, key = _bucket_key(url)
        try:
            return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as e:
            if _missing(e):
                return None
            raise OSError(f"cannot read {url}: {e}") from e
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise OSError(f"cannot read {url}: HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise OSError(f"cannot read {url}: {e.reason}") from e


def glob(url: str) -> list[str]:
    """The objects an ``s3://`` pattern matches (``*``, ``?``, ``[...]`` within the key),
    sorted. A web server cannot be listed: ValueError."""
    if not url.startswith("s3://"):
        raise ValueError(f"cannot list {url!r}: use a brace range or a list of URLs for "
                         "http(s) shards")
    bucket, pattern = _bucket_key(url)
    prefix = pattern[:min((pattern.find(c) for c in "*?[" if c in pattern), default=0)]
    found = []
    for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(o["Key"] for o in page.get("Contents", ())
                     if fnmatch.fnmatchcase(o["Key"], pattern))
    return [f"s3://{bucket}/{k}" for k in sorted(found)]


class ShardCache:
    """Local copies of remote shard files.

    Args:
        folder: where the copies go. None: a temporary folder, removed when the cache is
            closed or the process ends, whose files are deleted once the batches reading
            them are done. A folder you give is kept, files and all, and reused by later
            runs (a file there of the right size is not downloaded again).
        workers: downloads at once, ahead of the loader.
    """

    def __init__(self, folder: Optional[str] = None, workers: int = 4):
        self.keep = folder is not None
        self.folder = folder or tempfile.mkdtemp(prefix="freqload-shards-")
        os.makedirs(self.folder, exist_ok=True)
        self.workers = int(workers)
        self._pool: Optional[ThreadPoolExecutor] = None
        self._owner = os.getpid()  # the process whose pool this is
        self._creator = os.getpid()  # the process that removes a temporary folder
        self._lock = threading.Lock()
        self.sizes: dict = {}  # url -> expected bytes, when an index says

    def local(self, url: str) -> str:
        """Where ``url``'s copy lives (whether or not it is there yet)."""
        name = os.path.basename(url.rstrip("/")) or "shard"
        return os.path.join(self.folder, hashlib.sha1(url.encode()).hexdigest()[:12] + "-" + name)

    def _present(self, url: str, path: str) -> bool:
        if not os.path.exists(path):
            return False
        want = self.sizes.get(url)
        return want is None or os.path.getsize(path) == want

    def ensure(self, url: str) -> str:
        """The local copy of ``url``, downloaded first when missing. Safe across threads
        and processes (DataLoader workers): one downloads, the others wait for it."""
        path = self.local(url)
        if self._present(url, path):
            return path
        import fcntl

        with open(path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not self._present(url, path):
                    fetch(url, path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return path

    def prefetch(self, urls) -> None:
        """Download these in the background, in order (errors surface when a reader needs
        the file: ensure downloads it again and raises)."""
        with self._lock:
            if self._pool is None or self._owner != os.getpid():
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="freqload-fetch")
                self._owner = os.getpid()
            for u in urls:
                self._pool.submit(self._quiet_ensure, u)

    def _quiet_ensure(self, url):
        try:
            self.ensure(url)
        except Exception:  # the reader that needs it will see the error
            pass

    def release(self, url: str) -> None:
        """The batches reading ``url`` are done: delete a temporary cache's copy."""
        if not self.keep:
            for p in (self.local(url), self.local(url) + ".lock"):
                try:
                    os.remove(p)
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        if self._pool is not None and self._owner == os.getpid():
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if not self.keep and self._creator == os.getpid():
            shutil.rmtree(self.folder, ignore_errors=True)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
