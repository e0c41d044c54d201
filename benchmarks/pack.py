#!/usr/bin/env python
"""Packed data against the originals, one run: bytes on disk and DCTLoader img/s.

    python benchmarks/pack.py [DIR] [--mask dctnet24] [--seconds 6] [--threads 2] [--repeats 3]

Packs DIR (default ../shared/data/photos/imagenet-sample-500) with ``freqload pack``
into benchmarks/.build/pack-<mask>-v2 (once; "v2": packs with restart markers in every MCU
row, which the loader starts decoding at and passes over), then measures, interleaved, on both:
libjpeg's raw coefficient read (benchmarks/raw_read.c), and DCTLoader (DALI engine,
the mask, 56x56 blocks) with transform="blocks" (decode + mask, no resampling) and
with train=True (RandomResizedCrop + flip in the DCT domain); and, on the originals, DALI's
own ResNet-50 training recipe (ROI decoding, resize 224, flip, uint8 out: rgb-dali-roi-u8),
the baseline of the packed-data target. Also: how far the packed
loader's tensors are from the originals' (bit-identical channels, and PSNR of the rest:
chroma="dct" upsampling and the resizes read neighbouring frequencies).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

import numpy as np

from freqload import Recipe

from _common import (
    HERE,
    build_raw_reader,
    default_folder,
    list_jpegs,
    run_loader,
    run_raw,
    run_rgb_dali,
)


def loader(root, mask, transform, threads, seed=0):
    import freqload

    source = [(os.path.join(root, os.path.relpath(f, root)), 0) for f in list_jpegs(root)] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return freqload.DCTLoader(source, recipe=Recipe(transform=transform), batch_size=64,
                                  mask=mask, size=(56, 56), shuffle=True, seed=seed,
                                  num_workers=threads, engine="dali", device="cpu", normalize=False)


def fidelity(orig_root, packed_root, mask, transform, n=64):
    """(fraction of samples bit-identical, PSNR of the differing ones over all values)."""
    import freqload
    from freqload.codec.resample import sample
    from freqload.codec.transform import Transform, sample_keys

    files = list_jpegs(orig_root)[:n]
    same, err, count = 0, 0.0, 0
    keys = sample_keys(0, 0, range(len(files)))
    for f, key in zip(files, keys.tolist()):
        a = freqload.read_coefficients(f)
        b = freqload.read_coefficients(os.path.join(packed_root, os.path.relpath(f, orig_root)))
        t = Transform(transform)
        xa = sample(a, t, mask, 56, key).astype(np.float64)
        xb = sample(b, t, mask, 56, key).astype(np.float64)
        same += bool(np.array_equal(xa, xb))
        err += float(np.sum((xa - xb) ** 2))
        count += xa.size
    mse = err / max(count, 1)
    return same / len(files), (math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--mask", default="dctnet24")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    from freqload.data.packs import read_manifest
    from freqload.tools.pack import pack

    root = os.path.abspath(args.dir or default_folder())
    packed = os.path.join(HERE, ".build", f"pack-{args.mask}-v2")
    man = read_manifest(packed) if os.path.isdir(packed) else None
    if man is None or man.get("source") != root:
        if os.path.isdir(packed):
            import shutil
            shutil.rmtree(packed)
        man = pack(root, packed, args.mask, progress=True)
    t = man["totals"]
    print(f"{t['files']} files: originals {t['source_bytes']:,} bytes, packed "
          f"{t['packed_bytes']:,} ({t['packed_bytes'] / t['source_bytes']:.1%})",
          file=sys.stderr)

    exe = build_raw_reader()
    rows = {}
    loaders = {}
    for rep in range(args.repeats):
        print(f"  rgb-dali-roi-u8 originals ({rep + 1}/{args.repeats}) ...", file=sys.stderr)
        rate, cpu, _ = run_rgb_dali(list_jpegs(root) * 4, args.threads, 64, args.seconds,
                                    "roi", "uint8")
        rows.setdefault(("rgb-dali-roi-u8", "originals"), []).append((rate, cpu))
        for data, r in (("originals", root), ("packed", packed)):
            print(f"  raw-libjpeg {data} ({rep + 1}/{args.repeats}) ...", file=sys.stderr)
            rate, cpu = run_raw(exe, list_jpegs(r), args.threads, args.seconds)
            rows.setdefault(("raw-libjpeg", data), []).append((rate, cpu))
            for transform in ("blocks", "train"):
                key = (f"dct-{transform}", data)
                print(f"  {key[0]} {data} ({rep + 1}/{args.repeats}) ...", file=sys.stderr)
                if key not in loaders:
                    loaders[key] = loader(r, args.mask, transform, args.threads)
                rate, cpu, _ = run_loader(loaders[key], args.seconds)
                rows.setdefault(key, []).append((rate, cpu))
    print(f"\n{'pipeline':16s} {'data':10s} {'img/s':>8s} {'CPU-ms/img':>10s} "
          f"{'packed/originals':>16s}")
    for name in ("raw-libjpeg", "dct-blocks", "dct-train"):
        med = {}
        for data in ("originals", "packed"):
            rs = sorted(rows[(name, data)])
            med[data] = rs[len(rs) // 2]
        for data in ("originals", "packed"):
            rate, cpu = med[data]
            ratio = f"{rate / med['originals'][0]:.2f}x" if data == "packed" else ""
            print(f"{name:16s} {data:10s} {rate:8.1f} {cpu:10.2f} {ratio:>16s}")
    rs = sorted(rows[("rgb-dali-roi-u8", "originals")])
    rgb_rate, rgb_cpu = rs[len(rs) // 2]
    print(f"{'rgb-dali-roi-u8':16s} {'originals':10s} {rgb_rate:8.1f} {rgb_cpu:10.2f}")
    train = sorted(rows[("dct-train", "packed")])[args.repeats // 2][0]
    print(f"dct-train on packed data vs DALI's ROI recipe (uint8) on the originals: "
          f"{train / rgb_rate:.2f}x")
    print(f"bytes on disk: packed {t['packed_bytes'] / t['source_bytes']:.1%} of the originals")
    for transform, chroma in (("blocks", "nearest"), ("blocks", "dct"), ("train", "-"),
                              ("eval", "-")):
        if chroma == "nearest":
            same, psnr = _fidelity_nearest(root, packed, args.mask)
        else:
            same, psnr = fidelity(root, packed, args.mask, transform)
        print(f"packed vs originals, transform={transform} chroma={chroma}: {same:.0%} of "
              f"samples bit-identical, PSNR {psnr:.1f} dB")
    return 0


def _fidelity_nearest(orig_root, packed_root, mask, n=64):
    import freqload

    files = list_jpegs(orig_root)[:n]
    same = 0
    err = count = 0.0
    for f in files:
        a = freqload.to_channels(freqload.read_coefficients(f), mask, chroma="nearest",
                                 size=(56, 56)).astype(np.float64)
        b = freqload.to_channels(
            freqload.read_coefficients(os.path.join(packed_root, os.path.relpath(f, orig_root))),
            mask, chroma="nearest", size=(56, 56)).astype(np.float64)
        same += bool(np.array_equal(a, b))
        err += float(np.sum((a - b) ** 2))
        count += a.size
    mse = err / count
    return same / len(files), (math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse))


if __name__ == "__main__":
    sys.exit(main())
