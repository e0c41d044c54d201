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

import fcntl
import fnmatch
import hashlib
import http.client
import json
import os
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ..errors import IntegrityError
from .destination import atomic_write

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


#: seconds a download or request may go without receiving data before it fails, naming
#: the URL ($FREQLOAD_REMOTE_TIMEOUT sets it)
TIMEOUT = float(os.environ.get("FREQLOAD_REMOTE_TIMEOUT", "60"))


def _stalled(url: str) -> OSError:
    return TimeoutError(f"cannot download {url}: no data for {TIMEOUT:g} s (the server "
                        "stalled; $FREQLOAD_REMOTE_TIMEOUT sets how long to wait)")


def _http_error(url: str, e, verb: str = "download") -> OSError:
    if isinstance(e, urllib.error.HTTPError):
        if e.code == 404:
            return FileNotFoundError(f"{url} does not exist")
        return OSError(f"cannot {verb} {url}: HTTP {e.code} {e.reason}")
    if isinstance(e, urllib.error.URLError):
        if isinstance(e.reason, (TimeoutError, socket.timeout)):
            return _stalled(url)
        return OSError(f"cannot {verb} {url}: {e.reason}")
    if isinstance(e, (TimeoutError, socket.timeout)):
        return _stalled(url)
    if isinstance(e, http.client.HTTPException):
        return OSError(f"cannot {verb} {url}: {type(e).__name__} {e}")
    return OSError(f"cannot {verb} {url}: {e}")


def _copy_counted(stream, out, digest) -> int:
    """Copy a response stream to a file, hashing it; the bytes copied."""
    n = 0
    while True:
        block = stream.read(1 << 20)
        if not block:
            return n
        out.write(block)
        digest.update(block)
        n += len(block)


def fetch(url: str, dest: str) -> tuple[int, str]:
    """Download ``url`` to the file ``dest`` (written beside it, then renamed: a reader
    never sees half a file), checking that every announced byte arrived. Returns (size,
    SHA-256 hex) of what arrived. FileNotFoundError when it does not exist, OSError for
    other failures (a stalled server, a download cut short), each naming the URL."""
    tmp = f"{dest}.part{os.getpid()}.{threading.get_ident()}"
    digest = hashlib.sha256()
    try:
        if url.startswith("s3://"):
            bucket, key = _bucket_key(url)
            try:
                obj = _s3().get_object(Bucket=bucket, Key=key)
                announced = obj.get("ContentLength")
                with open(tmp, "wb") as f:
                    got = _copy_counted(obj["Body"], f, digest)
            except Exception as e:  # botocore's errors
                if _missing(e):
                    raise FileNotFoundError(f"{url} does not exist") from None
                if isinstance(e, (TimeoutError, socket.timeout)) or \
                        "timeout" in type(e).__name__.lower():
                    raise _stalled(url) from e
                raise OSError(f"cannot download {url}: {e}") from e
        else:
            try:
                with urllib.request.urlopen(url, timeout=TIMEOUT) as r, open(tmp, "wb") as f:
                    length = r.headers.get("Content-Length")
                    announced = int(length) if length and length.isdigit() else None
                    got = _copy_counted(r, f, digest)
            except (OSError, http.client.HTTPException) as e:  # URLError is an OSError
                raise _http_error(url, e) from e
        if announced is not None and got != announced:
            raise OSError(f"cannot download {url}: cut short, {got:,} of the {announced:,} "
                          "bytes announced arrived")
        os.replace(tmp, dest)
        return got, digest.hexdigest()
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def size(url: str) -> int | None:
    """The object's size in bytes as the server says now (a HEAD request), or None where
    the server does not say. FileNotFoundError when it does not exist."""
    if url.startswith("s3://"):
        bucket, key = _bucket_key(url)
        try:
            return int(_s3().head_object(Bucket=bucket, Key=key)["ContentLength"])
        except Exception as e:
            if _missing(e):
                raise FileNotFoundError(f"{url} does not exist") from None
            raise OSError(f"cannot reach {url}: {e}") from e
    try:
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            length = r.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None
    except urllib.error.HTTPError as e:
        if e.code in (405, 501):  # no HEAD here: nothing known
            return None
        raise _http_error(url, e, "reach") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise _http_error(url, e, "reach") from e


def read(url: str) -> bytes | None:
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
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            length = r.headers.get("Content-Length")
            data = r.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise _http_error(url, e, "read") from e
    except (OSError, http.client.HTTPException) as e:  # URLError is an OSError
        raise _http_error(url, e, "read") from e
    if length and length.isdigit() and len(data) != int(length):
        raise OSError(f"cannot read {url}: cut short, {len(data):,} of the {int(length):,} "
                      "bytes announced arrived")
    return data


def glob(url: str) -> list[str]:
    """The objects an ``s3://`` pattern matches (``*``, ``?``, ``[...]`` within the key),
    sorted. A web server cannot be listed: ValueError."""
    if not url.startswith("s3://"):
        raise ValueError(f"cannot list {url!r}: use a brace range or a list of URLs for "
                         "http(s) shards")
    bucket, pattern = _bucket_key(url)
    prefix = pattern[:min((pattern.find(c) for c in "*?[" if c in pattern), default=0)]
    found: list[str] = []
    for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(o["Key"] for o in page.get("Contents", ())
                     if fnmatch.fnmatchcase(o["Key"], pattern))
    return [f"s3://{bucket}/{k}" for k in sorted(found)]


class ShardCache:
    """Local copies of remote shard files, each checked against what describes it.

    Every download is checked as it arrives (all announced bytes, else an error naming
    the URL) and hashed; its size and SHA-256 go into a record beside the copy
    (``<copy>.sha256.json``), written after the copy, so a copy without a record (an
    interrupted run, a copy from an older freqload) is downloaded again, never trusted.
    Where the loader's index of a shard says what its size and SHA-256 must be
    (:meth:`expect`), a copy with another is handed to the index's recheck, which reads
    the copy's headers: the same samples are accepted (once), others raise
    :class:`~freqload.errors.IntegrityError`.

    Args:
        folder: where the copies go. None: a temporary folder, removed when the cache is
            closed or the process ends, whose files are deleted once the batches reading
            them are done. A folder you give is kept, files and all, and reused by later
            runs (a copy whose record matches it is not downloaded again).
        workers: downloads at once, ahead of the loader.
    """

    def __init__(self, folder: str | None = None, workers: int = 4):
        self.keep = folder is not None
        self.folder = folder or tempfile.mkdtemp(prefix="freqload-shards-")
        os.makedirs(self.folder, exist_ok=True)
        self.workers = int(workers)
        self._pool: ThreadPoolExecutor | None = None
        self._owner = os.getpid()  # the process whose pool this is
        self._creator = os.getpid()  # the process that removes a temporary folder
        self._lock = threading.Lock()
        #: url -> (bytes, sha256, recheck(local copy, (bytes, sha256)) or None)
        self.expected: dict = {}
        self._records: dict = {}  # local copy -> (bytes, mtime_ns, sha256) of its record
        #: urls released since they were last queued: a background fetch still queued for
        #: one (a slow fetch thread, the reader having downloaded it itself) is dropped
        self._released: set = set()

    def local(self, url: str) -> str:
        """Where ``url``'s copy lives (whether or not it is there yet)."""
        name = os.path.basename(url.rstrip("/")) or "shard"
        return os.path.join(self.folder, hashlib.sha1(url.encode()).hexdigest()[:12] + "-" + name)

    def expect(self, url: str, size: int, sha256: str, recheck=None) -> None:
        """What ``url``'s content must be (from its index): its size and SHA-256. A copy
        that differs goes to ``recheck(local path, (size, sha256))``, which raises or
        accepts it."""
        self.expected[url] = (int(size), sha256, recheck)

    @staticmethod
    def _record_path(path: str) -> str:
        return path + ".sha256.json"

    def _recorded(self, path: str):
        """(size, sha256) of a complete copy, from its record; None when the copy or its
        record is missing or they disagree (size, modification time). A record read once
        is remembered: later calls (a torch worker asks per sample) cost one stat."""
        try:
            st = os.stat(path)
            known = self._records.get(path)
            if known is None or known[:2] != (st.st_size, st.st_mtime_ns):
                with open(self._record_path(path), encoding="utf-8") as f:
                    rec = json.load(f)
                if not (isinstance(rec, dict) and rec.get("bytes") == st.st_size
                        and rec.get("mtime_ns") == st.st_mtime_ns
                        and isinstance(rec.get("sha256"), str)):
                    return None
                known = self._records[path] = (st.st_size, st.st_mtime_ns, rec["sha256"])
            return known[0], known[2]
        except (OSError, ValueError):
            return None

    def _download(self, url: str, path: str):
        try:
            os.remove(self._record_path(path))  # the record goes first, comes back last
        except FileNotFoundError:
            pass
        self._records.pop(path, None)
        got, sha = fetch(url, path)
        mtime = os.stat(path).st_mtime_ns
        atomic_write(self._record_path(path), json.dumps(
            {"url": url, "bytes": got, "sha256": sha, "mtime_ns": mtime}).encode())
        self._records[path] = (got, mtime, sha)
        return got, sha

    def recorded(self, url: str):
        """(size, sha256) of ``url``'s complete local copy, or None."""
        return self._recorded(self.local(url))

    def ensure(self, url: str) -> str:
        """The local copy of ``url``, downloaded first when missing, and checked against
        :meth:`expect`. Safe across threads and processes (DataLoader workers): one
        downloads, the others wait for it."""
        path = self.local(url)
        got = self._recorded(path)
        if got is None:
            with open(path + ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    got = self._recorded(path) or self._download(url, path)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        want = self.expected.get(url)
        if want is not None and (want[0], want[1]) != got:
            if want[2] is None:
                raise IntegrityError(f"{url}: the download has {got[0]:,} bytes, SHA-256 "
                                     f"{got[1][:16]}..., not the expected {want[0]:,} bytes, "
                                     f"{want[1][:16]}...")
            want[2](path, got)  # raises IntegrityError, or the copy is right after all
            self.expected[url] = (got[0], got[1], want[2])
        return path

    def prefetch(self, urls) -> None:
        """Download these in the background, in order (errors surface when a reader needs
        the file: ensure downloads it again and raises)."""
        with self._lock:
            if self._pool is None or self._owner != os.getpid():
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="freqload-fetch")
                self._owner = os.getpid()
            for u in urls:
                self._released.discard(u)
                self._pool.submit(self._quiet_ensure, u)

    def _quiet_ensure(self, url):
        with self._lock:
            if url in self._released:  # read and let go before this fetch ran: not again
                return
        try:
            self.ensure(url)
        except Exception:  # the reader that needs it will see the error
            pass

    def release(self, url: str) -> None:
        """The batches reading ``url`` are done: delete a temporary cache's copy."""
        with self._lock:
            self._released.add(url)
        if not self.keep:
            p = self.local(url)
            self._records.pop(p, None)
            for q in (self._record_path(p), p, p + ".lock"):
                try:
                    os.remove(q)
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
