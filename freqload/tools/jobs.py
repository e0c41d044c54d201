"""Long jobs of the writing tools (``pack``, ``shards``): worker processes that leave
Ctrl-C to the parent and die with it, and an interruption that says how far it got.

Ctrl-C (SIGINT) or SIGTERM stops the parent and its workers within a second or two; the
job writes its partial manifest first, and :class:`PackInterrupted` says how far it got
(the command line prints that one line, exit 128 + the signal; the same command resumes).
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
import threading


class PackInterrupted(KeyboardInterrupt):
    """pack() stopped by SIGINT or SIGTERM; the partial manifest is saved (resumable)."""

    def __init__(self, signum: int, done: int, total: int, dst: str,
                 what: str = "files packed"):
        self.signum, self.done, self.total, self.dst = signum, done, total, dst
        super().__init__(f"interrupted by {signal.Signals(signum).name} with {done} of {total} "
                         f"{what} into {dst}; run the same command again to resume")


def _worker_init():
    """In each worker: Ctrl-C goes to the whole process group, but only the parent acts
    on it (it then ends the workers); and a worker dies with its parent (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):  # not Linux: the parent's terminate() still ends us
        pass


@contextlib.contextmanager
def worker_results(fn, jobs, workers: int, ordered: bool):
    """``fn`` over ``jobs``: in this process (``workers`` <= 1) or in a pool of worker
    processes that leave Ctrl-C to the parent and die with it; results in order, or as
    they finish. When the body stops early (an exception: Ctrl-C, SIGTERM turned into
    one), the workers are ended before it propagates; otherwise they are joined."""
    if workers <= 1:
        yield map(fn, jobs)
        return
    pool = multiprocessing.get_context().Pool(workers, initializer=_worker_init)
    try:
        yield (pool.imap if ordered else pool.imap_unordered)(fn, jobs, chunksize=4)
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


class Interruptible:
    """Within: SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does, and
    ``signum`` records which signal came. Restores the old handler on exit."""

    def __init__(self):
        self.signum = None
        self._old = None

    def _handler(self, signum, frame):
        self.signum = signum
        raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handler)
            self._old_int = signal.getsignal(signal.SIGINT)
            if self._old_int is signal.default_int_handler:
                signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
            signal.signal(signal.SIGINT, self._old_int)
        return False


__all__ = ["PackInterrupted", "Interruptible", "worker_results"]
