#!/usr/bin/env python
"""Cost of the batch-level augmentations on DCT batches, per batch and per image.

A float32 batch as the train loader delivers it (default: 64 x 24 x 56 x 56, dctnet24),
on the CPU (and on CUDA where there is one): MixUp, CutMix, ColorJitter (all four
operations), RandomGrayscale, RandomErasing, and each colour operation alone. Median of
--repeats timings of --iters calls each (CUDA synchronised).

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
from freqload.loading import color
from freqload.loading.erasing import RandomErasing
from freqload.loading.jitter import ColorJitter, RandomGrayscale


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--mask", default="dctnet24")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    channels = len(freqload.codec.mask.as_mask(args.mask).indices)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    keys = freqload.sample_keys(0, 0, np.arange(args.batch))
    y = torch.arange(args.batch) % 10
    ops = {
        "MixUp": lambda x: freqload.MixUp(alpha=0.2, num_classes=10, seed=0)(x, y),
        "CutMix": lambda x: freqload.CutMix(alpha=1.0, num_classes=10, seed=0)(x, y),
        "ColorJitter(0.4, 0.4, 0.4, 0.1)": lambda x: ColorJitter(0.4, 0.4, 0.4, 0.1)(
            x, args.mask, keys),
        "RandomGrayscale(0.1)": lambda x: RandomGrayscale(0.1)(x, args.mask, keys),
        "RandomErasing(0.5)": lambda x: RandomErasing(0.5)(x, keys),
        "brightness": lambda x: color.brightness(x, args.mask, 1.2),
        "contrast": lambda x: color.contrast(x, args.mask, 0.8),
        "saturation": lambda x: color.saturation(x, args.mask, 1.3),
        "hue": lambda x: color.hue(x, args.mask, 0.1),
    }
    print(f"batch {args.batch} x {channels} x {args.size} x {args.size} float32, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", file=sys.stderr)
    print(f"{'operation':34s} {'device':6s} {'ms/batch':>9s} {'us/image':>9s}")
    rows = []
    for dev in devices:
        x = torch.randn(args.batch, channels, args.size, args.size, device=dev) * 50
        for name, fn in ops.items():
            fn(x)  # warm-up
            times = []
            for _ in range(args.repeats):
                if dev == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(args.iters):
                    fn(x)
                if dev == "cuda":
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - t0) / args.iters)
            ms = 1e3 * float(np.median(times))
            rows.append({"op": name, "device": dev, "ms_per_batch": ms,
                         "us_per_image": 1e3 * ms / args.batch})
            print(f"{name:34s} {dev:6s} {ms:9.3f} {1e3 * ms / args.batch:9.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "channels": channels, "size": args.size,
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
