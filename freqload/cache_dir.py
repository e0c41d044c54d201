"""Where freqload keeps what it makes once and reuses: the DALI operator it builds, the
generated benchmark data set. ``$FREQLOAD_CACHE``, else ``$XDG_CACHE_HOME/freqload``,
else ``~/.cache/freqload``."""
from __future__ import annotations

import os


def default_cache_dir() -> str:
    """The folder (not created here)."""
    return os.environ.get("FREQLOAD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "freqload")


__all__ = ["default_cache_dir"]
