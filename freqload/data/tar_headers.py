"""A bounded reader of tar headers: the member table of a shard, never a loop.

Python's :mod:`tarfile` can be driven into revisiting a header by a crafted size field (a
negative base-256 size moves its position backwards: CVE-2025-8194, unfixed in the Pythons
many users run), and it ends quietly at some headers it cannot parse. This reader walks the
headers strictly forwards: every step moves at least 512 bytes, so a file of ``n`` bytes
is done in at most ``n / 512`` steps whatever it holds. It reads 512-byte headers with
``pread`` and skips member data without reading it.

What it understands: POSIX ustar (with its name prefix), GNU long names (``L``), pax
extended headers (``x``: ``path`` and ``size``; global ``g`` headers are skipped), base-256
sizes. Regular files (``0``, ``\\0``, ``7``) are members; directories, links and devices are
stepped over. Anything else stops the walk with ``damage`` saying where and why:

====================================  ===================================================
the bytes at a header                 what the walk gives
====================================  ===================================================
a zero block                          the end (tar's end-of-archive marker)
the file's end, no zero block         damage: "ends after ... without tar's end-of-archive
                                      blocks" (the shard was cut at a member boundary)
a header with a wrong checksum,       damage: "the tar header at byte N does not parse
a bad size field, a negative size     (after sample ...): why"
fewer than 512 bytes                  damage: the file ends inside a header
a member running past the file's end  that member with ``past_end`` set; the walk ends
====================================  ===================================================
"""
from __future__ import annotations

import os
from typing import NamedTuple

BLOCK = 512
#: the most bytes a GNU long-name or pax header may hold (real ones hold a few hundred)
MAX_META = 1 << 20
_FILE_TYPES = (b"0", b"\0", b"7")
#: stepped over: links, devices, folders, FIFOs, GNU's long link names and special members
_SKIP_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6", b"K", b"V", b"N", b"D", b"M", b"S")


class TarMember(NamedTuple):
    """A regular file in a tar."""
    name: str      #: its path in the archive
    offset: int    #: where its data starts
    size: int      #: its data's bytes
    header: int    #: where its (first) header starts
    past_end: bool  #: its data runs past the end of the file (a truncated tar)


class TarWalk(NamedTuple):
    """What :func:`read_tar_headers` found."""
    members: list   #: TarMember, in archive order
    damage: str     #: "" when the headers parse to tar's end-of-archive marker


class _Bad(Exception):
    """A header that does not parse; the message says why."""


def _number(field: bytes) -> int:
    """A tar numeric field: octal text (NUL or space terminated), or base-256 (first byte
    0x80 positive, 0xff negative). A negative number is returned as such; the caller
    refuses it where it cannot be."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xff:
            value -= 1 << (8 * (len(field) - 1))
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _Bad(f"its numeric field {bytes(field)!r} is not octal") from None


def _checksum_ok(block: bytes) -> bool:
    """The header's checksum: the sum of its bytes with the checksum field as spaces,
    unsigned (POSIX) or, as some old writers made it, with signed bytes."""
    try:
        want = _number(block[148:156])
    except _Bad:
        return False
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    if want == unsigned:
        return True
    high = sum(1 for b in block[:148] + block[156:] if b > 127)
    return high > 0 and want == unsigned - 256 * high


def _pax_records(data: bytes) -> dict:
    """``length key=value\\n`` records of a pax extended header."""
    out, pos = {}, 0
    while pos < len(data) and data[pos:pos + 1] != b"\0":
        space = data.find(b" ", pos)
        if space < 0:
            raise _Bad("a pax record has no length")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise _Bad("a pax record's length is not a number") from None
        if length <= space - pos or pos + length > len(data):
            raise _Bad("a pax record's length is out of range")
        record = data[space + 1:pos + length]
        if not record.endswith(b"\n") or b"=" not in record:
            raise _Bad("a pax record is malformed")
        key, value = record[:-1].split(b"=", 1)
        out[key.decode("utf-8", "replace")] = value
        pos += length
    return out


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def read_tar_headers(fd: int, size: int, key_of=lambda name: name) -> TarWalk:
    """The member table of the tar whose file descriptor is ``fd`` (``size`` bytes).

    ``key_of(member name)``: what damage messages call the last member read ("after
    sample ..."), e.g. its sample's key."""
    members: list = []
    pos = 0
    if hasattr(os, "posix_fadvise"):  # headers only: no read-ahead of the data between
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    long_name = None   # a GNU 'L' header's name for the next member
    pax: dict = {}     # a pax 'x' header's records for the next member
    first_header = None  # where the next member's first (meta) header started

    def after():
        return key_of(members[-1].name) if members else None

    def damage(text: str, why: str = "") -> TarWalk:
        where = after()
        return TarWalk(members, text + (f" (after sample {where!r})" if where else "")
                       + (f": {why}" if why else ""))

    while True:
        if pos >= size:
            if members or pos:
                where = after()
                return TarWalk(members, "the shard ends" + (f" after sample {where!r}"
                                                            if where else "")
                               + " without tar's end-of-archive blocks: it was cut short")
            return TarWalk(members, "the file is empty: not a tar file")
        block = os.pread(fd, BLOCK, pos)
        if len(block) < BLOCK:
            return damage(f"the file ends inside the tar header at byte {pos}")
        if block[0] == 0 and not block.strip(b"\0"):  # a name never starts with NUL
            if long_name is not None or pax:
                return damage(f"the tar ends at byte {pos} between a member's extended "
                              "header and the member")
            return TarWalk(members, "")
        try:
            if not _checksum_ok(block):
                raise _Bad("its checksum is wrong")
            length = _number(block[124:136])
            kind = block[156:157]
            if kind in (b"x", b"X", b"L", b"g"):  # extended headers (g: global, ignored)
                if not 0 <= length <= MAX_META:
                    raise _Bad(f"an extended header of {length} bytes")
                data = os.pread(fd, length, pos + BLOCK)
                if len(data) < length:
                    return damage(f"the file ends inside the extended tar header at byte {pos}")
                if first_header is None:
                    first_header = pos
                if kind == b"L":
                    long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                elif kind in (b"x", b"X"):
                    pax.update(_pax_records(data))
                pos += BLOCK + -(-length // BLOCK) * BLOCK
                continue
            if "size" in pax:
                try:
                    length = int(pax["size"])
                except ValueError:
                    raise _Bad("its pax size is not a number") from None
            if length < 0:
                raise _Bad(f"its size field is negative ({length})")
        except _Bad as e:
            return damage(f"the tar header at byte {pos} does not parse", str(e))
        name = long_name
        if name is None and "path" in pax:
            name = pax["path"].decode("utf-8", "surrogateescape")
        if name is None:
            name = _text(block[0:100])
            if block[257:265] == b"ustar\x0000" and block[345:346] != b"\0":
                name = _text(block[345:500]) + "/" + name
        start = pos + BLOCK
        if kind in _FILE_TYPES:
            members.append(TarMember(name, start, length,
                                     pos if first_header is None else first_header,
                                     start + length > size))
        elif kind not in _SKIP_TYPES:
            return damage(f"the tar header at byte {pos} does not parse",
                          f"unknown member type {kind!r}")
        long_name, pax, first_header = None, {}, None
        if start + length > size:
            return TarWalk(members, "")  # the last member is cut short: it says so itself
        pos = start + -(-length // BLOCK) * BLOCK
