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

import glob as _glob
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

#: member extensions that hold a sample's image: JPEG's first, then the other image
#: formats a folder source keeps (they go through on_error, as from a folder)
IMAGE_EXTS = ("jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "ppm", "pgm", "tif", "tiff",
              "webp")
_BRACE = re.compile(r"\{([^{}]*)\}")


def expand_braces(spec: str) -> list[str]:
    """``a-{000..002}.tar`` -> a-000.tar, a-001.tar, a-002.tar (zero padding as written);
    ``{x,y}`` -> both; several braces expand left to right."""
    m = _BRACE.search(spec)
    if m is None:
        return [spec]
    body, head, tail = m.group(1), spec[:m.start()], spec[m.end():]
    r = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if r:
        lo, hi = int(r.group(1)), int(r.group(2))
        if hi < lo:
            raise ValueError(f"brace range {{{body}}} in {spec!r} runs backwards")
        width = len(r.group(1)) if r.group(1).startswith("0") else 0
        items = [str(i).zfill(width) for i in range(lo, hi + 1)]
    elif "," in body:
        items = body.split(",")
    else:
        raise ValueError(f"cannot expand {{{body}}} in {spec!r}: use {{first..last}} or "
                         "{a,b,...}")
    return [s for item in items for s in expand_braces(head + item + tail)]


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
    from . import remote

    specs = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    out, missing, named = [], [], 0
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


def _label(data: bytes, ext: str, label_key: Optional[str]):
    """The label in a .cls / .json member's bytes; ValueError saying why not."""
    text = data.decode("utf-8").strip()
    if ext == "cls":
        return int(text)
    value = json.loads(text)
    if not isinstance(value, dict) or label_key not in value:
        raise ValueError(f"no field {label_key!r}")
    if isinstance(value[label_key], bool) or not isinstance(value[label_key], int):
        raise ValueError(f"field {label_key!r} is {value[label_key]!r}, not an integer")
    return value[label_key]


def index_shard(path: str, label_key: Optional[str] = None) -> ShardIndex:
    """Read a shard's headers and label members: its samples, image ranges and labels.

    Args:
        path: an uncompressed tar file.
        label_key: take labels from this field of each sample's ``.json`` member instead
            of its ``.cls`` member.
    """
    label_ext = "json" if label_key is not None else "cls"
    idx = ShardIndex(path)
    size = os.path.getsize(path)
    current = None  # the sample being gathered: [key, image member, label, problem]

    def finish():
        if current is None:
            return
        key, image, label, problem = current
        n = len(idx.keys)
        idx.keys.append(key)
        idx.members.append(image.name if image is not None else "")
        idx.offsets.append(image.offset_data if image is not None else 0)
        idx.sizes.append(image.size if image is not None else 0)
        idx.labels.append(label)
        if image is None:
            problem = problem or f"sample {key!r} has no image member (.jpg, .jpeg, .png ...)"
        if problem:
            idx.problems[n] = problem

    try:
        with open(path, "rb") as f:
            try:
                tar = tarfile.open(fileobj=f, mode="r:")
            except tarfile.ReadError as e:
                raise ValueError(f"{path}: not an uncompressed tar file ({e}); shards must be "
                                 "plain .tar (compressed ones cannot be read by range)") from None
            last_end = 0
            while True:
                try:
                    m = tar.next()
                except tarfile.ReadError as e:
                    if last_end > size:  # the file ends inside the last member: truncated,
                        break            # that member's sample already says so
                    # a header that does not parse
                    last = current[0] if current is not None else None
                    idx.damage = (f"the tar headers stop parsing after sample {last!r} ({e})"
                                  if last is not None else f"the tar headers do not parse ({e})")
                    break
                if m is None:  # tarfile also ends quietly at a header it cannot parse:
                    f.seek(tar.offset)  # a proper end is zero blocks or the file's end
                    if f.read(tarfile.BLOCKSIZE).strip(b"\0"):
                        last = current[0] if current is not None else None
                        idx.damage = (f"the tar header at byte {tar.offset} does not parse"
                                      + (f" (after sample {last!r})" if last is not None
                                         else ""))
                    break
                if not m.isfile():
                    continue
                key, ext = split_key(m.name)
                if current is None or key != current[0]:
                    finish()
                    current = [key, None, None, ""]
                last_end = m.offset_data + m.size
                if last_end > size:
                    current[3] = (f"member {m.name!r} runs past the end of the shard "
                                  f"({m.offset_data + m.size} > {size} bytes): truncated tar")
                    continue
                if ext.lower() in IMAGE_EXTS and (
                        current[1] is None or IMAGE_EXTS.index(ext.lower()) <
                        IMAGE_EXTS.index(split_key(current[1].name)[1].lower())):
                    current[1] = m  # the first JPEG member, else the first image
                elif ext == label_ext:
                    try:
                        current[2] = _label(tar.extractfile(m).read(), ext, label_key)
                    except (ValueError, UnicodeDecodeError) as e:
                        current[3] = f"member {m.name!r} holds no label: {e}"
            finish()
            current = None
    except OSError as e:
        raise OSError(f"cannot read shard {path}: {e}") from e
    return idx


#: a shard's index file: beside it, its name plus this
INDEX_SUFFIX = ".index.json"
_INDEX_FORMAT = "freqload-shard-index"


def index_json(idx: ShardIndex, size: int, label_key: Optional[str]) -> bytes:
    """A ShardIndex as its index file's bytes (JSON)."""
    samples = [[idx.keys[k], idx.members[k], idx.offsets[k], idx.sizes[k], idx.labels[k],
                idx.problems.get(k)] for k in range(len(idx.keys))]
    return json.dumps({"format": _INDEX_FORMAT, "version": 1, "bytes": size,
                       "label_key": label_key, "damage": idx.damage,
                       "samples": samples}, separators=(",", ":")).encode()


def write_index(path: str, label_key: Optional[str] = None) -> str:
    """Index a local shard and write its index file (``path + INDEX_SUFFIX``), so loaders
    (local, or reading a copy from s3:// / http(s)://) need not read its headers. Returns
    the index file's path."""
    idx = index_shard(path, label_key)
    dest = path + INDEX_SUFFIX
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(index_json(idx, os.path.getsize(path), label_key))
    os.replace(tmp, dest)
    return dest


def parse_index(data: bytes, path: str, label_key: Optional[str]):
    """(ShardIndex, shard bytes) from an index file's bytes, or None when it is not one
    for these labels (then the shard is read instead)."""
    try:
        d = json.loads(data)
    except ValueError:
        return None
    if not isinstance(d, dict) or d.get("format") != _INDEX_FORMAT or d.get("version") != 1 \
            or d.get("label_key") != label_key:
        return None
    idx = ShardIndex(path, damage=d.get("damage", ""))
    for k, (key, member, offset, size, label, problem) in enumerate(d["samples"]):
        idx.keys.append(key)
        idx.members.append(member)
        idx.offsets.append(int(offset))
        idx.sizes.append(int(size))
        idx.labels.append(label)
        if problem:
            idx.problems[k] = problem
    return idx, int(d["bytes"])


def _index_one(path: str, label_key: Optional[str], cache) -> ShardIndex:
    """A shard's index: its index file where one matches (local: of the same size), else
    its headers, read from the file (a remote one downloaded into the cache first)."""
    from . import remote

    if remote.is_url(path):
        data = remote.read(path + INDEX_SUFFIX)
        found = parse_index(data, path, label_key) if data is not None else None
        if found is not None:
            cache.sizes[path] = found[1]
            return found[0]
        local = cache.ensure(path)
        idx = index_shard(local, label_key)
        idx.path = path
        return idx
    if os.path.isfile(path + INDEX_SUFFIX):
        with open(path + INDEX_SUFFIX, "rb") as f:
            found = parse_index(f.read(), path, label_key)
        if found is not None and found[1] == os.path.getsize(path):
            return found[0]
    return index_shard(path, label_key)


@dataclass(frozen=True)
class ShardSet:
    """Tar shards as one list of samples (what :func:`freqload.sources.resolve_source`
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
    cache: object = None     #: remote.ShardCache when the files are URLs
    _epoch: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def paths(self) -> tuple:
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
        first, last = {}, {}  # per URL (a list may name one file more than once)
        for j, b in enumerate(batches):
            for f in np.unique(self.shard[np.asarray(b, dtype=np.int64)]).tolist():
                first.setdefault(self.files[f], j)
                last[self.files[f]] = j
        order = sorted(first, key=first.get)
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


def index_shards(source, label_key: Optional[str] = None, progress=None,
                 cache_dir: Optional[str] = None) -> ShardSet:
    """Index every shard of a source (:func:`shard_paths`) into one :class:`ShardSet`.
    Each shard's index file is used where one matches (:func:`write_index`), else its
    headers are read (a remote shard is downloaded for that: write index files to
    avoid it). Remote shards get a :class:`freqload.remote.ShardCache` in ``cache_dir``
    (None: a temporary folder)."""
    from . import remote
    from .progress import Progress

    files = shard_paths(source)
    cache = remote.ShardCache(cache_dir) if any(remote.is_url(f) for f in files) else None
    indexes = []
    with Progress(len(files), "indexing shards", progress if len(files) > 8 else False) as bar:
        for f in files:
            indexes.append(_index_one(f, label_key, cache))
            bar.update()
    counts = np.array([len(i.keys) for i in indexes], dtype=np.int64)
    if counts.sum() == 0:
        raise ValueError(f"no samples in {len(files)} shard file(s) ({files[0]} ...)")
    labelled = any(lab is not None for i in indexes for lab in i.labels)
    what = f".json field {label_key!r}" if label_key is not None else ".cls member"
    shard, offsets, lengths, labels, names, problems = [], [], [], [], [], {}
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


def buffer_shuffle(stream: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The order a shuffle buffer of ``size`` samples gives a stream: fill the buffer, then
    for each next sample emit a uniformly drawn buffer slot and put the new one there; at
    the end emit what is left in a random order. Each sample moves at most ``size``
    places earlier than it arrived, so a reader needs only the shard files the window
    spans. Deterministic in ``rng``."""
    n = len(stream)
    if size <= 1 or n <= 1:
        return stream.copy()
    size = min(size, n)
    draws = rng.integers(0, size, n - size).tolist()
    b = stream[:size].tolist()  # Python ints: this loop runs once per sample
    src = stream.tolist()
    out = []
    for j, slot in zip(range(size, n), draws):
        out.append(b[slot])
        b[slot] = src[j]
    tail = np.asarray(b, dtype=stream.dtype)[rng.permutation(size)]
    return np.concatenate([np.asarray(out, dtype=stream.dtype), tail])


# ---- writing shards: freqload shards, freqload pack --format tar -----------------------

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
    samples: list = []
    last = None
    with tarfile.open(path, "r:") as tar:
        for m in tar:
            if not m.isfile():
                continue
            key, ext = split_key(m.name)
            if key != last:
                samples.append([])
                last = key
            samples[-1].append(f"{ext} {m.offset_data} {m.size} {m.name}")
    return f"v1.2 {len(samples)}\n" + "".join(" ".join(s) + "\n" for s in samples)


class ShardWriter:
    """Writes samples, in order, into numbered tar shards of at most ``shard_size`` bytes
    (a sample larger than that gets a shard of its own): ``{prefix}-000000.tar``, ... in
    ``dst``, each with its freqload index file (``.index.json``) and DALI's (``.idx``).
    Members get fixed metadata (mtime 0, uid/gid 0, mode 0644), so the same samples give
    the same bytes. ``done`` lists the finished shards: name, samples, bytes, sha256."""

    def __init__(self, dst: str, prefix: str, shard_size: int, first: int = 0):
        self.dst, self.prefix, self.shard_size = dst, prefix, int(shard_size)
        self.number = first
        self.done: list = []
        self._tar = None
        self._path = None
        self._bytes = 0
        self._samples = 0

    def add(self, key: str, members) -> None:
        """One sample: ``members`` = [(extension, bytes), ...]."""
        need = sum(_member_bytes(len(data)) for _, data in members)
        # the file: its members, the two zero blocks that end a tar, padded to tar records
        whole = -(-(self._bytes + need + 1024) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE
        if self._tar is not None and whole > self.shard_size:
            self.finish()
        if self._tar is None:
            self._path = os.path.join(self.dst, f"{self.prefix}-{self.number:06d}.tar")
            self._tar = tarfile.open(self._path + ".tmp", "w", format=tarfile.USTAR_FORMAT)
            self._bytes = self._samples = 0
        for ext, data in members:
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            self._tar.addfile(info, io.BytesIO(data))
        self._bytes += need
        self._samples += 1

    def finish(self) -> None:
        """Close the shard being written (its index files, then the shard, appear
        complete or not at all)."""
        if self._tar is None:
            return
        self._tar.close()
        self._tar = None
        tmp, path = self._path + ".tmp", self._path
        with open(path + INDEX_SUFFIX + ".tmp", "wb") as f:
            f.write(index_json(index_shard(tmp), os.path.getsize(tmp), None))
        with open(path + ".idx.tmp", "w", encoding="utf-8") as f:
            f.write(dali_index(tmp))
        digest = hashlib.sha256()
        with open(tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        os.replace(path + INDEX_SUFFIX + ".tmp", path + INDEX_SUFFIX)
        os.replace(path + ".idx.tmp", path + ".idx")
        os.replace(tmp, path)
        self.done.append({"name": os.path.basename(path), "samples": self._samples,
                          "bytes": os.path.getsize(path), "sha256": digest.hexdigest()})
        self.number += 1

    def abandon(self) -> None:
        """Drop the shard being written (an interrupted run writes it again)."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
            os.remove(self._path + ".tmp")


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_sample(job):
    """(position, path, label, rel, convert) -> (position, image bytes, entry): the
    source's bytes, or what ``convert`` makes of them (freqload pack: the packed JPEG)."""
    pos, path, label, rel, convert = job
    from .coefficients import read_file

    data = read_file(path)
    if convert is None:
        return pos, data, None
    out, entry = convert(rel, data)
    return pos, out, entry


def write_shards(source, dst: str, *, shard_size="1GB", shuffle: bool = True, seed: int = 0,
                 prefix: str = "shard", workers: Optional[int] = None,
                 progress: Optional[bool] = None, convert=None, extra: Optional[dict] = None,
                 what: str = "samples written") -> dict:
    """Write a data set (a folder or list source, see :mod:`freqload.sources`) as tar
    shards in ``dst`` (``freqload shards``).

    Each sample becomes ``<key>.jpg`` (the file's bytes, whatever its format: non-JPEG
    files go through the loader's ``on_error`` as they would from a folder; the member
    keeps the file's extension when it is not a JPEG one), ``<key>.cls`` (its label) and
    ``<key>.json`` (``{"path", "label", "class"}``), key = its position, 9 digits. With
    ``shuffle`` (default) the samples are written in a seeded random order, which is what
    shard-level shuffling needs to mix classes; else in the source's order. Each shard
    comes with its index files (freqload's and DALI's), and ``dst/freqload-shards.json``
    records the settings and each shard's samples, bytes and SHA-256.

    Resumable: an interrupted run (Ctrl-C, SIGTERM, a crash) leaves a partial manifest of
    the shards it finished; the same command keeps those whose SHA-256 still matches and
    writes the rest. Returns the manifest.

    ``convert(rel, data) -> (bytes, entry)``: write something else than the source bytes
    (run in ``workers`` processes, in order); ``extra``: more manifest fields (pack).
    """
    from . import __version__
    from .pack import PackInterrupted, _atomic_write, _Interruptible, worker_results
    from .progress import Progress
    from .sources import resolve_source

    size = parse_size(shard_size)
    samples = resolve_source(source)
    if isinstance(samples, ShardSet):
        raise ValueError("the source is tar shards already")
    root = os.fspath(source) if isinstance(source, (str, os.PathLike)) and \
        os.path.isdir(source) else None
    dst = os.path.abspath(dst)
    if root is not None and (dst == os.path.abspath(root)
                             or dst.startswith(os.path.abspath(root) + os.sep)):
        raise ValueError("the destination must not be inside the source")
    n = len(samples)
    order = (np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)).tolist()
    settings = {"format": SHARDS_FORMAT, "source": os.path.abspath(root) if root else None,
                "samples": n, "shuffle": bool(shuffle), "seed": int(seed) if shuffle else None,
                "shard_size": size, "prefix": prefix,
                "order_sha1": hashlib.sha1(np.asarray(order, np.int64).tobytes()).hexdigest(),
                **(extra or {})}
    os.makedirs(dst, exist_ok=True)
    kept: list = []
    for name in (SHARDS_MANIFEST, SHARDS_PARTIAL):
        p = os.path.join(dst, name)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                old = json.load(f)
            if {k: old.get(k) for k in settings} != settings:
                raise ValueError(f"{dst} already holds shards written with other settings or "
                                 "from another source; use an empty destination")
            for s in old.get("shards", []):  # keep a prefix of finished, intact shards
                p = os.path.join(dst, s["name"])
                if not (os.path.exists(p) and os.path.getsize(p) == s["bytes"]
                        and _file_sha256(p) == s["sha256"]):
                    break
                kept.append(s)
            break
    start = sum(s["samples"] for s in kept)
    classes = samples.classes
    manifest = dict(settings, freqload_version=__version__,
                    classes=list(classes) if classes else None, shards=list(kept))
    writer = ShardWriter(dst, prefix, size, first=len(kept))

    def save(name):
        manifest["shards"] = kept + writer.done
        _atomic_write(os.path.join(dst, name), json.dumps(manifest, indent=1).encode())

    entries: dict = {}
    jobs = [(pos, samples.paths[i], int(samples.labels[i]),
             os.path.relpath(samples.paths[i], root) if root else samples.paths[i], convert)
            for pos, i in enumerate(order) if pos >= start]
    workers = workers or (len(os.sched_getaffinity(0)) if convert is not None else 1)
    with Progress(n, "writing shards", progress, initial=start, unit="samples") as bar, \
            _Interruptible() as stop:
        try:
            with worker_results(_read_sample, jobs, workers, ordered=True) as results:
                for (pos, path, label, rel, _), (_, data, entry) in zip(jobs, results):
                    ext = os.path.splitext(path)[1].lower().lstrip(".")
                    ext = "jpg" if ext in ("jpg", "jpeg", "jpe", "jfif", "") else ext
                    name = classes[label] if classes and 0 <= label < len(classes) else None
                    meta = {"path": rel, "label": label, "class": name}
                    if entry is not None:
                        meta["pack"] = entry
                        entries[rel] = entry
                    before = len(writer.done)
                    writer.add(f"{pos:09d}", [(ext, data), ("cls", str(label).encode()),
                                              ("json", json.dumps(meta).encode())])
                    if len(writer.done) != before:
                        save(SHARDS_PARTIAL)  # a finished shard: resumable from here
                    bar.update()
            writer.finish()
        except KeyboardInterrupt:
            writer.abandon()
            save(SHARDS_PARTIAL)
            import signal

            done = start + sum(s["samples"] for s in writer.done)
            raise PackInterrupted(stop.signum or signal.SIGINT, done, n, dst, what) from None
        except BaseException:
            writer.abandon()
            save(SHARDS_PARTIAL)
            raise
    manifest["shards"] = kept + writer.done
    manifest["totals"] = {"shards": len(manifest["shards"]), "samples": n,
                          "bytes": sum(s["bytes"] for s in manifest["shards"])}
    if entries:
        manifest["pack_entries"] = len(entries)
    _atomic_write(os.path.join(dst, SHARDS_MANIFEST), json.dumps(manifest, indent=1).encode())
    partial = os.path.join(dst, SHARDS_PARTIAL)
    if os.path.exists(partial):
        os.remove(partial)
    return manifest
