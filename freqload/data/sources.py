"""A data set as samples: what a loader's ``source`` names, resolved to files and labels.

A loader takes a ``source`` as any of the forms below, or a :class:`Source`, which adds
the options of reading it (labels from a ``.json`` field, a cache folder for remote
shards, a labelling function, the shard shuffle buffer).

=====================================  ==============================================
source                                 samples
=====================================  ==============================================
a folder with class sub-folders        every image file below each class folder;
(ImageFolder layout)                   label = index of the class in sorted order
                                       (as torchvision's ImageFolder)
a flat folder of images                its image files, sorted; label -1
a list of ``(path, label)`` pairs      as given, in order; string labels (class names)
                                       become indices in sorted order (``classes``)
one image file (by its extension)      that image, label -1
a list of paths                        as given, label -1
a ``.txt`` file                        one ``path`` or ``path label`` per line,
                                       relative paths from the file's folder
tar shards: ``train-{000..146}.tar``,   the samples of every shard file, in order
a glob, a .tar path or a list of them  (:mod:`freqload.data.shards`; ``label_key``)
=====================================  ==============================================

Image files are matched by extension, case-insensitively: .jpg .jpeg .jpe
.jfif .png .gif .bmp .ppm .pgm .tif .tiff .webp. Non-JPEGs are kept on
purpose: real data sets hold a few, and the loader's ``on_error`` policy
decides what happens to them.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .labels import check_label
from .shards import ShardSet, index_shards, is_shard_spec

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".ppm", ".pgm",
                    ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class SampleList:
    """Image files as samples: sample i is the whole file ``paths[i]``. What the engines
    read is ``files[file_of[i]]`` from ``offsets[i]``, ``lengths[i]`` bytes, as for a
    :class:`freqload.data.shards.ShardSet`; here file_of, offsets and lengths are None (each
    sample its own whole file)."""
    paths: tuple[str, ...]
    labels: np.ndarray  #: int64 [N]
    classes: tuple[str, ...] | None = None
    file_of = offsets = lengths = None
    problems = None  #: none known before reading (a ShardSet's index knows some)

    @property
    def files(self) -> tuple:
        return self.paths

    @property
    def names(self) -> tuple:
        """What messages call each sample: its path."""
        return self.paths

    def where(self, i: int) -> tuple[str, int, int]:
        """Sample i's (file, offset, length): the whole file, (path, 0, -1)."""
        return self.paths[i], 0, -1

    # what a ShardSet of remote shards does around an epoch; local files need nothing
    local_files = files

    def report_damage(self, on_error: str, who: str) -> None:
        pass  # files have no index to be damaged

    def ready(self, batch) -> None:
        pass

    def begin_epoch(self, batches, ahead: int = 2) -> None:
        pass

    def batch_done(self, j: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.paths)


class FolderWalk:
    """The files below folders, each folder entered once.

    Linked folders are followed (data sets are often link farms), but a folder whose real
    path was entered already - a loop such as ``c0/loop -> ..``, a second link to one
    folder, a link into another class folder - or that lies in ``skip`` is not entered
    again. Each link not followed is kept in ``not_followed`` as (link, why), and
    :meth:`warn` says so once, so no file is listed twice and none silently changes class.
    """

    def __init__(self, skip=(), hidden: bool = True):
        self.entered: set = set()
        self.skip = tuple(os.path.realpath(s) for s in skip)
        self.hidden = hidden  #: False: names starting with "." are left out
        self.not_followed: list = []

    def reserve(self, folder: str) -> None:
        """Treat ``folder`` as listed elsewhere (another class): links into it are not
        followed."""
        self.entered.add(os.path.realpath(folder))

    def files(self, top: str, keep=lambda name: True) -> list:
        """The files below ``top`` whose names ``keep`` accepts, as os.walk orders them
        (a folder's files sorted, then its sub-folders in sorted order)."""
        out: list = []
        self.entered.discard(os.path.realpath(top))  # reserved as a class: entered now
        self._walk(top, keep, out)
        return out

    def _walk(self, folder: str, keep, out: list) -> None:
        real = os.path.realpath(folder)
        self.entered.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            self.not_followed.append((folder, f"cannot be listed: {error.strerror}"))
            return
        folders = []
        for e in entries:
            if not self.hidden and e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                folders.append(e)
            elif keep(e.name):
                out.append(e.path)
        for sub in folders:
            target = os.path.realpath(sub.path)
            if any(target == s or target.startswith(s + os.sep) for s in self.skip):
                self.not_followed.append((sub.path, f"leads to {target}, the destination"))
            elif target in self.entered or (real + os.sep).startswith(target + os.sep):
                self.not_followed.append((sub.path, f"leads back to {target}, listed already "
                                                    "(a loop or a second link)"))
            else:
                self._walk(sub.path, keep, out)

    def warn(self, what: str) -> None:
        """One warning naming the links not followed, if any."""
        if self.not_followed:
            link, why = self.not_followed[0]
            more = f" (and {len(self.not_followed) - 1} more)" if len(self.not_followed) > 1 \
                else ""
            warnings.warn(f"{what}: {len(self.not_followed)} folder(s) not entered: {link} "
                          f"{why}{more}", stacklevel=4)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def source_digest(samples) -> str:
    """A digest of a source's samples: every name, relative to the names' common folder
    (the same data set moved elsewhere digests the same), and every label."""
    names = list(samples.names)
    prefix = os.path.commonprefix(names) if names else ""
    prefix = prefix[:prefix.rfind("/") + 1]
    h = hashlib.sha1()
    for n in names:
        h.update(n[len(prefix):].encode("utf-8", "surrogateescape") + b"\0")
    h.update(np.ascontiguousarray(samples.labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def list_jpegs(root: str) -> list[str]:
    """The JPEG files (.jpg, .jpeg, any case) below ``root``, as os.walk orders them,
    linked folders entered once (:class:`FolderWalk`)."""
    return FolderWalk().files(root, lambda n: n.lower().endswith((".jpg", ".jpeg")))


def _image_folder(root: str) -> SampleList:
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    walk = FolderWalk()
    if not classes:  # a flat folder: its images, unlabelled
        flat = sorted(e.path for e in os.scandir(root) if e.is_file() and _is_image(e.name))
        if not flat:
            raise ValueError(f"{root} has no class sub-folders and no image files (an "
                             "ImageFolder is root/class/img.jpg; a flat folder root/img.jpg)")
        return SampleList(tuple(flat), np.full(len(flat), -1, np.int64))
    walk.reserve(root)
    for name in classes:
        walk.reserve(os.path.join(root, name))
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = walk.files(os.path.join(root, name), _is_image)
        paths += found
        labels += [label] * len(found)
    walk.warn(f"source {root}")
    if not paths:
        raise ValueError(f"no image files under {root} (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return SampleList(tuple(paths), np.asarray(labels, dtype=np.int64), tuple(classes))


def _text_list(path: str) -> SampleList:
    base = os.path.dirname(os.path.abspath(path))
    paths, labels = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.rsplit(None, 1)
            if len(parts) == 2 and re.fullmatch(r"-?[0-9]+", parts[1]):
                try:
                    p, label = parts[0], check_label(int(parts[1]), unlabelled_ok=True)
                except ValueError as e:
                    raise ValueError(f"{path}, line {n}: {e}") from None
            else:
                p, label = line, -1
            paths.append(p if os.path.isabs(p) else os.path.join(base, p))
            labels.append(label)
    if not paths:
        raise ValueError(f"{path} lists no files")
    return SampleList(tuple(paths), np.asarray(labels, dtype=np.int64))


def _labelled(paths, labels, label_fn=None) -> SampleList:
    """Integer labels as given; string labels mapped to their index in sorted order (the
    names kept as ``classes``); ``label_fn(path) -> int or str`` labels each path."""
    if label_fn is not None:
        labels = [label_fn(p) for p in paths]
    if labels and all(isinstance(v, str) for v in labels):
        classes = tuple(sorted(set(labels)))
        index = {c: i for i, c in enumerate(classes)}
        return SampleList(tuple(paths), np.asarray([index[v] for v in labels], np.int64),
                          classes)
    if not all(hasattr(v, "__index__") and not isinstance(v, (bool, np.bool_))
               for v in labels):
        raise TypeError("labels must be integers or strings (class names), all of one "
                        f"kind; got {sorted({type(v).__name__ for v in labels})}")
    ints = []
    for p, v in zip(paths, labels):
        try:
            ints.append(check_label(v, unlabelled_ok=True))
        except ValueError as e:
            raise ValueError(f"{p}: {e}") from None
    return SampleList(tuple(paths), np.asarray(ints, dtype=np.int64))


@dataclass(frozen=True)
class Source:
    """A data set and the options of reading it, as a loader's ``source``.

    Args:
        spec: any form the module docstring lists (a folder, a list, a ``.txt`` file,
            tar shards, ``s3://`` / ``http(s)://`` shard URLs).
        label_key: tar shards: each sample's label is this field of its ``.json`` member
            (default: the integer text of its ``.cls`` member).
        label_fn: files: ``label_fn(path) -> int or class name`` labels each file instead
            of the source (string labels become indices in sorted order, the names kept
            as the loader's ``classes``).
        cache_dir: remote shards are downloaded whole into a cache, a few ahead of the
            loader (:mod:`freqload.data.remote`). None: a temporary folder holding only
            the files around the loader's position; a folder you give keeps every file
            for later epochs and runs.
        shuffle_buffer: tar shards, when the loader shuffles: samples in the buffer that
            mixes the epoch's shard files (shuffled as a whole) into one stream
            (:class:`freqload.loading.sampler.ShardPlan`; 0 or 1: shard order only). A
            sample moves at most this many places, so a rank reads only the files its
            part of the stream spans.

    Example: ``Source("s3://bucket/train-{000000..000146}.tar", cache_dir="/scratch")``.
    """
    spec: Any
    label_key: str | None = None
    label_fn: Callable | None = None
    cache_dir: str | None = None
    shuffle_buffer: int = 1000

    def __post_init__(self):
        if isinstance(self.spec, Source):
            raise TypeError("Source(Source(...)): give the data set's path or list")
        if not isinstance(self.shuffle_buffer, int) or self.shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be an integer >= 0, got "
                             f"{self.shuffle_buffer!r}")

    def resolve(self):
        """The samples: a :class:`SampleList`, or a
        :class:`~freqload.data.shards.ShardSet` for tar shards."""
        return resolve_source(self.spec, self.label_key, self.cache_dir, self.label_fn)


def as_source(source) -> Source:
    """``source`` as a :class:`Source` (a plain path or list gets the default options)."""
    return source if isinstance(source, Source) else Source(source)


def resolve_source(source, label_key: str | None = None, cache_dir: str | None = None,
                   label_fn=None):
    """See the module docstring: a :class:`SampleList`, or for tar shards a
    :class:`freqload.data.shards.ShardSet` (a :class:`Source` resolves with its own
    options). ``label_fn(path)``: each file's label (an int or a class name), instead of
    the source's. Raises ValueError / TypeError / FileNotFoundError."""
    if isinstance(source, Source):
        return source.resolve()
    samples = _resolve(source, label_key, cache_dir)
    if label_fn is not None:
        if isinstance(samples, ShardSet):
            raise ValueError("label_fn= is for file sources (tar shards carry their labels)")
        samples = _labelled(samples.paths, None, label_fn)
    return samples


def _resolve(source, label_key, cache_dir):
    if isinstance(source, (SampleList, ShardSet)):
        return source
    if is_shard_spec(source):
        return index_shards(source, label_key, cache_dir=cache_dir)
    if label_key is not None or cache_dir is not None:
        raise ValueError("label_key= and cache_dir= are for tar shard sources")
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        if os.path.isdir(s):
            return _image_folder(s)
        if os.path.isfile(s):
            if s.lower().endswith(IMAGE_EXTENSIONS):  # one image
                return SampleList((s,), np.full(1, -1, np.int64))
            try:
                return _text_list(s)
            except UnicodeDecodeError:
                raise ValueError(f"source {s!r} is neither an image file (by its extension: "
                                 f"{', '.join(IMAGE_EXTENSIONS)}) nor a text file list") from None
        raise FileNotFoundError(f"source {s!r} is neither a folder nor a file list")
    forms = ("a folder, an image, a .txt file list, tar shards, or a list of paths or (path, "
             "label) pairs")
    if hasattr(source, "__getitem__") and hasattr(source, "__len__") and \
            not isinstance(source, (list, tuple)):  # a Dataset: judged by its first item
        try:
            first = source[0] if len(source) else None
        except (KeyError, IndexError, TypeError):  # not indexed by position: judged below
            first = None
        if isinstance(first, tuple) and first and not isinstance(first[0], (str, os.PathLike)):
            raise TypeError(f"source is a dataset of decoded items ({type(first[0]).__name__}, "
                            "...): freqload reads the JPEG files themselves. Pass their paths "
                            "and labels instead, e.g. torchvision ImageFolder's .samples")
    try:
        items = list(source)
    except TypeError:
        raise TypeError(f"source must be {forms}; got {type(source).__name__}") from None
    if not items:
        raise ValueError("source is empty")
    if all(isinstance(i, (str, os.PathLike)) for i in items):
        return SampleList(tuple(os.fspath(i) for i in items), np.full(len(items), -1, np.int64))
    paths, labels = [], []
    for i in items:
        if not (isinstance(i, (tuple, list)) and len(i) == 2 and
                isinstance(i[0], (str, os.PathLike))):
            raise TypeError(f"source items must be paths or (path, label) pairs, got "
                            f"{type(i).__name__} {str(i)[:80]}")
        paths.append(os.fspath(i[0]))
        labels.append(i[1])
    return _labelled(paths, labels)


__all__ = ["Source", "SampleList", "FolderWalk", "resolve_source", "as_source", "list_jpegs",
           "source_digest", "IMAGE_EXTENSIONS"]
