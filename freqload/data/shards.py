"""Tar shards (the WebDataset convention) as a loader source.

A data set at scale is kept as tar files ("shard files"), each holding many samples. A
sample is the group of consecutive members that share a key, the member name up to the
first dot of its base name: ``n01440764_10026.jpg`` and ``n01440764_10026.cls`` are the
image and the label of sample ``n01440764_10026``. The image is the ``.jpg`` or ``.jpeg``
member (any case); the label is the integer text of ``.cls``, or with ``label_key=`` a
field of the ``.json`` member. A shard set where no sample has a label at all is
unlabelled (labels -1, as a list of paths is).

Sources: a shard path, a brace range (``data/train-{000000..000146}.tar``, zero-padded
as written; ``{a,b}`` lists too), a glob (``data/train-*.tar``), or a list of these.

The loaders read each image as a byte range of its shard (the core's file reader takes
an offset and a length), so a shard is never unpacked and a sample is one read. Indexing
reads the tar headers and the small label members once, when the loader is made.

Bad shards: a sample without an image member, a missing label, or a member cut off by a
truncated tar is known when the shard is indexed; the loader's ``on_error`` treats it as
a bad file (raise, skip), its message naming the shard and the member. A shard whose
headers stop parsing keeps the samples before the damage; under ``on_error="raise"`` the
loader refuses it when made, else it warns and goes on.
"""
from __future__ import annotations

import functools
import glob as _glob
import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import DecodeError, IntegrityError, ManifestError
from ..progress import Progress
from ..schema import Document, parse_json
from . import remote
from .destination import atomic_write
from .labels import check_label
from .tar_headers import TarMember, read_tar_headers

#: member extensions that hold a sample's image: JPEG's first, then the other image
#: formats a folder source keeps (they go through on_error, as from a folder)
IMAGE_EXTS = ("jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "ppm", "pgm", "tif", "tiff",
              "webp")
_BRACE = re.compile(r"\{([^{}]*)\}")


#: the most names one source's brace patterns may expand to (a typo such as
#: {0..99999999} is refused before anything is expanded)
MAX_BRACE_NAMES = 1_000_000


def _brace_items(body: str, spec: str):
    """(count, items()) of one brace's alternatives, the items made only when asked."""
    r = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if r:
        lo, hi = int(r.group(1)), int(r.group(2))
        if hi < lo:
            raise ValueError(f"brace range {{{body}}} in {spec!r} runs backwards")
        width = len(r.group(1)) if r.group(1).startswith("0") else 0
        return hi - lo + 1, lambda: [str(i).zfill(width) for i in range(lo, hi + 1)]
    if "," in body:
        items = body.split(",")
        return len(items), lambda: items
    raise ValueError(f"cannot expand {{{body}}} in {spec!r}: use {{first..last}} or "
                     "{a,b,...}")


def count_braces(spec: str) -> int:
    """How many names ``spec``'s braces expand to, without expanding them."""
    total, rest = 1, spec
    for m in _BRACE.finditer(rest):
        total *= _brace_items(m.group(1), spec)[0]
    return total


def expand_braces(spec: str) -> list[str]:
    """``a-{000..002}.tar`` -> a-000.tar, a-001.tar, a-002.tar (zero padding as written);
    ``{x,y}`` -> both; several braces expand left to right. More than
    :data:`MAX_BRACE_NAMES` names is refused (ValueError) before any is made."""
    n = count_braces(spec)
    if n > MAX_BRACE_NAMES:
        raise ValueError(f"{spec!r} expands to {n:,} names, over {MAX_BRACE_NAMES:,}: a typo "
                         "in a brace range?")
    return _expand(spec)


def _expand(spec: str) -> list[str]:
    m = _BRACE.search(spec)
    if m is None:
        return [spec]
    head, tail = spec[:m.start()], spec[m.end():]
    _, items = _brace_items(m.group(1), spec)
    return [s for item in items() for s in _expand(head + item + tail)]


def is_shard_spec(source) -> bool:
    """Whether a loader source names tar shards (a .tar path, range or glob, or a list of
    them) rather than a folder, a file list or image paths."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source).lower().endswith(".tar")
    if isinstance(source, (list, tuple)) and source:
        return all(isinstance(s, (str, os.PathLike)) and os.fspath(s).lower().endswith(".tar")
                   for s in source)
    return False


def shard_paths(source) -> list[str]:
    """The shard files a source names, in order (braces expanded, globs sorted; ``s3://``
    globs list the bucket). FileNotFoundError names local files that are missing (a URL
    is checked when its index is read)."""
    specs = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    out: list[str] = []
    missing: list[str] = []
    named = 0
    for spec in specs:
        for s in expand_braces(os.fspath(spec)):
            if remote.is_url(s) and not any(c in s for c in "*?["):
                out.append(s)  # checked when its index is read
                named += 1
            elif any(c in s for c in "*?["):
                found = remote.glob(s) if remote.is_url(s) else sorted(_glob.glob(s))
                if not found:
                    raise FileNotFoundError(f"no shard files match {s!r}")
                out.extend(found)
                named += len(found)
            else:
                named += 1
                (out if os.path.isfile(s) else missing).append(s)
    if missing:
        more = f" ... ({len(missing) - 3} more)" if len(missing) > 3 else ""
        raise FileNotFoundError(f"{len(missing)} of {named} shard files do not exist: "
                                + ", ".join(missing[:3]) + more)
    return out


def split_key(name: str) -> tuple[str, str]:
    """A member name -> (sample key, extension): up to / after the first dot of the base
    name, as WebDataset and DALI's reader group members."""
    slash = name.rfind("/") + 1
    dot = name.find(".", slash)
    return (name, "") if dot < 0 else (name[:dot], name[dot + 1:])


@dataclass
class ShardIndex:
    """One shard's samples, in member order."""
    path: str
    keys: list = field(default_factory=list)     #: sample keys
    members: list = field(default_factory=list)  #: the image member's name ("" if none)
    offsets: list = field(default_factory=list)  #: image data offset in the tar
    sizes: list = field(default_factory=list)    #: image data bytes
    labels: list = field(default_factory=list)   #: int, or None (no label member)
    problems: dict = field(default_factory=dict)  #: sample number -> what is wrong
    damage: str = ""  #: the headers stop parsing here (samples after it are unknown)

    def table(self) -> tuple:
        """Everything a loader takes from the index, for comparing two indexes."""
        return (self.keys, self.members, self.offsets, self.sizes, self.labels,
                self.problems, self.damage)


#: the most bytes a label member (.cls, .json) may hold
MAX_LABEL_BYTES = 1 << 20


def _label(data: bytes, ext: str, label_key: str | None) -> int:
    """The label in a .cls / .json member's bytes; ValueError saying why not."""
    if len(data) > MAX_LABEL_BYTES:
        raise ValueError(f"{len(data):,} bytes, too large for a label")
    text = data.decode("utf-8").strip()
    if ext == "cls":
        if not re.fullmatch(r"[+-]?[0-9]{1,40}", text):
            raise ValueError(f"{text[:40]!r} is not an integer")
        return check_label(int(text))
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("its JSON is nested too deeply to read") from None
    if not isinstance(value, dict) or label_key not in value:
        raise ValueError(f"no field {label_key!r}")
    try:
        return check_label(value[label_key])
    except ValueError as e:
        raise ValueError(f"field {label_key!r}: {e}") from None


class _Sample:
    """A sample being gathered from consecutive members with one key."""
    __slots__ = ("key", "images", "labels", "problem")

    def __init__(self, key: str):
        self.key, self.problem = key, ""
        self.images: list[TarMember] = []
        self.labels: list[TarMember] = []


def index_shard(path: str, label_key: str | None = None) -> ShardIndex:
    """Read a shard's headers (:mod:`freqload.data.tar_headers`, a bounded reader) and label
    members: its samples, image ranges and labels.

    Args:
        path: an uncompressed tar file.
        label_key: take labels from this field of each sample's ``.json`` member instead
            of its ``.cls`` member.

    A sample is the run of consecutive members with one key (WebDataset's rule). What
    makes a sample bad is in ``problems`` (each goes through the loader's ``on_error``):
    no image member, more than one image or label member (which one is meant?), a label
    that is not a class index, a key that an earlier sample of the shard used, a member
    cut off by the file's end. Headers that stop parsing are ``damage``.
    """
    label_ext = "json" if label_key is not None else "cls"
    idx = ShardIndex(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise OSError(e.errno, f"cannot read shard {path}: {e.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        walk = read_tar_headers(fd, size, key_of=lambda name: split_key(name)[0])
        if not walk.members and walk.damage:
            head = os.pread(fd, 2, 0)
            how = ("gzip-compressed" if head == b"\x1f\x8b" else walk.damage)
            raise ValueError(f"{path}: not an uncompressed tar file ({how}); shards must be "
                             "plain .tar (compressed ones cannot be read by range)")
        samples: list = []
        for m in walk.members:
            key, ext = split_key(m.name)
            if not samples or samples[-1].key != key:
                samples.append(_Sample(key))
            s = samples[-1]
            if m.past_end:
                s.problem = (f"member {m.name!r} runs past the end of the shard "
                             f"({m.offset + m.size} > {size} bytes): truncated tar")
                continue
            low = ext.lower()
            if low in IMAGE_EXTS:
                s.images.append(m)
            elif low == label_ext:
                s.labels.append(m)
        seen: dict = {}
        for n, s in enumerate(samples):
            image = s.images[0] if len(s.images) == 1 else None
            label = None
            problem = s.problem
            if not problem and len(s.images) > 1:
                problem = (f"sample {s.key!r} has {len(s.images)} image members ("
                           + ", ".join(m.name for m in s.images[:4]) + "): which is meant?")
            if not problem and len(s.labels) > 1:
                problem = (f"sample {s.key!r} has {len(s.labels)} label members ("
                           + ", ".join(m.name for m in s.labels[:4]) + "): which is meant?")
            if not problem and not s.images:
                problem = f"sample {s.key!r} has no image member (.jpg, .jpeg, .png ...)"
            if len(s.labels) == 1 and not problem:
                m = s.labels[0]
                try:
                    if m.size > MAX_LABEL_BYTES:
                        raise ValueError(f"{m.size:,} bytes, too large for a label")
                    label = _label(os.pread(fd, m.size, m.offset), label_ext, label_key)
                except (ValueError, UnicodeDecodeError) as e:
                    problem = f"member {m.name!r} holds no label: {e}"
            if s.key in seen:  # WebDataset would give two samples one key: refuse both
                first = seen[s.key]
                problem = problem or (f"sample key {s.key!r} is used twice in the shard "
                                      f"(samples {first} and {n}): which is meant?")
                idx.problems.setdefault(first, f"sample key {s.key!r} is used twice in the "
                                               f"shard (samples {first} and {n})")
            seen.setdefault(s.key, n)
            idx.keys.append(s.key)
            idx.members.append(image.name if image is not None else "")
            idx.offsets.append(image.offset if image is not None else 0)
            idx.sizes.append(image.size if image is not None else 0)
            idx.labels.append(label)
            if problem:
                idx.problems[n] = problem
        idx.damage = walk.damage
    except OSError as e:
        raise OSError(e.errno, f"cannot read shard {path}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    return idx


#: a shard's index file: beside it, its name plus this
INDEX_SUFFIX = ".index.json"
_INDEX_FORMAT = "freqload-shard-index"
_INDEX_VERSION = 2


def digest(path: str) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def index_json(idx: ShardIndex, size: int, sha256: str, label_key: str | None) -> bytes:
    """A ShardIndex as its index file's bytes (JSON), tied to the shard's content: its
    size and SHA-256."""
    samples = [[idx.keys[k], idx.members[k], idx.offsets[k], idx.sizes[k], idx.labels[k],
                idx.problems.get(k)] for k in range(len(idx.keys))]
    return json.dumps({"format": _INDEX_FORMAT, "version": _INDEX_VERSION, "bytes": size,
                       "sha256": sha256, "label_key": label_key, "damage": idx.damage,
                       "samples": samples}, separators=(",", ":")).encode()


def write_index(path: str, label_key: str | None = None) -> str:
    """Index a local shard and write its index file (``path + INDEX_SUFFIX``), so a loader
    reading the shard from ``s3://`` / ``http(s)://`` need not download it to count its
    samples. The index records the shard's size and SHA-256: a loader that finds the
    shard changed (another size at a HEAD request, another digest once downloaded) does
    not trust it. Local shards are always indexed from their own headers. Returns the
    index file's path."""
    idx = index_shard(path, label_key)
    dest = path + INDEX_SUFFIX
    atomic_write(dest, index_json(idx, os.path.getsize(path), digest(path), label_key))
    return dest


def parse_index(data: bytes, path: str, label_key: str | None, where: str = ""):
    """(ShardIndex, shard bytes, shard SHA-256) from an index file's bytes, checked whole
    (:class:`freqload.schema.Document`). None when it is an index for other labels or of
    an older format without a digest (then the shard is read instead). A damaged index
    raises :class:`~freqload.errors.ManifestError` naming the file (``where``) and the
    field."""
    where = where or path + INDEX_SUFFIX
    doc = Document(parse_json(data, where), where)
    d = doc.mapping(doc.value)
    if doc.field(d, "format") != _INDEX_FORMAT:
        doc.fail("format", f"must be {_INDEX_FORMAT!r}, got {d['format']!r}")
    version = doc.integer(doc.field(d, "version"), "version")
    if version < _INDEX_VERSION:
        return None  # no digest: not tied to the shard's content
    if version != _INDEX_VERSION:
        doc.fail("version", f"{version} is newer than this freqload reads ({_INDEX_VERSION})")
    if doc.string(doc.field(d, "label_key"), "label_key", optional=True) != label_key:
        return None
    size = doc.integer(doc.field(d, "bytes"), "bytes")
    sha = doc.string(doc.field(d, "sha256"), "sha256")
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        doc.fail("sha256", f"must be 64 hex digits, got {sha[:70]!r}")
    idx = ShardIndex(path, damage=doc.string(doc.field(d, "damage", required=False,
                                                       default=""), "damage"))
    for k, row in enumerate(doc.sequence(doc.field(d, "samples"), "samples")):
        f = f"samples[{k}]"
        key, member, offset, length, label, problem = doc.sequence(row, f, 6)
        idx.keys.append(doc.string(key, f + "[0]"))
        idx.members.append(doc.string(member, f + "[1]"))
        offset, length = doc.integer(offset, f + "[2]"), doc.integer(length, f + "[3]")
        if offset + length > size:
            doc.fail(f, f"the member's bytes {offset}..{offset + length} run past the "
                     f"shard's {size}")
        idx.offsets.append(offset)
        idx.sizes.append(length)
        idx.labels.append(None if label is None else doc.integer(label, f + "[4]"))
        if doc.string(problem, f + "[5]", optional=True):
            idx.problems[k] = problem
    return idx, size, sha


def _index_one(path: str, label_key: str | None, cache) -> ShardIndex:
    """A shard's index. Local: read from its own headers (nothing to trust). Remote: its
    index file where one is there, matches these labels and the shard's current size, else
    the shard is downloaded into the cache and its headers read; the cache checks every
    download against the index's size and SHA-256 (:meth:`ShardSet.check_download`)."""
    if not remote.is_url(path):
        return index_shard(path, label_key)
    found, why = None, ""
    data = remote.read(path + INDEX_SUFFIX)
    if data is not None:
        try:
            found = parse_index(data, path, label_key, path + INDEX_SUFFIX)
        except ManifestError as e:
            why = f"{e}; reading the shard itself"
        if found is None and not why:
            why = (f"{path + INDEX_SUFFIX} is for other labels or has no digest (an older "
                   "freqload wrote it); reading the shard itself")
    if found is not None:
        idx, size, sha = found
        actual = remote.size(path)
        if actual is None or actual == size:
            cache.expect(path, size, sha, functools.partial(_recheck, path, idx, label_key))
            return idx
        why = (f"{path + INDEX_SUFFIX} describes a shard of {size:,} bytes, but {path} has "
               f"{actual:,} now: it changed since its index was written; reading the shard "
               "itself (rewrite its index with freqload.write_index)")
    if why:
        warnings.warn(f"DCTLoader: {why}", stacklevel=5)
    local = cache.ensure(path)
    idx = index_shard(local, label_key)
    idx.path = path
    # a later download (a temporary cache drops copies behind the loader) must be this one
    size, sha = cache.recorded(path)
    cache.expect(path, size, sha, functools.partial(_recheck, path, idx, label_key))
    return idx


def _recheck(url: str, idx: ShardIndex, label_key: str | None, local: str, got) -> None:
    """A downloaded copy of ``url`` differs from what its index says (size or SHA-256):
    read the copy's own headers. The same samples (keys, ranges, labels): the index still
    describes it, accepted with a warning. Others: IntegrityError, since the loader's plan
    was made from the index."""
    actual = index_shard(local, label_key)
    actual.path = url
    mine, theirs = idx.table(), actual.table()
    if mine == theirs:
        warnings.warn(f"DCTLoader: {url} is not the file its index was made from (SHA-256 "
                      f"{got[1][:16]}...), but holds the same samples; rewrite the index "
                      "(freqload.write_index)", stacklevel=2)
        return
    what = ("keys", "image members", "offsets", "sizes", "labels", "problems", "damage")
    diff = "the number of samples" if len(idx.keys) != len(actual.keys) else next(
        n for n, a, b in zip(what, mine, theirs) if a != b)
    where = ""
    if diff in what[:5]:
        k = next(k for k, (a, b) in enumerate(zip(mine[what.index(diff)],
                                                  theirs[what.index(diff)])) if a != b)
        where = (f" (sample {k}: {mine[what.index(diff)][k]!r} in the index, "
                 f"{theirs[what.index(diff)][k]!r} in the shard)")
    raise IntegrityError(
        f"{url} changed since its index was written: it has {got[0]:,} bytes, SHA-256 "
        f"{got[1][:16]}..., and its {diff} differ from the index's{where}. The loader's "
        "sample plan came from the index: rewrite the index (freqload.write_index) "
        "or remove it, and make the loader again")


@dataclass(frozen=True)
class ShardSet:
    """Tar shards as one list of samples (what :func:`freqload.data.sources.resolve_source`
    makes of a shard source): sample i is ``lengths[i]`` bytes at ``offsets[i]`` of shard
    file ``files[shard[i]]``."""
    files: tuple             #: the shard files
    shard: np.ndarray        #: int64 [N]: each sample's shard file
    offsets: np.ndarray      #: int64 [N]: where its image's bytes start
    lengths: np.ndarray      #: int64 [N]: how many
    labels: np.ndarray       #: int64 [N] (-1: unlabelled)
    names: tuple             #: "shard.tar:member" per sample, for messages
    problems: dict           #: sample -> why it is bad, known from the index
    damage: dict             #: shard file -> where its headers stop parsing
    counts: np.ndarray       #: int64 [files]: samples per shard file
    cache: remote.ShardCache | None = None  #: when the files are URLs
    _epoch: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def paths(self) -> _ShardPaths:
        """The shard file of each sample (what the engines open)."""
        return _ShardPaths(self.files, self.shard)

    def where(self, i: int) -> tuple[str, int, int]:
        """Sample i's (shard file, offset, length) of its image's bytes; a remote file's
        local copy (downloaded first when it is not there yet)."""
        f = self.files[self.shard[i]]
        if self.cache is not None:
            f = self.cache.ensure(f)
        return f, int(self.offsets[i]), int(self.lengths[i])

    @property
    def local_files(self) -> tuple:
        """The files the engines open: the shard files, or their copies in the cache."""
        if self.cache is None:
            return self.files
        return tuple(self.cache.local(u) for u in self.files)

    def report_damage(self, on_error: str, who: str) -> None:
        """Shard files whose headers stop parsing (or that were cut short): refused under
        on_error="raise" (the samples past the damage cannot even be counted), else one
        warning each. ``who``: the loader, for messages."""
        for path, where in self.damage.items():
            if on_error == "raise":
                raise DecodeError(f"{path}: {where}; on_error=\"skip\" reads the samples "
                                  "before it")
            warnings.warn(f"{who}: {path}: {where}; the samples before it are read",
                          stacklevel=4)

    def ready(self, batch) -> None:
        """Make sure the files a batch reads are local (remote shards: downloads any the
        cache has not fetched yet)."""
        if self.cache is not None:
            for f in np.unique(self.shard[np.asarray(batch, dtype=np.int64)]).tolist():
                self.cache.ensure(self.files[f])

    # -- remote shards: fetch ahead of the loader, let go behind it ---------------------
    def begin_epoch(self, batches, ahead: int = 2) -> None:
        """The loader is about to read these batches in this order: download the files
        they need in order of first need, keeping ``ahead`` files beyond those the
        current batch reads. Local shards: nothing to do."""
        if self.cache is None:
            return
        first: dict[str, int] = {}  # per URL (a list may name one file more than once)
        last: dict[str, int] = {}
        for j, b in enumerate(batches):
            for f in np.unique(self.shard[np.asarray(b, dtype=np.int64)]).tolist():
                first.setdefault(self.files[f], j)
                last[self.files[f]] = j
        order = sorted(first, key=lambda u: first[u])
        self._epoch.clear()
        self._epoch.update(order=order, first=first, last=last, queued=0, ahead=ahead)
        self._top_up(0)

    def _top_up(self, j: int) -> None:
        e = self._epoch
        want = [u for u in e["order"][e["queued"]:] if e["first"][u] <= j]
        n_ahead = 0
        for u in e["order"][e["queued"] + len(want):]:
            if n_ahead >= e["ahead"]:
                break
            want.append(u)
            n_ahead += 1
        e["queued"] += len(want)
        if self.cache is not None:
            self.cache.prefetch(want)

    def batch_done(self, j: int) -> None:
        """Batch ``j`` of those begin_epoch was given has been consumed: a temporary
        cache drops the files no later batch reads; the next files are fetched."""
        if self.cache is None or not self._epoch:
            return
        e = self._epoch
        for url, last in e["last"].items():
            if last == j:
                self.cache.release(url)
        self._top_up(j + 1)

    @property
    def file_of(self) -> np.ndarray:
        """Each sample's shard file (the engines' name for ``shard``)."""
        return self.shard

    def __len__(self) -> int:
        return len(self.shard)


class _ShardPaths:
    """paths[i] of a ShardSet without N strings: the shard file of sample i."""

    def __init__(self, files, shard):
        self.files, self.shard = files, shard

    def __len__(self):
        return len(self.shard)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.files[s] for s in self.shard[i]]
        return self.files[self.shard[i]]

    def __iter__(self):
        return (self.files[s] for s in self.shard)


def index_shards(source, label_key: str | None = None, progress=None,
                 cache_dir: str | None = None) -> ShardSet:
    """Index every shard of a source (:func:`shard_paths`) into one :class:`ShardSet`.
    Each shard's index file is used where one matches (:func:`write_index`), else its
    headers are read (a remote shard is downloaded for that: write index files to
    avoid it). Remote shards get a :class:`freqload.data.remote.ShardCache` in ``cache_dir``
    (None: a temporary folder)."""
    files = shard_paths(source)
    cache = remote.ShardCache(cache_dir) if any(remote.is_url(f) for f in files) else None
    indexes: list = []
    with Progress(len(files), "indexing shards", progress if len(files) > 8 else False) as bar:
        one = functools.partial(_index_one, label_key=label_key, cache=cache)
        if cache is None or len(files) == 1:
            for f in files:
                indexes.append(one(f))
                bar.update()
        else:  # requests overlap: index files, HEADs and downloads of many shards at once
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(16, len(files)),
                                    thread_name_prefix="freqload-index") as pool:
                for idx in pool.map(one, files):
                    indexes.append(idx)
                    bar.update()
    counts = np.array([len(i.keys) for i in indexes], dtype=np.int64)
    if counts.sum() == 0:
        raise ValueError(f"no samples in {len(files)} shard file(s) ({files[0]} ...)")
    labelled = any(lab is not None for i in indexes for lab in i.labels)
    what = f".json field {label_key!r}" if label_key is not None else ".cls member"
    shard: list[int] = []
    offsets: list[int] = []
    lengths: list[int] = []
    labels: list[int] = []
    names: list[str] = []
    problems: dict[int, str] = {}
    for s, idx in enumerate(indexes):
        base = len(shard)
        for k in range(len(idx.keys)):
            shard.append(s)
            offsets.append(idx.offsets[k])
            lengths.append(idx.sizes[k])
            names.append(f"{idx.path}:{idx.members[k] or idx.keys[k]}")
            lab = idx.labels[k]
            labels.append(-1 if lab is None else lab)
            if k in idx.problems:
                problems[base + k] = idx.problems[k]
            elif labelled and lab is None:
                problems[base + k] = f"sample {idx.keys[k]!r} has no label ({what})"
    return ShardSet(tuple(files), np.asarray(shard, np.int64), np.asarray(offsets, np.int64),
                    np.asarray(lengths, np.int64), np.asarray(labels, np.int64), tuple(names),
                    problems, {i.path: i.damage for i in indexes if i.damage}, counts, cache)
