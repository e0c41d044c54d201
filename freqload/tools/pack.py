"""``freqload pack``: a copy of a data set holding only the frequency bands a mask needs.

Each JPEG becomes a standard baseline JPEG with the same size, sampling and quant
tables, in which every coefficient outside the mask is zero, and Huffman tables
optimised for what is left: fewer symbols to entropy-decode, so loading is faster
than the original's Huffman limit, and the files are smaller. The kept
coefficients are stored exactly (libjpeg's transcoder: no DCT, no quantisation)::

    DST/                      the folder layout of SRC, mirrored
    DST/freqload-pack.json    manifest: format, mask, freqload version, and per file
                              the source's size and SHA-256, the packed size, "packed"
                              or "copied" (files freqload cannot read are copied as is)
    DST/.residual/...         with residual=True: the complement (the mask's bands
                              zero), so ``unpack`` rebuilds the original coefficients

``DCTLoader`` reads the manifest of a packed root and refuses a mask that needs
bands the pack dropped. With the same mask (or a subset), transform="blocks" and
chroma="nearest" (or 4:4:4 images), the loader's tensors are bit-identical to those
from the originals; chroma="dct" upsampling of subsampled chroma, and the train/eval
resizes, read neighbouring frequencies too, so there the results differ (measured in
``benchmarks/pack.py`` and the tests).

Packing is parallel (worker processes), resumable (an interrupted run keeps a partial
manifest; a restart keeps each finished file whose source still has the recorded
SHA-256, and packs changed or missing ones again) and shows a progress bar. Ctrl-C
(SIGINT) or SIGTERM stops the parent and its workers within a second or two: the
partial manifest is written first, and :class:`PackInterrupted` says how far it got
(``freqload pack`` prints that one line; run the same command again to resume).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import time
from typing import Any

import numpy as np

from .. import __version__
from ..codec.encode import split_coefficients, write_jpeg
from ..codec.mask import ChannelMask, as_mask
from ..codec.read import read_coefficients
from ..data.destination import Destination
from ..data.packs import FORMAT, MANIFEST, PARTIAL, RESIDUAL, read_manifest
from ..data.sources import FolderWalk
from ..errors import FreqloadError, IntegrityError
from ..progress import Progress
from .jobs import Interruptible, PackInterrupted, worker_results
from .shards import write_shards


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pack_one(job):
    """Worker: (rel, src, dest, indices, residual, recorded) -> (rel, manifest entry).

    ``recorded``: the entry of an earlier run, or None. It stands when the source still
    has the recorded size and SHA-256 and the outputs exist; otherwise the file is
    packed again (a changed source is detected by its hash). A source that cannot be
    read (a dangling link, no permission) gets an "unreadable" entry saying why."""
    rel, src, dest, indices, residual, recorded = job
    try:
        with open(src, "rb") as f:
            data = f.read()
    except OSError as e:
        return rel, {"kind": "unreadable", "reason": e.strerror or str(e)}
    sha = _sha256(data)
    if recorded is not None and recorded.get("sha256") == sha and \
            recorded.get("bytes") == len(data) and os.path.exists(os.path.join(dest.root, rel)) \
            and (not residual or recorded.get("kind") != "packed"
                 or os.path.exists(os.path.join(dest.root, RESIDUAL, rel))):
        return rel, recorded
    return rel, _pack_data(rel, data, sha, dest, indices, residual)


def _pack_bytes(data, indices, residual: bool):
    """One source file packed: (kind, packed bytes, residual bytes or None, reason).
    kind "packed", or "copied" (the bytes as they were) when freqload cannot read it."""
    try:
        c = read_coefficients(data)
        if c.info.num_components not in (1, 3):
            raise FreqloadError("not 1 or 3 components")
        kept, rest = split_coefficients(c, ChannelMask(indices))
        return ("packed", write_jpeg(c, kept, row_restarts=True),
                (write_jpeg(c, rest) if residual else None), "")
    except FreqloadError as e:  # not a JPEG freqload reads: keep it as it is
        return "copied", data, None, str(e)[:200]


def _entry(data, sha, kind, packed, reason) -> dict:
    """A file's manifest entry."""
    entry = {"bytes": len(data), "sha256": sha, "kind": kind, "packed_bytes": len(packed)}
    if reason:
        entry["reason"] = reason
    return entry


def _pack_data(rel, data, sha, dest, indices, residual) -> dict:
    """Pack one source's bytes into the destination's rel (and the residual): its
    manifest entry."""
    kind, packed, res, reason = _pack_bytes(data, indices, residual)
    dest.write(rel, packed)
    entry = _entry(data, sha, kind, packed, reason)
    if res is not None:
        dest.write(f"{RESIDUAL}/{rel}", res)
        entry["residual_bytes"] = len(res)
    return entry


def _walk(src: str, dst: str) -> list[str]:
    """The files under ``src`` to pack, relative to it: linked folders followed once (not
    into ``dst``), hidden names and the source's own pack manifest left out."""
    walk = FolderWalk(skip=[dst], hidden=False)
    rels = [os.path.relpath(p, src) for p in walk.files(src)]
    walk.warn(f"pack {src}")
    return [r for r in rels if r not in (MANIFEST,)]


def pack(src: str, dst: str, mask="dctnet24", *, residual: bool = False,
         workers: int | None = None, progress: bool | None = None) -> dict:
    """Pack every file under ``src`` into ``dst`` (see the module docstring).

    Returns the manifest (also written to ``dst/freqload-pack.json``): its "totals" hold
    the files, source bytes and packed bytes.
    Raises:
        ValueError: dst holds a pack with another mask, or dst is inside src.
    """
    src, dst = os.path.abspath(src), os.path.abspath(dst)
    if not os.path.isdir(src):
        raise FileNotFoundError(f"pack: the source {src} is not a folder")
    m = as_mask(mask)
    dest = Destination(dst, sources=[src], command="pack")  # apart from the source
    done: dict = {}
    for name in (MANIFEST, PARTIAL):
        if os.path.lexists(os.path.join(dst, name)):
            old = read_manifest(dst, name)
            if old is None:  # gone since it was seen
                continue
            if list(old["mask"]) != list(m.indices) or old["residual"] != bool(residual) \
                    or old.get("container") is not None:
                raise ValueError(f"pack: {dst} already holds a pack with another mask or "
                                 f"residual setting; use an empty destination")
            done.update(old["files"])
            dest.claimed.update((MANIFEST, PARTIAL))
    for rel, e in done.items():  # what an earlier run wrote (also before the journal)
        if e["kind"] != "unreadable":
            dest.claimed.add(rel)
        if e["kind"] == "packed" and e.get("residual_bytes") is not None:
            dest.claimed.add(f"{RESIDUAL}/{rel}")
    rels = _walk(src, dst)
    dest.refuse_foreign([MANIFEST, PARTIAL] + rels
                        + ([f"{RESIDUAL}/{r}" for r in rels] if residual else []))
    manifest: dict[str, Any] = {"format": FORMAT, "mask": list(m.indices), "mask_names": m.names,
                "residual": bool(residual), "freqload_version": __version__,
                "source": src, "files": {r: done[r] for r in rels if r in done}}

    def save(name):
        dest.write(name, json.dumps(manifest, indent=1).encode(), sync=True)

    workers = workers or len(os.sched_getaffinity(0))
    # every file goes through a worker: one packed before is kept when its source still
    # hashes to the recorded SHA-256 and its output exists (a resume), else packed again
    jobs = [(r, os.path.join(src, r), dest, tuple(m.indices), residual, done.get(r))
            for r in rels]
    with Progress(len(rels), "packing", progress) as bar, \
            Interruptible() as stop:
        try:
            with worker_results(_pack_one, jobs, workers, ordered=False) as results:
                saved = time.monotonic()
                for rel, entry in results:
                    manifest["files"][rel] = entry
                    bar.update()
                    if time.monotonic() - saved > 5:
                        save(PARTIAL)  # resumable, also after a SIGKILL
                        saved = time.monotonic()
        except KeyboardInterrupt:
            # Ctrl-C, or SIGTERM turned into one: the workers are ended (they ignore
            # SIGINT), then the manifest of what finished, then one clear exception
            save(PARTIAL)
            raise PackInterrupted(stop.signum or signal.SIGINT, len(manifest["files"]),
                                  len(rels), dst) from None
    files = manifest["files"]
    manifest["totals"] = {
        "files": len(files), "packed": sum(e["kind"] == "packed" for e in files.values()),
        "copied": sum(e["kind"] == "copied" for e in files.values()),
        "unreadable": sum(e["kind"] == "unreadable" for e in files.values()),
        "source_bytes": sum(e.get("bytes", 0) for e in files.values()),
        "packed_bytes": sum(e.get("packed_bytes", 0) for e in files.values()),
        "residual_bytes": sum(e.get("residual_bytes", 0) for e in files.values())}
    save(MANIFEST)
    partial = os.path.join(dst, PARTIAL)
    if os.path.exists(partial):
        os.remove(partial)
    return manifest


def _packed_member(rel, data, indices):
    """freqload pack --format tar's converter: (packed JPEG, or the bytes as they were;
    manifest entry) for one source file."""
    kind, packed, _, reason = _pack_bytes(data, indices, False)
    return packed, _entry(data, _sha256(data), kind, packed, reason)


def pack_to_shards(src: str, dst: str, mask="dctnet24", *, shard_size="1GB",
                   shuffle: bool = True, seed: int = 0, workers: int | None = None,
                   progress: bool | None = None) -> dict:
    """``freqload pack --format tar``: pack every file of ``src`` (as :func:`pack` does)
    straight into tar shards in ``dst`` (as :func:`freqload.tools.shards.write_shards` writes
    them: index files, a manifest with checksums, resumable). ``dst`` also gets a pack
    manifest, so a loader reading these shards refuses a mask that needs dropped bands.
    No residual (use the folder format for ``unpack``)."""

    m = as_mask(mask)
    src = os.path.abspath(src)
    if not os.path.isdir(src):
        raise FileNotFoundError(f"pack: the source {src} is not a folder")
    convert = functools.partial(_packed_member, indices=tuple(m.indices))
    man = write_shards(src, dst, shard_size=shard_size, shuffle=shuffle, seed=seed,
                       prefix="packed", workers=workers, progress=progress, convert=convert,
                       extra={"pack": {"format": FORMAT, "mask": list(m.indices)}},
                       what="files packed", also_writes=[MANIFEST])
    Destination(dst, sources=[src], command="pack").write(MANIFEST, json.dumps(
        {"format": FORMAT, "mask": list(m.indices), "mask_names": m.names, "residual": False,
         "freqload_version": __version__, "source": src, "container": "tar shards",
         "files": {}}, indent=1).encode(), sync=True)
    return man


def unpack(packed: str, out: str, *, progress: bool | None = None) -> int:
    """Rebuild the original coefficients from a pack made with residual=True: writes
    baseline JPEGs (same coefficients as the sources, not the same bytes) to ``out``.
    Returns the number of files written.

    ``out`` must lie apart from the pack (real paths, both directions), files are written
    only to the manifest's names inside ``out`` (checked relative paths), and files there
    that freqload did not write are never overwritten (refused up front, naming them):
    :mod:`freqload.data.destination`. A packed or residual file whose size is not the one the
    manifest recorded raises :class:`~freqload.errors.IntegrityError` naming it."""
    if not os.path.isdir(packed):
        raise FileNotFoundError(f"unpack: {packed} is not a folder")
    man = read_manifest(packed)
    if man is None:
        raise ValueError(f"{packed} is not a freqload pack (no {MANIFEST})")
    if not man.get("residual"):
        raise ValueError(f"{packed} was packed without --residual: the dropped bands are gone")
    dest = Destination(out, sources=[packed], command="unpack")
    files = {r: e for r, e in man["files"].items() if e["kind"] != "unreadable"}
    dest.refuse_foreign(sorted(files))

    def read_recorded(path: str, size: int) -> bytes:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) != size:
            raise IntegrityError(f"{path} has {len(data):,} bytes, the pack's manifest says "
                                 f"{size:,}: the pack was changed or damaged after packing")
        return data

    n = 0
    with Progress(len(files), "unpacking", progress) as bar:
        for rel, entry in sorted(files.items()):
            bar.update()
            src = os.path.join(packed, rel)
            data = read_recorded(src, entry["packed_bytes"])
            if entry["kind"] == "copied":
                dest.write(rel, data)
                n += 1
                continue
            if "residual_bytes" not in entry:
                raise IntegrityError(f"{os.path.join(packed, MANIFEST)}: files[{rel!r}] has no "
                                     "residual_bytes in a --residual pack")
            res = read_recorded(os.path.join(packed, RESIDUAL, rel), entry["residual_bytes"])
            a, b = read_coefficients(data), read_coefficients(res)
            # each coefficient is in one of the two: anything else is not this pair
            if [x.shape for x in a.components] != [y.shape for y in b.components] or any(
                    np.any((x != 0) & (y != 0)) for x, y in zip(a.components, b.components)):
                raise IntegrityError(f"{src} and its residual do not split one image's "
                                     "coefficients (they overlap or differ in shape): the "
                                     "pack was changed after packing")
            whole = [x.astype(np.int16) + y.astype(np.int16)
                     for x, y in zip(a.components, b.components)]
            dest.write(rel, write_jpeg(a, whole))
            n += 1
    return n


__all__ = ["pack", "unpack", "pack_to_shards"]
