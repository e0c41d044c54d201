"""``freqload pack``: a copy of a data set holding only the frequency bands a mask needs.

Each JPEG becomes a standard baseline JPEG with the same size, sampling and quant
tables, in which every coefficient outside the mask is zero, and Huffman tables
optimised for what is left: fewer symbols to entropy-decode, so loading is faster
than the original's Huffman limit, and the files are smaller. The kept
coefficients are stored exactly (libjpeg's transcoder: no DCT, no quantisation).

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

import contextlib
import ctypes
import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
from typing import Optional

import numpy as np

from . import __version__, _core
from .channels import core_arrays
from .coefficients import Coefficients, read_coefficients
from .errors import FreqloadError
from .mask import ChannelMask, as_mask
from .progress import Progress

MANIFEST = "freqload-pack.json"
PARTIAL = ".freqload-pack.partial.json"
RESIDUAL = ".residual"
FORMAT = "freqload-pack/1"


def _keep_tables(mask: ChannelMask, num_components: int) -> list[np.ndarray]:
    keep = [np.zeros(64, dtype=bool) for _ in range(num_components)]
    for k in mask.indices:
        if k // 64 < num_components:
            keep[k // 64][k % 64] = True
    return keep


def split_coefficients(coeffs: Coefficients, mask) -> tuple[list, list]:
    """(kept, residual): per component int16 [bh, bw, 64] arrays, the mask's bands and
    the rest (each zero where the other is not), summing to the original."""
    m = as_mask(mask)
    arrays, _, _ = core_arrays(coeffs)
    keep = _keep_tables(m, len(arrays))
    kept = [np.where(k, a, 0).astype(np.int16) for a, k in zip(arrays, keep)]
    rest = [np.where(k, 0, a).astype(np.int16) for a, k in zip(arrays, keep)]
    return kept, rest


def write_jpeg(coeffs: Coefficients, components=None) -> bytes:
    """A baseline JPEG (optimised Huffman tables) holding ``components`` (default: the
    coefficients' own) with coeffs' size, sampling and quant tables."""
    arrays, sampling, quant = core_arrays(coeffs)
    if components is not None:
        arrays = [np.ascontiguousarray(a, dtype=np.int16) for a in components]
    return _core.write_jpeg(arrays, sampling, quant, coeffs.info.width, coeffs.info.height)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PackInterrupted(KeyboardInterrupt):
    """pack() stopped by SIGINT or SIGTERM; the partial manifest is saved (resumable)."""

    def __init__(self, signum: int, done: int, total: int, dst: str,
                 what: str = "files packed"):
        self.signum, self.done, self.total, self.dst = signum, done, total, dst
        super().__init__(f"interrupted by {signal.Signals(signum).name} with {done} of {total} "
                         f"{what} into {dst}; run the same command again to resume")


def _worker_init():
    """In each worker: Ctrl-C goes to the whole process group, but only the parent acts
    on it (it then ends the workers); and a worker dies with its parent (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):  # not Linux: the parent's terminate() still ends us
        pass


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
        return "packed", write_jpeg(c, kept), (write_jpeg(c, rest) if residual else None), ""
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
    from .sources import FolderWalk

    walk = FolderWalk(skip=[dst], hidden=False)
    rels = [os.path.relpath(p, src) for p in walk.files(src)]
    walk.warn(f"pack {src}")
    return [r for r in rels if r not in (MANIFEST,)]


def pack(src: str, dst: str, mask="dctnet24", *, residual: bool = False,
         workers: Optional[int] = None, progress: Optional[bool] = None) -> dict:
    """Pack every file under ``src`` into ``dst`` (see the module docstring).

    Returns the manifest (also written to ``dst/freqload-pack.json``): its "totals" hold
    the files, source bytes and packed bytes.
    Raises:
        ValueError: dst holds a pack with another mask, or dst is inside src.
    """
    from .destination import Destination

    src, dst = os.path.abspath(src), os.path.abspath(dst)
    if not os.path.isdir(src):
        raise FileNotFoundError(f"pack: the source {src} is not a folder")
    m = as_mask(mask)
    dest = Destination(dst, sources=[src], command="pack")  # apart from the source
    done: dict = {}
    for name in (MANIFEST, PARTIAL):
        if os.path.lexists(os.path.join(dst, name)):
            old = read_manifest(dst, name)
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
    manifest = {"format": FORMAT, "mask": list(m.indices), "mask_names": m.names,
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
            _Interruptible() as stop:
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
                   shuffle: bool = True, seed: int = 0, workers: Optional[int] = None,
                   progress: Optional[bool] = None) -> dict:
    """``freqload pack --format tar``: pack every file of ``src`` (as :func:`pack` does)
    straight into tar shards in ``dst`` (as :func:`freqload.shards.write_shards` writes
    them: index files, a manifest with checksums, resumable). ``dst`` also gets a pack
    manifest, so a loader reading these shards refuses a mask that needs dropped bands.
    No residual (use the folder format for ``unpack``)."""
    import functools

    from .destination import Destination
    from .shards import write_shards

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


@contextlib.contextmanager
def worker_results(fn, jobs, workers: int, ordered: bool):
    """``fn`` over ``jobs``: in this process (``workers`` <= 1) or in a pool of worker
    processes that leave Ctrl-C to the parent and die with it; results in order, or as
    they finish. When the body stops early (an exception: Ctrl-C, SIGTERM turned into
    one), the workers are ended before it propagates; otherwise they are joined."""
    if workers <= 1:
        yield map(fn, jobs)
        return
    pool = multiprocessing.get_context().Pool(workers, initializer=_worker_init)
    try:
        yield (pool.imap if ordered else pool.imap_unordered)(fn, jobs, chunksize=4)
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


class _Interruptible:
    """Within: SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does, and
    ``signum`` records which signal came. Restores the old handler on exit."""

    def __init__(self):
        self.signum = None
        self._old = None

    def _handler(self, signum, frame):
        self.signum = signum
        raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handler)
            self._old_int = signal.getsignal(signal.SIGINT)
            if self._old_int is signal.default_int_handler:
                signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
            signal.signal(signal.SIGINT, self._old_int)
        return False


def find_pack_root(path: str) -> Optional[str]:
    """The pack folder holding ``path`` (itself or the nearest parent folder with a pack
    manifest), or None."""
    d = os.path.abspath(path)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while True:
        if os.path.isfile(os.path.join(d, MANIFEST)):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


#: what a pack manifest's file entries may say of a source file
KINDS = ("packed", "copied", "unreadable")


def read_manifest(root: str, name: str = MANIFEST) -> Optional[dict]:
    """The pack manifest of a folder (``name``: the manifest or the partial one of an
    interrupted run), checked whole; None when there is none. A damaged one raises
    :class:`~freqload.errors.ManifestError` naming the file and the field."""
    from .errors import ManifestError
    from .schema import Document

    p = os.path.join(root, name)
    if not os.path.isfile(p):
        return None
    try:
        doc = Document.load(p)
        d = doc.mapping(doc.value)
        if doc.field(d, "format") != FORMAT:
            doc.fail("format", f"must be {FORMAT!r}, got {_short(d['format'])}")
        mask = doc.sequence(doc.field(d, "mask"), "mask")
        for k, v in enumerate(mask):
            doc.integer(v, f"mask[{k}]", 0, 191)
        if len(set(mask)) != len(mask):
            doc.fail("mask", "names a channel twice")
        d["residual"] = doc.boolean(doc.field(d, "residual", required=False, default=False),
                                    "residual")
        doc.string(doc.field(d, "source", required=False), "source", optional=True)
        doc.string(doc.field(d, "container", required=False), "container", optional=True)
        for rel, e in doc.mapping(doc.field(d, "files"), "files").items():
            f = doc.name("files", rel)
            doc.relpath(rel, f)
            doc.mapping(e, f)
            kind = doc.choice(doc.field(e, "kind", f), f + ".kind", KINDS)
            if kind == "unreadable":
                continue
            doc.integer(doc.field(e, "bytes", f), f + ".bytes")
            sha = doc.string(doc.field(e, "sha256", f), f + ".sha256")
            if len(sha) != 64:
                doc.fail(f + ".sha256", "must be 64 hex digits")
            doc.integer(doc.field(e, "packed_bytes", f), f + ".packed_bytes")
            if "residual_bytes" in e:
                doc.integer(e["residual_bytes"], f + ".residual_bytes")
    except ManifestError as e:
        raise ManifestError(f"{e}. This file marks {root} as a freqload pack: repair it "
                            "(running the same freqload pack command again rewrites it) or "
                            "remove it if that folder is not a pack") from None
    return d


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_mask(root: str, mask) -> None:
    """Raise ValueError when ``root`` (a folder or file, or any folder inside a pack) lies
    in a pack that dropped bands ``mask`` needs."""
    pack_root = find_pack_root(root)
    if pack_root is None:
        return
    man = read_manifest(pack_root)
    missing = sorted(set(as_mask(mask).indices) - set(man["mask"]))
    if missing:
        from .mask import channel_name

        inside = "" if os.path.abspath(root) == pack_root else f" (inside the pack {pack_root})"
        raise ValueError(
            f"{root}{inside} is a freqload pack holding {len(man['mask'])} channels; the mask "
            f"needs {len(missing)} it dropped ({', '.join(channel_name(i) for i in missing[:6])}"
            f"{', ...' if len(missing) > 6 else ''}). Use the originals "
            f"({man.get('source', '?')}) or a mask within the pack's.")


def check_mask_for_paths(paths, mask) -> None:
    """check_mask for every folder the files of a list source lie in (each folder once)."""
    for d in sorted({os.path.abspath(d) for d in {os.path.dirname(p) for p in paths}}):
        check_mask(d, mask)


def unpack(packed: str, out: str, *, progress: Optional[bool] = None) -> int:
    """Rebuild the original coefficients from a pack made with residual=True: writes
    baseline JPEGs (same coefficients as the sources, not the same bytes) to ``out``.
    Returns the number of files written.

    ``out`` must lie apart from the pack (real paths, both directions), files are written
    only to the manifest's names inside ``out`` (checked relative paths), and files there
    that freqload did not write are never overwritten (refused up front, naming them):
    :mod:`freqload.destination`. A packed or residual file whose size is not the one the
    manifest recorded raises :class:`~freqload.errors.IntegrityError` naming it."""
    from .destination import Destination
    from .errors import IntegrityError

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


__all__ = ["pack", "unpack", "read_manifest", "check_mask", "check_mask_for_paths",
           "find_pack_root", "split_coefficients", "write_jpeg", "PackInterrupted", "MANIFEST",
           "pack_to_shards"]
