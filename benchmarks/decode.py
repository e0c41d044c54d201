#!/usr/bin/env python
"""Decode throughput: freqload's coefficient read against libjpeg and Pillow.

On a folder of JPEGs held in memory, with 1 and 2 threads, in one run:

  raw-libjpeg        libjpeg's own jpeg_read_coefficients, a tiny C program
                     (benchmarks/raw_read.c) built here against the same libjpeg
  freqload-core      the same C loop reading with freqload's native core (fl_begin +
                     fl_read_coefficients into planes the thread reuses, as the engines
                     do): the coefficient read like with like
  freqload           freqload.read_coefficients (header, caller-owned arrays,
                     entropy decode, GIL released)
  freqload+dctnet24  read_coefficients + to_channels(mask="dctnet24")
  pillow-rgb         Pillow's full decode to RGB

Prints img/s, CPU-ms per image, img/s per core (1000 / CPU-ms: images per CPU-second),
MB/s of JPEG input and ratios against raw-libjpeg; the header line gives the files' mean
pixels and bytes.

    python benchmarks/decode.py [DIR] [--seconds 5] [--threads 1 2] [--repeats 1]
                                [--json out.json]

--repeats N runs every row N times, interleaved (each repeat starts one row later), and
reports each row's median run by img/s: steadier ratios on a machine whose speed drifts.

DIR defaults to ../shared/data/photos/imagenet-sample-500 when it exists, else a
cached set of synthetic ImageNet-sized JPEGs (freqload.tools.synthetic).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time

from _common import (
    build_core_reader,
    build_raw_reader,
    cpu_seconds,
    default_folder,
    image_sizes,
    list_jpegs,
    per_core,
    run_raw,
)


def run_threads(fn, blobs: list[bytes], threads: int, seconds: float) -> tuple[float, float]:
    """(img/s, CPU-ms/img) of fn(blob) over `blobs`, round-robin per thread, for
    `seconds`."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop = [0.0]

    def work(tid: int):
        i, n = tid, 0
        barrier.wait()
        deadline = stop[0]
        while True:
            fn(blobs[i])
            n += 1
            i = (i + threads) % len(blobs)
            if (n & 7) == 0 and time.perf_counter() >= deadline:
                break
        counts[tid] = n

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    stop[0] = t0 + seconds
    barrier.wait()
    for t in ts:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    n = sum(counts)
    return n / elapsed, cpu * 1e3 / max(1, n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", help="folder of JPEGs (searched recursively)")
    ap.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--limit", type=int, default=0, help="use at most this many files")
    ap.add_argument("--repeats", type=int, default=1,
                    help="run the rows this many times, interleaved, and report medians")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    from PIL import Image

    import freqload

    root = args.dir or default_folder()
    files = list_jpegs(root)
    if args.limit:
        files = files[:args.limit]
    if not files:
        print(f"no JPEGs under {root}", file=sys.stderr)
        return 2
    # keep the files freqload reads (a GIF under .jpg would stop the loops)
    blobs, kept = [], []
    for f in files:
        data = open(f, "rb").read()
        try:
            freqload.read_coefficients(data)
        except freqload.FreqloadError as e:
            print(f"skipping {f}: {e}", file=sys.stderr)
            continue
        blobs.append(data)
        kept.append(f)
    mean_pixels, mean_bytes = image_sizes(blobs)
    mb = mean_bytes / 1e6
    print(f"{len(blobs)} JPEGs from {os.path.relpath(root)}, mean {mean_pixels / 1e6:.3f} MP "
          f"and {mb * 1e3:.1f} kB, in memory; {args.seconds:g} s per measurement; "
          f"{freqload.libjpeg_version()}; {args.repeats} interleaved run(s) per row (median)",
          file=sys.stderr)

    mask = freqload.ChannelMask.dctnet24()
    pipelines = {
        "freqload": lambda b: freqload.read_coefficients(b),
        "freqload+dctnet24": lambda b: freqload.to_channels(freqload.read_coefficients(b), mask),
        "pillow-rgb": lambda b: Image.open(io.BytesIO(b)).convert("RGB"),
    }
    exe, core_exe = build_raw_reader(), build_core_reader()
    results = []
    for fn in pipelines.values():
        for b in blobs[:20]:  # warm-up
            fn(b)
    names = ["raw-libjpeg", "freqload-core", *pipelines]
    for threads in args.threads:
        runs = {name: [] for name in names}
        for rep in range(args.repeats):
            k = rep % len(names)  # over as many repeats as rows, each row in every place
            for name in names[k:] + names[:k]:
                if name in pipelines:
                    runs[name].append(run_threads(pipelines[name], blobs, threads,
                                                  args.seconds))
                else:
                    runs[name].append(run_raw(exe if name == "raw-libjpeg" else core_exe,
                                              kept, threads, args.seconds))
        rates = {name: sorted(rs)[len(rs) // 2] for name, rs in runs.items()}  # median
        for name, (rate, cpu) in rates.items():
            results.append({"pipeline": name, "threads": threads, "img_per_s": rate,
                            "cpu_ms_per_img": cpu, "img_per_s_per_core": per_core(cpu),
                            "mb_per_s": rate * mb, "vs_raw": rate / rates["raw-libjpeg"][0]})
        print(f"  {threads} thread(s) done", file=sys.stderr)

    one = {r["pipeline"]: r["img_per_s"] for r in results if r["threads"] == 1}
    print(f"\n{'pipeline':20s} {'threads':>7s} {'img/s':>9s} {'CPU-ms/img':>10s} "
          f"{'img/s/core':>10s} {'MB/s':>8s} {'vs raw':>7s} {'vs 1 thread':>11s}")
    for r in results:
        scale = r["img_per_s"] / one[r["pipeline"]] if r["pipeline"] in one else float("nan")
        print(f"{r['pipeline']:20s} {r['threads']:7d} {r['img_per_s']:9.1f} "
              f"{r['cpu_ms_per_img']:10.3f} {r['img_per_s_per_core']:10.1f} "
              f"{r['mb_per_s']:8.1f} {r['vs_raw']:7.3f} {scale:11.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dir": os.path.abspath(root), "files": len(blobs),
                       "mean_pixels": mean_pixels, "mean_bytes": mean_bytes,
                       "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
