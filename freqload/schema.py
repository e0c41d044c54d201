"""One check for the JSON documents freqload reads back: manifests, index files, states.

Every document is read through :class:`Document`: its fields are taken with a type and a
range, and the first one that is missing or wrong raises :class:`~freqload.errors.
ManifestError` naming the document and the field, e.g.::

    data/freqload-pack.json: files['a/b.jpg'].kind: must be one of 'packed', 'copied',
    'unreadable', got 'zipped'

JSON that does not parse (a truncated file, a file nested too deep to read) fails the same
way, naming the file. Nothing past the check sees an unchecked value.
"""
from __future__ import annotations

import json
import os

from .errors import ManifestError

_MAX_INT = (1 << 63) - 1


def parse_json(data, where: str):
    """``data`` (bytes or str) as JSON; ManifestError naming ``where`` when it is not."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)
    except UnicodeDecodeError as e:
        raise ManifestError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        cut = " (cut short?)" if e.pos >= len(e.doc.rstrip()) else ""
        raise ManifestError(f"{where}: not valid JSON{cut}: {e.msg} at line {e.lineno} "
                            f"column {e.colno}") from None
    except RecursionError:
        raise ManifestError(f"{where}: JSON nested too deeply to read") from None


def read_json(path: str):
    """The JSON document in the file ``path`` (ManifestError naming it when it is not
    JSON; OSError when it cannot be read)."""
    with open(path, "rb") as f:
        return parse_json(f.read(), path)


def safe_relpath(rel) -> bool:
    """Whether ``rel`` is a relative path that stays inside the folder it is joined to:
    not absolute, no ``..`` or empty components, no NUL."""
    if not isinstance(rel, str) or not rel or "\0" in rel or os.path.isabs(rel):
        return False
    parts = rel.split("/")
    return all(p not in ("", ".", "..") for p in parts)


class Document:
    """A JSON document being checked. ``where``: what messages call it (a path, "the
    loader state")."""

    def __init__(self, value, where: str):
        self.value, self.where = value, where

    @classmethod
    def load(cls, path: str) -> Document:
        return cls(read_json(path), path)

    def fail(self, field: str, problem: str):
        raise ManifestError(f"{self.where}: {field}: {problem}" if field else
                            f"{self.where}: {problem}")

    # -- one value --------------------------------------------------------------------
    def mapping(self, value, field: str = "") -> dict:
        if not isinstance(value, dict):
            self.fail(field, f"must be an object, got {_kind(value)}")
        return value

    def sequence(self, value, field: str, length: int | None = None) -> list:
        if not isinstance(value, list):
            self.fail(field, f"must be a list, got {_kind(value)}")
        if length is not None and len(value) != length:
            self.fail(field, f"must have {length} items, has {len(value)}")
        return value

    def integer(self, value, field: str, lo: int | None = 0, hi: int = _MAX_INT) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"must be an integer, got {_kind(value)}")
        if (lo is not None and value < lo) or value > hi:
            rng = f">= {lo}" if hi == _MAX_INT else f"in {lo}..{hi}"
            self.fail(field, f"must be an integer {rng}, got {value}")
        return value

    def string(self, value, field: str, *, optional: bool = False):
        if value is None and optional:
            return None
        if not isinstance(value, str):
            self.fail(field, f"must be a string, got {_kind(value)}")
        return value

    def boolean(self, value, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"must be true or false, got {_kind(value)}")
        return value

    def choice(self, value, field: str, options) -> object:
        if value not in options:
            self.fail(field, f"must be one of {', '.join(map(repr, options))}, got "
                      f"{_short(value)}")
        return value

    def relpath(self, value, field: str) -> str:
        if not safe_relpath(value):
            self.fail(field, f"must be a relative path inside the folder (no '..', no "
                      f"absolute path), got {_short(value)}")
        return value

    # -- fields of an object ------------------------------------------------------------
    def field(self, obj: dict, key: str, path: str = "", *, required: bool = True,
              default=None):
        """obj[key], or ``default`` when absent and not required; the field's name for
        messages is ``path.key``."""
        if key not in obj:
            if required:
                self.fail(_join(path, key), "is missing")
            return default
        return obj[key]

    def name(self, path: str, key) -> str:
        return _join(path, key)


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _kind(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__) + \
        (f" ({_short(value)})" if isinstance(value, (int, float, str)) and
         not isinstance(value, bool) else "")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
