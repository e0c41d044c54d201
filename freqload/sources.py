"""Turn a loader's ``source`` into parallel lists of file paths and labels.

=====================================  ==============================================
source                                 samples
=====================================  ==============================================
a folder with class sub-folders        every image file below each class folder;
(ImageFolder layout)                   label = index of the class in sorted order
                                       (as torchvision's ImageFolder)
a flat folder of images                its image files, sorted; label -1
a list of ``(path, label)`` pairs      as given, in order
a list of paths                        as given, label -1
a ``.txt`` file                        one ``path`` or ``path label`` per line,
                                       relative paths from the file's folder
tar shards: ``train-{000..146}.tar``,   the samples of every shard file, in order
a glob, a .tar path or a list of them  (:mod:`freqload.shards`; ``label_key=``)
=====================================  ==============================================

Image files are matched by extension, case-insensitively: .jpg .jpeg .jpe
.jfif .png .gif .bmp .ppm .pgm .tif .tiff .webp. Non-JPEGs are kept on
purpose: real data sets hold a few, and the loader's ``on_error`` policy
decides what happens to them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".ppm", ".pgm",
                    ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class SampleList:
    """Image files as samples: sample i is the whole file ``paths[i]``. What the engines
    read is ``files[file_of[i]]`` from ``offsets[i]``, ``lengths[i]`` bytes, as for a
    :class:`freqload.shards.ShardSet`; here file_of, offsets and lengths are None (each
    sample its own whole file)."""
    paths: tuple[str, ...]
    labels: np.ndarray  #: int64 [N]
    classes: Optional[tuple[str, ...]] = None
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

    def ready(self, batch) -> None:
        pass

    def begin_epoch(self, batches, ahead: int = 2) -> None:
        pass

    def batch_done(self, j: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.paths)


def _image_folder(root: str) -> SampleList:
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:  # a flat folder: its images, unlabelled
        flat = sorted(e.path for e in os.scandir(root)
                      if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        if not flat:
            raise ValueError(f"{root} has no class sub-folders and no image files (an "
                             "ImageFolder is root/class/img.jpg; a flat folder root/img.jpg)")
        return SampleList(tuple(flat), np.full(len(flat), -1, np.int64))
    paths, labels = [], []
    for label, name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, name), followlinks=True):
            dirnames.sort()
            for f in sorted(filenames):
                if f.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(dirpath, f))
                    labels.append(label)
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
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                p, label = parts[0], int(parts[1])
            else:
                p, label = line, -1
            paths.append(p if os.path.isabs(p) else os.path.join(base, p))
            labels.append(label)
    if not paths:
        raise ValueError(f"{path} lists no files")
    return SampleList(tuple(paths), np.asarray(labels, dtype=np.int64))


def resolve_source(source, label_key: Optional[str] = None, cache_dir: Optional[str] = None):
    """See the module docstring: a :class:`SampleList`, or for tar shards a
    :class:`freqload.shards.ShardSet`. Raises ValueError / TypeError / FileNotFoundError."""
    from .shards import ShardSet, index_shards, is_shard_spec

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
            return _text_list(s)
        raise FileNotFoundError(f"source {s!r} is neither a folder nor a file list")
    try:
        items = list(source)
    except TypeError:
        raise TypeError("source must be a folder, a file list, or a list of paths or "
                        f"(path, label) pairs; got {type(source).__name__}") from None
    if not items:
        raise ValueError("source is empty")
    if all(isinstance(i, (str, os.PathLike)) for i in items):
        return SampleList(tuple(os.fspath(i) for i in items), np.full(len(items), -1, np.int64))
    paths, labels = [], []
    for i in items:
        if not (isinstance(i, (tuple, list)) and len(i) == 2):
            raise TypeError(f"source items must be paths or (path, label) pairs, got {i!r}")
        paths.append(os.fspath(i[0]))
        labels.append(int(i[1]))
    return SampleList(tuple(paths), np.asarray(labels, dtype=np.int64))
