"""Pack manifests: how a loader knows it reads a ``freqload pack`` copy of a data set.

A pack (written by ``freqload pack``, :mod:`freqload.tools.pack`) keeps only a mask's
frequency bands; its root holds ``freqload-pack.json``::

    DST/                      the folder layout of SRC, mirrored
    DST/freqload-pack.json    manifest: format, mask, freqload version, and per file
                              the source's size and SHA-256, the packed size, "packed",
                              "copied" (files freqload cannot read are copied as is) or
                              "unreadable" (left out, with the reason)
    DST/.residual/...         with residual=True: the complement (the mask's bands zero)

The loaders read the manifest of the pack a source lies in (its root, any folder below it,
or a list of its files) and refuse a mask that needs bands the pack dropped: those would
read as zeros. A damaged manifest is reported, naming the file and the field.
"""
from __future__ import annotations

import os

from ..codec.mask import as_mask, channel_name
from ..errors import ManifestError
from ..schema import Document

MANIFEST = "freqload-pack.json"
PARTIAL = ".freqload-pack.partial.json"
RESIDUAL = ".residual"
FORMAT = "freqload-pack/1"


def find_pack_root(path: str) -> str | None:
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


def read_manifest(root: str, name: str = MANIFEST) -> dict | None:
    """The pack manifest of a folder (``name``: the manifest or the partial one of an
    interrupted run), checked whole; None when there is none. A damaged one raises
    :class:`~freqload.errors.ManifestError` naming the file and the field."""
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
    if man is None:  # the manifest went away since it was found
        return
    missing = sorted(set(as_mask(mask).indices) - set(man["mask"]))
    if missing:
        inside = "" if os.path.abspath(root) == pack_root else f" (inside the pack {pack_root})"
        raise ValueError(
            f"{root}{inside} is a freqload pack holding {len(man['mask'])} channels; the mask "
            f"needs {len(missing)} it dropped ({', '.join(channel_name(i) for i in missing[:6])}"
            f"{', ...' if len(missing) > 6 else ''}). Use the originals "
            f"({man.get('source', '?')}) or a mask within the pack's.")


def check_mask_for_paths(paths, mask) -> None:
    """check_mask for the packs the files of a list source lie in: each pack's manifest
    read and checked once, however many of its folders the list names."""
    first_folder: dict = {}  # pack root -> the first folder of the list inside it
    for d in sorted({os.path.abspath(d) for d in {os.path.dirname(p) for p in paths}}):
        root = find_pack_root(d)
        if root is not None:
            first_folder.setdefault(root, d)
    for d in first_folder.values():
        check_mask(d, mask)


__all__ = ["MANIFEST", "PARTIAL", "RESIDUAL", "FORMAT", "KINDS", "read_manifest",
           "find_pack_root", "check_mask", "check_mask_for_paths"]
