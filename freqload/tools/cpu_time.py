"""CPU time of this process and of its children (DataLoader workers, DALI's threads are
this process's): what the benchmarks and ``freqload compare`` report besides wall time."""
from __future__ import annotations

import os
import resource


def _live_children_cpu() -> float:
    """CPU seconds of this process's children that are still running (DataLoader workers,
    say), and of the children they reaped, from /proc (Linux; 0 elsewhere)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                pids = f.read().split()
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                # after the name: state is field 3, utime..cstime are fields 14..17
                total += sum(int(v) for v in fields[11:15]) / tick
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile: now counted with the reaped children
    return total


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its children: the reaped ones
    (getrusage) and those still alive (/proc), so short runs count workers that have not
    exited yet."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime + _live_children_cpu()


__all__ = ["cpu_seconds"]
