"""A dependency-free progress bar on stderr for long work (stats, data generation).

Shown when stderr is a terminal or ``FREQLOAD_PROGRESS=1``; silent when
``FREQLOAD_PROGRESS=0`` or ``enabled=False``.
"""
from __future__ import annotations

import os
import sys
import time


class Progress:
    def __init__(self, total: int, label: str, enabled: bool | None = None):
        env = os.environ.get("FREQLOAD_PROGRESS")
        if enabled is None:
            enabled = sys.stderr.isatty() if env is None else env not in ("0", "")
        self.total, self.label, self.enabled = max(int(total), 1), label, bool(enabled)
        self.done, self.t0, self._last = 0, time.perf_counter(), 0.0

    @property
    def rate(self) -> float:
        """Items per second done by this run."""
        return self.done / max(time.perf_counter() - self.t0, 1e-9)

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.2 or self.done >= self.total):
            self._last = now
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            rate = self.rate
            print(f"\r{self.label} [{bar:<30}] {self.done}/{self.total} {rate:.0f}/s",
                  end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
