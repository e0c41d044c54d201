"""Writing tar shards: ``freqload shards`` and ``freqload pack --format tar``.

:func:`write_shards` writes a folder or list source as numbered tar shards in the
WebDataset convention, each with freqload's index file (what :mod:`freqload.data.shards`
reads back) and DALI's ``.idx``, plus a manifest with each shard's SHA-256; resumable and
safe (:mod:`freqload.data.destination`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import tarfile
import tempfile
from typing import BinaryIO, NamedTuple

import numpy as np

from .. import __version__
from ..codec.read import read_file
from ..data.destination import Destination
from ..data.shards import INDEX_SUFFIX, ShardSet, digest, index_json, index_shard, split_key
from ..data.sources import resolve_source
from ..data.tar_headers import read_tar_headers
from ..progress import Progress
from ..schema import Document
from .jobs import Interruptible, PackInterrupted, worker_results

#: the manifest of a folder of shards freqload wrote, and its partial form while writing
SHARDS_MANIFEST = "freqload-shards.json"
SHARDS_PARTIAL = ".freqload-shards.partial.json"
SHARDS_FORMAT = "freqload-shards/1"
_SIZE_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2,
               "G": 1000**3, "GB": 1000**3, "T": 1000**4, "TB": 1000**4, "KIB": 1024,
               "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


def parse_size(text) -> int:
    """'1GB' (10^9), '500MiB' (2^20 units), '123456' -> bytes; ValueError otherwise."""
    if isinstance(text, (int, np.integer)):
        value = int(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
        if not m or m.group(2).upper() not in _SIZE_UNITS:
            raise ValueError(f"not a size: {text!r} (say e.g. 1GB, 500MB, 256MiB or bytes)")
        value = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])
    if value < 4096:
        raise ValueError(f"shard size {text!r} is under 4 KB")
    return value


def _member_bytes(size: int) -> int:
    """Bytes a member of ``size`` takes in a tar: its header and its data in 512-byte blocks."""
    return 512 + -(-size // 512) * 512


def dali_index(path: str) -> str:
    """DALI's index of a shard (the v1.2 text ``wds2idx`` writes, what
    ``fn.readers.webdataset(index_paths=...)`` reads): per sample, each member's
    extension, data offset, size and name."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        walk = read_tar_headers(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    if walk.damage:
        raise ValueError(f"{path}: {walk.damage}")
    samples: list = []
    last = None
    for m in walk.members:
        key, ext = split_key(m.name)
        if key != last:
            samples.append([])
            last = key
        samples[-1].append(f"{ext} {m.offset} {m.size} {m.name}")
    return f"v1.2 {len(samples)}\n" + "".join(" ".join(s) + "\n" for s in samples)


def shard_file_names(name: str) -> tuple:
    """A shard's file and the index files written beside it."""
    return name, name + INDEX_SUFFIX, name + ".idx"


class ShardWriter:
    """Writes samples, in order, into numbered tar shards of at most ``shard_size`` bytes
    (a sample larger than that gets a shard of its own): ``{prefix}-000000.tar``, ... in
    the destination (a :class:`freqload.data.destination.Destination`), each with its freqload
    index file (``.index.json``) and DALI's (``.idx``). Members get fixed metadata (mtime
    0, uid/gid 0, mode 0644), so the same samples give the same bytes. ``done`` lists the
    finished shards: name, samples, bytes, sha256. A shard is written under a temporary
    name and renamed when complete, its index files first."""

    def __init__(self, dest: Destination, prefix: str, shard_size: int, first: int = 0):
        self.dest, self.prefix, self.shard_size = dest, prefix, int(shard_size)
        self.number = first
        self.done: list = []
        self._open: _OpenShard | None = None  # the shard being written
        self._bytes = 0
        self._samples = 0

    def add(self, key: str, members) -> None:
        """One sample: ``members`` = [(extension, bytes), ...]."""
        need = sum(_member_bytes(len(data)) for _, data in members)
        # the file: its members, the two zero blocks that end a tar, padded to tar records
        whole = -(-(self._bytes + need + 1024) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE
        if self._open is not None and whole > self.shard_size:
            self.finish()
        if self._open is None:
            name = f"{self.prefix}-{self.number:06d}.tar"
            self.dest.path(name)  # checked to stay inside the destination
            for n in shard_file_names(name):
                self.dest.claim(n)
            fd, tmp = tempfile.mkstemp(dir=self.dest.root, prefix=f".{name}.", suffix=".tmp")
            file = os.fdopen(fd, "wb")
            self._open = _OpenShard(name, tmp, file, tarfile.open(
                fileobj=file, mode="w", format=tarfile.USTAR_FORMAT))
            self._bytes = self._samples = 0
        for ext, data in members:
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            self._open.tar.addfile(info, io.BytesIO(data))
        self._bytes += need
        self._samples += 1

    def finish(self) -> None:
        """Close the shard being written (its index files, then the shard, appear
        complete or not at all)."""
        if self._open is None:
            return
        name, tmp, file, tar = self._open
        tar.close()
        file.close()
        self._open = None
        size, sha = os.path.getsize(tmp), digest(tmp)
        self.dest.write(name + INDEX_SUFFIX, index_json(index_shard(tmp), size, sha, None))
        self.dest.write(name + ".idx", dali_index(tmp).encode("utf-8"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.dest.path(name))
        self.done.append({"name": name, "samples": self._samples, "bytes": size, "sha256": sha})
        self.number += 1

    def abandon(self) -> None:
        """Drop the shard being written (an interrupted run writes it again)."""
        if self._open is not None:
            _, tmp, file, tar = self._open
            tar.close()
            file.close()
            self._open = None
            os.remove(tmp)


class _OpenShard(NamedTuple):
    """The shard a ShardWriter is writing: its name, temporary file, and tar writer."""
    name: str
    tmp: str
    file: BinaryIO
    tar: tarfile.TarFile


def _read_sample(job):
    """(position, path, label, rel, convert) -> (position, image bytes, entry): the
    source's bytes, or what ``convert`` makes of them (freqload pack: the packed JPEG).
    A file that cannot be read gives (position, None, why)."""
    pos, path, label, rel, convert = job
    try:
        data = read_file(path)
    except OSError as e:
        return pos, None, e.strerror or str(e)
    if convert is None:
        return pos, data, None
    out, entry = convert(rel, data)
    return pos, out, entry


def read_shards_manifest(path: str, settings: dict | None = None) -> dict:
    """A shards manifest (``freqload-shards.json`` or its partial form), checked whole;
    ManifestError naming the file and the field. With ``settings``: ValueError when it
    was written with others."""
    doc = Document.load(path)
    d = doc.mapping(doc.value)
    if doc.field(d, "format") != SHARDS_FORMAT:
        doc.fail("format", f"must be {SHARDS_FORMAT!r}, got {d['format']!r}")
    prefix = doc.string(doc.field(d, "prefix"), "prefix")
    for k, sh in enumerate(doc.sequence(doc.field(d, "shards"), "shards")):
        f = f"shards[{k}]"
        doc.mapping(sh, f)
        name = doc.relpath(doc.string(doc.field(sh, "name", f), f + ".name"), f + ".name")
        if not re.fullmatch(re.escape(prefix) + r"-[0-9]{6}\.tar", name):
            doc.fail(f + ".name", f"must be {prefix}-NNNNNN.tar, got {name!r}")
        doc.integer(doc.field(sh, "samples", f), f + ".samples")
        doc.integer(doc.field(sh, "bytes", f), f + ".bytes")
        if not re.fullmatch(r"[0-9a-f]{64}",
                            doc.string(doc.field(sh, "sha256", f), f + ".sha256")):
            doc.fail(f + ".sha256", "must be 64 hex digits")
    if settings is not None and {k: d.get(k) for k in settings} != settings:
        differ = sorted(k for k in settings if d.get(k) != settings[k])
        raise ValueError(f"{os.path.dirname(path)} already holds shards written with other "
                         f"settings or from another source ({', '.join(differ)}); use an "
                         "empty destination")
    return d


def write_shards(source, dst: str, *, shard_size="1GB", shuffle: bool = True, seed: int = 0,
                 prefix: str = "shard", workers: int | None = None,
                 progress: bool | None = None, convert=None, extra: dict | None = None,
                 what: str = "samples written", also_writes=()) -> dict:
    """Write a data set (a folder or list source, see :mod:`freqload.data.sources`) as tar
    shards in ``dst`` (``freqload shards``).

    Each sample becomes ``<key>.jpg`` (the file's bytes, whatever its format: non-JPEG
    files go through the loader's ``on_error`` as they would from a folder; the member
    keeps the file's extension when it is not a JPEG one), ``<key>.cls`` (its label; none
    for an unlabelled sample) and ``<key>.json`` (``{"path", "label", "class"}``), key =
    its position, 9 digits. With ``shuffle`` (default) the samples are written in a seeded
    random order, which is what shard-level shuffling needs to mix classes; else in the
    source's order. Each shard comes with its index files (freqload's and DALI's), and
    ``dst/freqload-shards.json`` records the settings and each shard's samples, bytes and
    SHA-256. A source file that cannot be read (a dangling link) is left out and listed
    in the manifest's ``unreadable`` (path: why).

    Safe (:mod:`freqload.data.destination`): ``dst`` must lie apart from a folder source (real
    paths, both directions), and files there that freqload did not write are never
    overwritten: such a file where a shard would go is refused up front.

    Resumable: an interrupted run (Ctrl-C, SIGTERM, a crash) leaves a partial manifest of
    the shards it finished; the same command keeps those whose SHA-256 still matches and
    writes the rest. Returns the manifest.

    ``convert(rel, data) -> (bytes, entry)``: write something else than the source bytes
    (run in ``workers`` processes, in order); ``extra``: more manifest fields (pack);
    ``also_writes``: names of other files the caller writes into ``dst`` (checked up
    front too).
    """
    size = parse_size(shard_size)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", prefix):
        raise ValueError(f"prefix {prefix!r}: use letters, digits, '.', '_' and '-'")
    samples = resolve_source(source)
    if isinstance(samples, ShardSet):
        raise ValueError("the source is tar shards already")
    root = os.fspath(source) if isinstance(source, (str, os.PathLike)) and \
        os.path.isdir(source) else None
    command = "pack" if convert is not None else "shards"
    n = len(samples)
    order = (np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)).tolist()
    settings = {"format": SHARDS_FORMAT, "source": os.path.abspath(root) if root else None,
                "samples": n, "shuffle": bool(shuffle), "seed": int(seed) if shuffle else None,
                "shard_size": size, "prefix": prefix,
                "order_sha1": hashlib.sha1(np.asarray(order, np.int64).tobytes()).hexdigest(),
                **(extra or {})}
    dst = os.path.abspath(dst)
    old = None
    for name in (SHARDS_MANIFEST, SHARDS_PARTIAL):
        p = os.path.join(dst, name)
        if os.path.isdir(dst) and os.path.lexists(p):
            old = read_shards_manifest(p, settings)
            break
    own = [SHARDS_MANIFEST, SHARDS_PARTIAL, *also_writes] if old is not None else []
    for s in (old or {}).get("shards", []):
        own += shard_file_names(s["name"])
    dest = Destination(dst, sources=[root] if root else [], command=command, own=own)
    pattern = re.compile(re.escape(prefix) + r"-[0-9]{6}\.tar(\.index\.json|\.idx)?")
    dest.refuse_foreign([e.name for e in os.scandir(dst) if pattern.fullmatch(e.name)]
                        + [SHARDS_MANIFEST, SHARDS_PARTIAL, *also_writes])
    kept: list = []
    for s in (old or {}).get("shards", []):  # keep a prefix of finished, intact shards
        p = os.path.join(dst, s["name"])
        if not (os.path.isfile(p) and os.path.getsize(p) == s["bytes"]
                and digest(p) == s["sha256"]):
            break
        kept.append(s)
    start = sum(s["samples"] for s in kept)
    classes = samples.classes
    unreadable = dict((old or {}).get("unreadable", {})) if kept else {}
    manifest = dict(settings, freqload_version=__version__,
                    classes=list(classes) if classes else None, shards=list(kept))
    writer = ShardWriter(dest, prefix, size, first=len(kept))

    def save(name):
        manifest["shards"] = kept + writer.done
        if unreadable:
            manifest["unreadable"] = unreadable
        dest.write(name, json.dumps(manifest, indent=1).encode(), sync=True)

    entries: dict = {}
    jobs = [(pos, samples.paths[i], int(samples.labels[i]),
             os.path.relpath(samples.paths[i], root) if root else samples.paths[i], convert)
            for pos, i in enumerate(order) if pos >= start]
    workers = workers or (len(os.sched_getaffinity(0)) if convert is not None else 1)
    with Progress(n, "writing shards", progress, initial=start, unit="samples") as bar, \
            Interruptible() as stop:
        try:
            with worker_results(_read_sample, jobs, workers, ordered=True) as results:
                for (pos, path, label, rel, _), (_, data, entry) in zip(jobs, results):
                    bar.update()
                    if data is None:  # unreadable: named in the manifest, left out
                        unreadable[rel] = entry
                        continue
                    ext = os.path.splitext(path)[1].lower().lstrip(".")
                    ext = "jpg" if ext in ("jpg", "jpeg", "jpe", "jfif", "") else ext
                    class_name = (classes[label] if classes and 0 <= label < len(classes)
                                  else None)
                    meta = {"path": rel, "label": label if label >= 0 else None,
                            "class": class_name}
                    if entry is not None:
                        meta["pack"] = entry
                        entries[rel] = entry
                    before = len(writer.done)
                    members = [(ext, data)]
                    if label >= 0:
                        members.append(("cls", str(label).encode()))
                    members.append(("json", json.dumps(meta).encode()))
                    writer.add(f"{pos:09d}", members)
                    if len(writer.done) != before:
                        save(SHARDS_PARTIAL)  # a finished shard: resumable from here
            writer.finish()
        except KeyboardInterrupt:
            writer.abandon()
            save(SHARDS_PARTIAL)
            done = start + sum(s["samples"] for s in writer.done)
            raise PackInterrupted(stop.signum or signal.SIGINT, done, n, dst, what) from None
        except BaseException:
            writer.abandon()
            save(SHARDS_PARTIAL)
            raise
    manifest["shards"] = kept + writer.done
    manifest["totals"] = {"shards": len(manifest["shards"]),
                          "samples": sum(s["samples"] for s in manifest["shards"]),
                          "bytes": sum(s["bytes"] for s in manifest["shards"]),
                          "unreadable": len(unreadable)}
    if unreadable:
        manifest["unreadable"] = unreadable
    if entries:
        manifest["pack_entries"] = len(entries)
    dest.write(SHARDS_MANIFEST, json.dumps(manifest, indent=1).encode(), sync=True)
    partial = os.path.join(dst, SHARDS_PARTIAL)
    if os.path.exists(partial):
        os.remove(partial)
    return manifest


__all__ = ["write_shards", "ShardWriter", "dali_index", "parse_size", "read_shards_manifest",
           "SHARDS_MANIFEST", "SHARDS_FORMAT"]
