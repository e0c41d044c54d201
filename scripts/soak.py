#!/usr/bin/env python
"""Loader soak: many epochs over good photos mixed with every corrupt file of the corpus.

    python scripts/soak.py [--epochs 20] [--engine native] [--threads 2]

Builds (once, with symlinks) a folder of ../shared/data/photos/imagenet-sample-500 plus
every "corrupt" and "not-jpeg" file of ../shared/data/jpeg-conformance, then runs
DCTLoader(train=True, on_error="skip") over it for --epochs epochs. After each epoch it
checks that every good file gave its sample and that exactly the bad files were skipped
(also with the default partial_decode=True: a decode that stops early checks the rows it
skips for stray markers, the damage of every corrupt corpus file; --whole sets
partial_decode=False), and records the process's resident memory (VmRSS). Fails (exit 1)
on a wrong count, or when the peak resident memory of the
last third of the epochs exceeds that of the middle third by more than --max-growth-mb
(allocators and DALI's buffer pools settle over the first epochs and then fluctuate: a
leak shows as a peak that keeps rising).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "data")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(root: str) -> tuple[int, int]:
    """(good, bad) files linked into root/good and root/bad."""
    photos = os.path.join(SHARED, "photos", "imagenet-sample-500")
    conf = os.path.join(SHARED, "jpeg-conformance")
    good = bad = 0
    for sub in ("good", "bad"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for d, _, names in os.walk(photos):
        for n in sorted(names):
            dst = os.path.join(root, "good", f"{good:04d}_{n}")
            if not os.path.exists(dst):
                os.symlink(os.path.abspath(os.path.join(d, n)), dst)
            good += 1
    with open(os.path.join(conf, "manifest.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["expected"] in ("corrupt", "not-jpeg"):
                dst = os.path.join(root, "bad", f"{bad:04d}_{os.path.basename(row['path'])}.jpg")
                if not os.path.exists(dst):
                    os.symlink(os.path.abspath(os.path.join(conf, row["path"])), dst)
                bad += 1
    return good, bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--engine", default="native")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-growth-mb", type=float, default=50.0)
    ap.add_argument("--whole", action="store_true",
                    help="partial_decode=False: every row of every file decoded")
    ap.add_argument("--root", default=os.path.join(HERE, "..", "build", "soak"))
    args = ap.parse_args(argv)
    if not os.path.isdir(SHARED):
        print("soak needs ../shared/data", file=sys.stderr)
        return 2
    import freqload

    good, bad = build(args.root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loader = freqload.DCTLoader(args.root,
                                    recipe=freqload.Recipe(transform="train",
                                                           partial_decode=not args.whole),
                                    batch_size=64, train=True, on_error="skip", engine=args.engine,
                                    num_workers=args.threads, normalize=False, device="cpu")
    good_label = loader.dataset.classes.index("good")
    print(f"soak: {good} good + {bad} bad files, {args.epochs} epochs, engine "
          f"{loader.engine.name}", flush=True)
    rss, ok = [], True
    t0 = time.perf_counter()
    for e in range(args.epochs):
        skipped0, n, n_good = loader.stats.skipped, 0, 0
        for x, y in loader:
            n += len(y)
            n_good += int((y == good_label).sum())
        skipped = loader.stats.skipped - skipped0
        rss.append(rss_mb())
        good_count = n_good == good and n == good and skipped == bad
        ok &= good_count
        print(f"epoch {e + 1:2d}: {n} samples ({n - n_good} from bad files), {skipped} skipped "
              f"{'ok' if good_count else 'WRONG'}, RSS {rss[-1]:.1f} MB", flush=True)
    third = max(1, len(rss) // 3)
    mid, last = max(rss[third:2 * third] or rss), max(rss[2 * third:] or rss)
    growth = last - mid
    print(f"soak: {time.perf_counter() - t0:.0f} s; RSS after epoch 1 {rss[0]:.1f} MB, peak of "
          f"the middle third {mid:.1f} MB, of the last third {last:.1f} MB (growth "
          f"{growth:+.1f} MB), last {rss[-1]:.1f} MB; counts {'right' if ok else 'WRONG'}")
    return 0 if ok and growth <= args.max_growth_mb else 1


if __name__ == "__main__":
    sys.exit(main())
