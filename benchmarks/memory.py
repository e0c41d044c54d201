#!/usr/bin/env python
"""Peak memory of the loader's engines: native vs DALI vs worker processes.

Each (engine, workers) runs in a fresh interpreter: 3 epochs of DCTLoader's train recipe
(dctnet24, 56x56 blocks, batch 64, int16 batches consumed on the CPU) over the folder
(default: the embedded photo set, or ../shared/data/photos/imagenet-sample-500). This
process samples the run's whole process tree every 20 ms and reports the peak of

  RSS   the sum of the processes' resident sets (what `top` adds up; shared pages counted
        once per process, as the kernel's OOM accounting and most job schedulers do)
  PSS   the sum of proportional set sizes (shared pages split between their sharers)

and the interpreter's own RSS before the loader was made (imports: torch, numpy, DALI).

Engines:
  native   DCTLoader(engine="native"): the core's thread pool, `workers` threads
  dali     DCTLoader(engine="dali"): DALI's thread pool, `workers` threads
  process  the worker-process design freqload's "torch" engine had (removed): a torch
           DataLoader with `workers` forked worker processes, each decoding its samples
           with freqload's per-thread decoder (Decoder.decode_file, the same core call) and
           the batch collated with torch.stack; the baseline a user builds with torch alone

    python benchmarks/memory.py [DIR] [--workers 1 2 4] [--engines native dali process]
                                [--epochs 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import os, sys, time
engine, workers, epochs, root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
import numpy as np, torch
import freqload
from freqload import Recipe
from freqload.codec.transform import sample_keys
if engine == "dali":
    import nvidia.dali  # noqa: F401  (imported before the baseline, as its users have it)

def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024

recipe = Recipe(transform="train", mask="dctnet24", size=(56, 56))
print("base", rss(), flush=True)
t0, n = time.perf_counter(), 0
if engine in ("native", "dali"):
    loader = freqload.DCTLoader(root, recipe, batch_size=64, train=True, engine=engine,
                                num_workers=workers, normalize=False, device="cpu")
    for _ in range(epochs):
        for x, y in loader:
            n += len(y)
else:  # the worker-process design: a DataLoader, the core's decoder per sample
    from freqload.codec.read import thread_decoder
    from freqload.data.sources import resolve_source
    samples = resolve_source(root)

    class Samples(torch.utils.data.Dataset):
        def __len__(self):
            return len(samples)

        def __getitem__(self, item):
            i, key = item
            out = np.empty((recipe.channels, recipe.out_h, recipe.out_w), dtype=np.int16)
            path, offset, length = samples.where(i)
            status, _ = thread_decoder().decode_file(path, recipe.packed, key, out, None,
                                                     offset, length)
            return torch.from_numpy(out), int(samples.labels[i])

    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(samples))
        batches = [order[k:k + 64] for k in range(0, len(order), 64)]
        keyed = [list(zip(b.tolist(), sample_keys(0, epoch, b).tolist())) for b in batches]
        dl = torch.utils.data.DataLoader(Samples(), batch_sampler=keyed, num_workers=workers,
                                         prefetch_factor=2)
        for x, y in dl:
            n += len(y)
print("done", n, n / (time.perf_counter() - t0), flush=True)
"""


def _tree(root_pid: int) -> list[int]:
    """root_pid and its descendants, now."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    pids, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return pids


def _kb(path: str, field: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(engine: str, workers: int, epochs: int, root: str) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, engine, str(workers), str(epochs),
                             root], stdout=subprocess.PIPE, text=True)
    peak_rss = peak_pss = 0
    processes = 1
    while proc.poll() is None:
        pids = _tree(proc.pid)
        processes = max(processes, len(pids))
        peak_rss = max(peak_rss, sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids))
        peak_pss = max(peak_pss, sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids))
        time.sleep(0.02)
    out = proc.stdout.read().split()
    if proc.returncode != 0 or "done" not in out:
        raise SystemExit(f"{engine} x {workers}: the run failed (exit {proc.returncode})")
    base = float(out[out.index("base") + 1])
    n, rate = int(out[out.index("done") + 1]), float(out[out.index("done") + 2])
    return {"engine": engine, "workers": workers, "samples": n, "img_per_s": rate,
            "base_rss_mb": base, "peak_rss_mb": peak_rss / 1024, "peak_pss_mb": peak_pss / 1024,
            "processes": processes}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", help="folder of JPEGs in class folders")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--engines", nargs="+", default=["native", "dali", "process"],
                    choices=["native", "dali", "process"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    from _common import default_folder

    root = os.path.abspath(args.dir or default_folder())
    print(f"{root}: {args.epochs} epochs of the train recipe per run, peak over the process "
          "tree", file=sys.stderr)
    results = []
    print(f"{'engine':8s} {'workers':>7s} {'procs':>5s} {'base RSS':>9s} {'peak RSS':>9s} "
          f"{'peak PSS':>9s} {'img/s':>7s}")
    for engine in args.engines:
        for w in args.workers:
            r = measure(engine, w, args.epochs, root)
            results.append(r)
            print(f"{engine:8s} {w:7d} {r['processes']:5d} {r['base_rss_mb']:8.0f}M "
                  f"{r['peak_rss_mb']:8.0f}M {r['peak_pss_mb']:8.0f}M {r['img_per_s']:7.0f}",
                  flush=True)
    for engine in args.engines:
        rows = {r["workers"]: r for r in results if r["engine"] == engine}
        lo, hi = min(rows), max(rows)
        if lo != hi:
            for key in ("peak_rss_mb", "peak_pss_mb"):
                grow = rows[hi][key] / rows[lo][key] - 1
                print(f"{engine}: {key} {rows[lo][key]:.0f} MB at {lo} worker(s) -> "
                      f"{rows[hi][key]:.0f} MB at {hi}: {100 * grow:+.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dir": root, "epochs": args.epochs, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
