"""Progress of long work (stats, packs, shards, benchmarks, data generation) on stderr.

On a terminal: a tqdm bar (count, elapsed, ETA, the rate of this run). Elsewhere (CI logs,
a file): a plain line every few seconds, "label: 120/500 (24%), 35.2/s, 3.4 s elapsed,
ETA 10.8 s", and a last one when work that took that long ends. ``FREQLOAD_PROGRESS=0``
or ``enabled=False`` silences it; ``FREQLOAD_PROGRESS=1`` or ``enabled=True`` shows it
even where it would not be. The rate counts this run's work only: a resumed pack that
starts at ``initial`` does not look faster than it is.
"""
from __future__ import annotations

import os
import sys
import time

#: seconds between plain lines where stderr is not a terminal
PLAIN_EVERY = 5.0


class Progress:
    """Args:
        total: items (or seconds, with unit="s") in all.
        label: what is being done.
        enabled: None: on (a bar on a terminal, plain lines elsewhere) unless
            FREQLOAD_PROGRESS=0; True / False: on / off.
        initial: items already done before this run (a resume).
        unit: what is counted ("it", "files", "s" ...).
    """

    def __init__(self, total: int, label: str, enabled: bool | None = None, *,
                 initial: int = 0, unit: str = "it"):
        env = os.environ.get("FREQLOAD_PROGRESS")
        if enabled is None:
            enabled = env not in ("0", "")  # unset: on
        self.total, self.label, self.enabled = max(int(total), 1), label, bool(enabled)
        self.unit = unit
        self.initial = self.done = int(initial)
        self.t0 = self._last = time.perf_counter()
        self._printed = False
        self._bar = None
        if self.enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=self.total, initial=self.initial, desc=label,
                                 unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)
            except ImportError:  # plain lines then
                self._bar = None

    @property
    def rate(self) -> float:
        """Items per second done by this run (not counting ``initial``)."""
        return (self.done - self.initial) / max(time.perf_counter() - self.t0, 1e-9)

    def _line(self, now: float) -> str:
        elapsed = now - self.t0
        rate = self.rate
        left = self.total - self.done
        eta = f", ETA {left / rate:.1f} s" if rate > 0 and left > 0 else ""
        return (f"{self.label}: {self.done}/{self.total} {self.unit} "
                f"({100 * self.done / self.total:.0f}%), {rate:.1f} {self.unit}/s, "
                f"{elapsed:.1f} s elapsed{eta}")

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= PLAIN_EVERY:
            self._last = now
            self._printed = True
            print(self._line(now), file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._printed:  # long enough to have reported: say how it ended
            print(self._line(time.perf_counter()), file=sys.stderr, flush=True)
            self._printed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
