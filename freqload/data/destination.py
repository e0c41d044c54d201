"""Where freqload's writers put files (``pack``, ``unpack``, ``shards``), written safely.

A :class:`Destination` is the folder a writer fills. Its rules:

- **apart from the sources**: the destination and each source are compared by their real
  paths (symbolic links resolved) in both directions; one inside the other, or the same
  folder, is refused before anything is written.
- **never outside itself**: every file goes to a relative path checked by
  :func:`freqload.schema.safe_relpath` (no ``..``, not absolute), and the folder it lands
  in must resolve inside the destination, so a link inside it cannot lead a write into a
  source or anywhere else.
- **never over a file it did not make**: each name is claimed in the destination's
  journal (``.freqload-written``, one line per file) before its file is written. A file
  already there that the journal (or the writer's own manifest) does not claim is the
  user's: the writer refuses up front, naming it, and writes nothing.
- **atomic**: a file is written under a fresh temporary name beside it (never an existing
  file's name) and renamed into place, so a reader sees the old file or the whole new one,
  and an interruption leaves no half file under a real name.
"""
from __future__ import annotations

import json
import os
import tempfile

from ..schema import safe_relpath

#: the journal of the files a writer made in its destination
JOURNAL = ".freqload-written"
_JOURNAL_HEADER = json.dumps({"format": "freqload-written/1"}) + "\n"


def real_overlap(a: str, b: str) -> bool:
    """Whether folders (or files) ``a`` and ``b`` are the same or one holds the other,
    by their real paths."""
    ra, rb = os.path.realpath(a), os.path.realpath(b)
    return ra == rb or ra.startswith(rb.rstrip(os.sep) + os.sep) or \
        rb.startswith(ra.rstrip(os.sep) + os.sep)


def atomic_write(path: str, data: bytes, *, sync: bool = False) -> None:
    """Write ``data`` to ``path``: a fresh temporary file in the same folder, then a rename
    (the folder is made when missing). ``sync``: flush it to the disk first (manifests)."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path)[:40] + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class Destination:
    """A writer's output folder (see the module docstring).

    Args:
        root: the folder (made when missing, after the checks).
        sources: folders or files the writer reads; none may overlap ``root``.
        command: what messages call the writer ("pack", "unpack", "shards").
        own: names (relative paths) the writer already knows are its own (from its
            manifest), besides the journal's.

    Picklable: worker processes write through a copy (claims go to the shared journal).
    """

    def __init__(self, root: str, *, sources=(), command: str, own=()):
        self.root = os.path.abspath(root)
        self.command = command
        for s in sources:
            if real_overlap(self.root, s):
                rd, rs = os.path.realpath(self.root), os.path.realpath(s)
                how = ("is" if rd == rs else "is inside" if rd.startswith(rs + os.sep)
                       else "holds")
                shown = "" if (rd, rs) == (self.root, os.path.abspath(s)) else \
                    f" (real paths: {rd} and {rs})"
                raise ValueError(f"{command}: the destination {self.root} {how} the source "
                                 f"{os.path.abspath(s)}{shown}; it would write into its own "
                                 "input: choose a folder apart from it")
        if os.path.lexists(self.root) and not os.path.isdir(self.root):
            raise ValueError(f"{command}: the destination {self.root} exists and is not a "
                             "folder")
        self.sources = tuple(os.path.realpath(s) for s in sources)
        os.makedirs(self.root, exist_ok=True)
        self.real = os.path.realpath(self.root)
        self.journal = os.path.join(self.root, JOURNAL)
        self.claimed = set(self._read_journal()) | set(own)
        self._folders_ok: set = set()

    def _read_journal(self) -> list:
        if not os.path.lexists(self.journal):
            return []
        try:
            with open(self.journal, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"{self.command}: {self.journal} cannot be read ({e}); it is not "
                             "freqload's journal: use an empty destination") from None
        if lines[0] + "\n" != _JOURNAL_HEADER:
            raise ValueError(f"{self.command}: {self.journal} is not a freqload journal; "
                             "use an empty destination")
        names = []
        for line in lines[1:]:
            try:
                name = json.loads(line)
            except ValueError:
                continue  # a line cut by an interruption: its file was not written yet
            if isinstance(name, str):
                names.append(name)
        return names

    # -- names -----------------------------------------------------------------------------
    def path(self, rel: str) -> str:
        """The file ``rel`` names in the destination, checked to stay inside it."""
        if not safe_relpath(rel):
            raise ValueError(f"{self.command}: refusing to write {rel!r}: not a relative path "
                             f"inside {self.root}")
        p = os.path.join(self.root, rel)
        folder = os.path.dirname(p)
        if folder not in self._folders_ok:
            real = os.path.realpath(folder)
            if not (real == self.real or real.startswith(self.real + os.sep)) or \
                    any(real == s or real.startswith(s + os.sep) for s in self.sources):
                raise ValueError(f"{self.command}: refusing to write {p}: its folder leads "
                                 f"to {real}, outside the destination {self.root} (a link?)")
            self._folders_ok.add(folder)
        return p

    def foreign(self, rels) -> list:
        """The names among ``rels`` whose file exists but is not the writer's."""
        return [r for r in rels if r not in self.claimed and
                os.path.lexists(os.path.join(self.root, r))]

    def refuse_foreign(self, rels) -> None:
        """Before any work: every name in ``rels`` must lead inside the destination
        (ValueError) and none may be a file the writer did not make (FileExistsError,
        naming them)."""
        rels = list(rels)
        for r in rels:
            self.path(r)
        bad = self.foreign(rels)
        if bad:
            shown = ", ".join(bad[:3]) + (f" ... ({len(bad) - 3} more)" if len(bad) > 3 else "")
            raise FileExistsError(
                f"{self.command}: {self.root} holds {len(bad)} file(s) freqload did not write "
                f"where it would write: {shown}; they are left untouched. Move them, or choose "
                "another destination")

    def claim(self, rel: str) -> None:
        """Record ``rel`` as the writer's, before its file is written."""
        if rel in self.claimed:
            return
        line = json.dumps(rel) + "\n"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self.journal, flags, 0o644)
        try:
            if os.fstat(fd).st_size == 0:
                line = _JOURNAL_HEADER + line
            os.write(fd, line.encode("utf-8"))  # one write: whole lines from any process
        finally:
            os.close(fd)
        self.claimed.add(rel)

    def write(self, rel: str, data: bytes, *, sync: bool = False) -> str:
        """Claim ``rel`` and write ``data`` there atomically; returns the file's path."""
        p = self.path(rel)
        self.claim(rel)
        atomic_write(p, data, sync=sync)
        return p

    def __getstate__(self):
        # a worker only claims and writes (the parent checked up front), and each job
        # carries its own copy: the sets, which grow with the data set, stay behind
        state = dict(self.__dict__)
        state["claimed"] = set()
        state["_folders_ok"] = set()
        return state
