#!/usr/bin/env python
"""Cost of the augmentations: the batch operations on the device, and each per-sample op
in the core.

Batch operations (the device post-stage): MixUp, CutMix and RandomErasing on a float32
batch as the train loader delivers it (default 64 x 24 x 56 x 56, dctnet24), on the CPU
(and on CUDA where there is one); ms per batch and us per image.

Per-sample ops (``Recipe(augment=...)``, fl_ops.c, what an engine thread runs after the
transform): each op alone on one sample's channels (default dctnet24, 56 x 56), through
``freqload.codec.policy.apply_ops``, which calls the core's fl_ops_apply the engines call
(plus a copy of the sample and the call's overhead, which the engines do not pay: the
"copy only" row measures them); us per sample on one thread.

Median of --repeats timings of --iters calls each (CUDA synchronised).

    python benchmarks/augment.py [--batch 64] [--size 56] [--mask dctnet24] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

import freqload
from freqload.codec.policy import OP_NAMES, apply_ops
from freqload.loading.erasing import RandomErasing

#: one magnitude per op (torchvision's units)
MAGNITUDE = {"ShearX": 0.3, "ShearY": 0.3, "TranslateX": 13, "TranslateY": 13, "Rotate": 30,
             "Brightness": 0.5, "Color": 0.5, "Contrast": 0.5, "Sharpness": 0.5,
             "Posterize": 4, "Solarize": 0.5, "Hue": 0.1}


def _median_time(fn, repeats, iters, sync=lambda: None) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / iters)
    return float(np.median(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--mask", default="dctnet24")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    channels = list(freqload.codec.mask.as_mask(args.mask).indices)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    keys = freqload.sample_keys(0, 0, np.arange(args.batch))
    y = torch.arange(args.batch) % 10
    batch_ops = {
        "MixUp": lambda x: freqload.MixUp(alpha=0.2, num_classes=10, seed=0)(x, y),
        "CutMix": lambda x: freqload.CutMix(alpha=1.0, num_classes=10, seed=0)(x, y),
        "RandomErasing(0.5)": lambda x: RandomErasing(0.5)(x, keys),
    }
    print(f"batch {args.batch} x {len(channels)} x {args.size} x {args.size} float32, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", file=sys.stderr)
    print(f"{'operation':24s} {'where':10s} {'ms/batch':>9s} {'us/image':>9s}")
    rows = []
    for dev in devices:
        x = torch.randn(args.batch, len(channels), args.size, args.size, device=dev) * 50
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        for name, fn in batch_ops.items():
            ms = 1e3 * _median_time(lambda fn=fn: fn(x), args.repeats, args.iters, sync)
            rows.append({"op": name, "where": dev, "ms_per_batch": ms,
                         "us_per_image": 1e3 * ms / args.batch})
            print(f"{name:24s} {dev:10s} {ms:9.3f} {1e3 * ms / args.batch:9.1f}", flush=True)
    sample = (np.random.default_rng(0).standard_normal((len(channels), args.size, args.size))
              * 50).astype(np.float32)
    sample[0] -= 200  # a luma DC: a plausible picture's mean
    for name in ("copy only",) + OP_NAMES[1:]:
        if name == "copy only":
            def fn():
                return apply_ops(sample, channels, [], [])
        else:
            def fn(name=name):
                return apply_ops(sample, channels, [name], [MAGNITUDE.get(name, 0.0)])
        us = 1e6 * _median_time(fn, args.repeats, args.iters * 5)
        rows.append({"op": name, "where": "core", "ms_per_batch": us * args.batch / 1e3,
                     "us_per_image": us})
        print(f"{name:24s} {'core':10s} {us * args.batch / 1e3:9.3f} {us:9.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "channels": len(channels), "size": args.size,
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
