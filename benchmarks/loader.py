#!/usr/bin/env python
"""Loader throughput: DCTLoader (native and DALI engines) against DALI's CPU RGB recipe.

One run, same files, same thread count (default 2), batches of 64:

  raw-libjpeg        libjpeg's own coefficient read (benchmarks/raw_read.c), the ceiling
  dct24-dali         DCTLoader(engine="dali", mask="dctnet24", size=(56, 56),
                     transform="blocks"): decode + mask + chroma alignment, no resampling
                     ("decode alone"); int16 batches as they cross (normalize=False)
  dct24-dali-whole   dct24-dali with partial_decode=False: every row of every file entropy-
                     decoded, as raw-libjpeg does (the default stops below the crop)
  dct24-dali-train   the same with train=True: RandomResizedCrop + flip in the DCT domain
  dct24-dali-train-whole  dct24-dali-train with partial_decode=False
  dct24-dali-eval    the same with the eval transform (resize shorter side, centre crop)
  dct24-native-train-ta, dct24-dali-train-ta  the train rows with
                     Recipe(augment="trivialaugment"): TrivialAugmentWide on every sample,
                     in the core, int16 out ("policy cost:" lines compare each with its
                     train row)
  dct24-dali+float   dct24-dali with float32 conversion (normalize=None); on a GPU machine
                     this step runs on the device, here on the CPU
  dct24-native, dct24-native-train, dct24-native-eval, dct24-native-train+float,
  dct24-native-planes, dct24-native-train-shards  the dct24-dali rows of the same names on
                     the native engine (the core's own thread pool, num_workers threads);
                     "engines:" lines compare each with its DALI row
  dct24-dali-planes  regroup="device", host part only: the DALI engine's planes at native
                     resolution, as they would cross (bytes include the quant tables the
                     device needs); the alignment itself then runs on the device
  dct24-dali-device  regroup="device" end to end; without a GPU the "device" is this CPU
  dct24-dali-train+float  dct24-dali-train with float32 conversion (normalize=None)
  dct24-dali-libjpeg, dct24-dali-train-libjpeg  dct24-dali and dct24-dali-train with
                     libjpeg entropy-decoding every file (FREQLOAD_ENTROPY=libjpeg while
                     the row's operator makes its decoders): what the fast path buys
  dct24-dali-train-shards  dct24-dali-train
                     on the same files written as tar shards (freqload shards, ~8 shards,
                     into a temporary folder): the shard source against the folder rows
  dct24-dali-train-s3  the same shards from an S3-compatible server (moto) on 127.0.0.1,
                     downloaded into a temporary cache each epoch
  dct24-native-train-packed, dct24-dali-train-packed  the train rows on the files packed
                     by freqload pack (mask dctnet24, restart markers in every MCU
                     row, into a temporary folder): against DALI's recipe on the originals
                     (rgb-dali-roi-u8), and ("packed:" lines) their train rows
  rgb-dali-roi-u8    DALI's own ResNet-50 training recipe on the CPU: file reader,
                     decoders.image_random_crop (ROI decoding: only the crop is decoded),
                     resize 224, crop_mirror_normalize (random flip) to uint8 CHW: the
                     baseline of the int16 train rows (what crosses before normalisation)
  rgb-dali-roi       the same recipe to normalised float32: the baseline of float rows
  rgb-dali-roi-ta-u8 rgb-dali-roi-u8 followed by DALI's own TrivialAugmentWide
                     (nvidia.dali.auto_aug.trivial_augment.trivial_augment_wide, on the CPU)
                     on the 224 crop: the baseline of the -train-ta rows
  rgb-dali-eval-u8   DALI's validation recipe: decode, resize shorter side 256, centre crop
                     224, uint8 CHW: the baseline of dct24-dali-eval
  rgb-dali-full      an extra row, not a baseline: full decode, random_resized_crop 224,
                     float32 (the RGB row freqload compared against before)

Each row's "vs DALI" figure is its img/s over its baseline's (the table names it): like
with like, int16 against uint8 and float32 against float32. The "blocks" rows have no
augmentation and are compared with the training recipe only for scale.

Each row runs whole epochs for at least --seconds (--repeats N: N interleaved runs, median;
each repeat starts one row later than the one before, so rows take turns going first);
the file list is repeated --repeat
times per epoch so epoch boundaries do not dominate on a small folder. Reports img/s,
CPU-ms/img (process + worker CPU time over images), img/s per core (1000 / CPU-ms/img:
images per CPU-second, comparable with single-core decoders' figures) and bytes per sample
handed over; the header line gives the files' mean pixels and bytes.

    python benchmarks/loader.py [DIR] [--seconds 8] [--threads 2] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from freqload import Recipe
from freqload.loading.host_batch import PLANES_COEFS, layout_view
from freqload.tools.bench import DALI_RGB

from _common import (
    LoopbackS3,
    build_raw_reader,
    cpu_seconds,
    default_folder,
    image_sizes,
    list_jpegs,
    per_core,
    run_loader,
    run_raw,
    run_rgb_dali,
    write_bench_shards,
)


def run_host_part(loader, seconds: float) -> tuple[float, float, int]:
    """Like run_loader, but only the engine's host batches (nothing after the bus)."""
    def epoch():
        n = nbytes = 0
        for hb in loader.host_batches(loader.epoch):
            n += len(hb.index)
            nbytes += hb.x.numel() * 2
            if hb.layouts is not None:  # the quant tables of upsampled chroma go too
                kinds = layout_view(hb.layouts)["groups"]["kind"]
                nbytes += 2 * 64 * 2 * int((kinds == PLANES_COEFS).sum())
        loader.epoch += 1
        return n, nbytes
    epoch()
    c0, t0, n, nbytes = cpu_seconds(), time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < seconds:
        a, b = epoch()
        n, nbytes = n + a, nbytes + b
    elapsed = time.perf_counter() - t0
    return n / elapsed, (cpu_seconds() - c0) * 1e3 / n, nbytes // n


#: the DALI recipe rows: name -> (recipe, output), freqload bench's CPU ones
RGB_ROWS = {name: how for name, how in DALI_RGB.items() if name != "rgb-dali-gpu"}
#: each row's baseline (like with like); rows not listed: rgb-dali-roi-u8
BASELINE = {"dct24-dali-eval": "rgb-dali-eval-u8", "dct24-dali+float": "rgb-dali-roi",
            "dct24-dali-train+float": "rgb-dali-roi", "rgb-dali-roi": "rgb-dali-roi",
            "rgb-dali-full": "rgb-dali-roi", "rgb-dali-eval-u8": "rgb-dali-eval-u8",
            "dct24-dali-train-shards": "dct24-dali-train",
            "dct24-dali-train-s3": "dct24-dali-train",
            "dct24-native-eval": "rgb-dali-eval-u8", "dct24-native-train+float": "rgb-dali-roi",
            "dct24-native-train-shards": "dct24-native-train",
            "dct24-native-train-ta": "rgb-dali-roi-ta-u8",
            "dct24-dali-train-ta": "rgb-dali-roi-ta-u8"}
#: the engines compared row by row: native against DALI (the same samples)
ENGINE_PAIRS = (("dct24-native", "dct24-dali"), ("dct24-native-train", "dct24-dali-train"),
                ("dct24-native-eval", "dct24-dali-eval"),
                ("dct24-native-train+float", "dct24-dali-train+float"),
                ("dct24-native-planes", "dct24-dali-planes"),
                ("dct24-native-train-shards", "dct24-dali-train-shards"),
                ("dct24-native-train-packed", "dct24-dali-train-packed"),
                ("dct24-native-train-ta", "dct24-dali-train-ta"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", help="folder of JPEGs (searched recursively)")
    ap.add_argument("--seconds", type=float, default=8.0, help="per row (default 8)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=4, help="file list repeats per epoch")
    ap.add_argument("--rows", nargs="+",
                    default=["raw-libjpeg", "dct24-native", "dct24-native-train",
                             "dct24-native-eval", "dct24-dali", "dct24-dali-whole",
                             "dct24-dali-train",
                             "dct24-dali-train-whole", "dct24-dali-eval",
                             "dct24-dali+float",
                             "dct24-dali-train+float", "dct24-dali-planes",
                             "dct24-dali-device", "rgb-dali-roi-u8", "rgb-dali-roi",
                             "rgb-dali-eval-u8", "rgb-dali-full"])
    ap.add_argument("--repeats", type=int, default=1,
                    help="run the rows this many times, interleaved, and report medians "
                         "(steadier ratios on a busy machine)")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)

    import freqload

    root = args.dir or default_folder()
    files = []
    for f in list_jpegs(root):
        try:
            freqload.read_header(f)
            files.append(f)
        except freqload.FreqloadError as e:
            print(f"skipping {f}: {e}", file=sys.stderr)
    source = [(f, i) for i, f in enumerate(files)] * args.repeat
    mean_pixels, mean_bytes = image_sizes(files)
    print(f"{len(files)} JPEGs from {os.path.relpath(root)} (x{args.repeat} per epoch; mean "
          f"{mean_pixels / 1e6:.3f} MP, {mean_bytes / 1e3:.1f} kB), "
          f"{args.threads} threads, batch {args.batch_size}, >= {args.seconds:g} s per row, "
          f"{args.repeats} interleaved run(s) per row (median)",
          file=sys.stderr)

    import contextlib
    import tempfile

    stack = contextlib.ExitStack()  # closed below, or at exit if a row fails
    import atexit

    atexit.register(stack.close)
    shard_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-shards-"))
    sources = {}

    def source_of(kind):  # the files as listed, as local shards, from loopback S3, or packed
        if kind not in sources:
            if kind == "files":
                sources[kind] = source
            elif kind == "shards":
                sources[kind] = write_bench_shards(files, shard_dir) * args.repeat
            elif kind == "packed":  # freqload pack's dctnet24 copy (row restarts), made here
                from freqload.tools.pack import pack

                pack_dir = os.path.join(shard_dir, "packed")
                pack(root, pack_dir, "dctnet24", progress=False)
                packed = [os.path.join(pack_dir, os.path.relpath(f, root)) for f in files]
                sources[kind] = [(f, i) for i, f in enumerate(packed)] * args.repeat
            else:
                shards = source_of("shards")[:len(source_of("shards")) // args.repeat]
                s3 = stack.enter_context(LoopbackS3())
                sources[kind] = s3.upload(shards) * args.repeat
        return sources[kind]

    def loader(engine, normalize, regroup="cpu", transform="blocks", partial=True,
               kind="files", augment=None):
        recipe = Recipe("dctnet24", (56, 56), transform=transform, regroup=regroup,
                        partial_decode=partial, augment=augment)
        return freqload.DCTLoader(source_of(kind), recipe, batch_size=args.batch_size,
                                  shuffle=True, engine=engine, num_workers=args.threads,
                                  normalize=normalize, device="cpu")

    loaders = {}

    def get_loader(name):  # one per row, reused across repeats (one operator build, one warm-up)
        if name not in loaders:
            engine, regroup, normalize, transform, *partial = {
                "dct24-dali": ("dali", "cpu", False, "blocks"),
                "dct24-dali-whole": ("dali", "cpu", False, "blocks", False),
                "dct24-dali-train": ("dali", "cpu", False, "train"),
                "dct24-dali-libjpeg": ("dali", "cpu", False, "blocks"),
                "dct24-dali-train-libjpeg": ("dali", "cpu", False, "train"),
                "dct24-dali-train-whole": ("dali", "cpu", False, "train", False),
                "dct24-dali-eval": ("dali", "cpu", False, "eval"),
                "dct24-dali+float": ("dali", "cpu", None, "blocks"),
                "dct24-dali-train+float": ("dali", "cpu", None, "train"),
                "dct24-native": ("native", "cpu", False, "blocks"),
                "dct24-native-train": ("native", "cpu", False, "train"),
                "dct24-native-eval": ("native", "cpu", False, "eval"),
                "dct24-native-train+float": ("native", "cpu", None, "train"),
                "dct24-native-planes": ("native", "device", False, "blocks"),
                "dct24-native-train-shards": ("native", "cpu", False, "train", True, "shards"),
                "dct24-native-train-packed": ("native", "cpu", False, "train", True, "packed"),
                "dct24-dali-train-packed": ("dali", "cpu", False, "train", True, "packed"),
                "dct24-dali-planes": ("dali", "device", False, "blocks"),
                "dct24-dali-device": ("dali", "device", False, "blocks"),
                "dct24-dali-train-shards": ("dali", "cpu", False, "train", True, "shards"),
                "dct24-dali-train-s3": ("dali", "cpu", False, "train", True, "s3"),
                "dct24-native-train-ta": ("native", "cpu", False, "train", True, "files",
                                          "trivialaugment"),
                "dct24-dali-train-ta": ("dali", "cpu", False, "train", True, "files",
                                        "trivialaugment")}[name]
            loaders[name] = loader(engine, normalize, regroup, transform, *partial)
        return loaders[name]

    runs = {name: [] for name in args.rows}
    for rep in range(args.repeats):
        # each repeat starts one row later: over as many repeats as rows, every row runs
        # once in every position (a row's neighbours and the machine's drift even out)
        k = rep % len(args.rows)
        for name in args.rows[k:] + args.rows[:k]:
            print(f"  {name} ({rep + 1}/{args.repeats}) ...", file=sys.stderr, flush=True)
            if name == "raw-libjpeg":
                rate, cpu = run_raw(build_raw_reader(), files, args.threads, args.seconds)
                runs[name].append((rate, cpu, None))
            elif name.endswith("-planes"):
                runs[name].append(run_host_part(get_loader(name), args.seconds))
            elif name.endswith("-libjpeg"):
                # the operator makes its decoders on its first run, reading the variable
                os.environ["FREQLOAD_ENTROPY"] = "libjpeg"
                try:
                    runs[name].append(run_loader(get_loader(name), args.seconds))
                finally:
                    del os.environ["FREQLOAD_ENTROPY"]
            elif name.startswith("dct24-"):
                runs[name].append(run_loader(get_loader(name), args.seconds))
            elif name in RGB_ROWS:
                runs[name].append(run_rgb_dali(files * args.repeat, args.threads,
                                               args.batch_size, args.seconds, *RGB_ROWS[name]))
            else:
                ap.error(f"unknown row {name}")
    rows = {}
    for name, rs in runs.items():
        rs = sorted(rs, key=lambda r: r[0])
        rows[name] = rs[len(rs) // 2]  # the median run by img/s

    raw = rows.get("raw-libjpeg", (None,))[0]
    print(f"\n{'pipeline':22s} {'img/s':>8s} {'CPU-ms/img':>10s} {'img/s/core':>10s} "
          f"{'bytes/sample':>12s} {'vs raw':>7s} {'vs DALI':>7s}  baseline")
    results = []
    for name, (rate, cpu, nbytes) in rows.items():
        vs_raw = rate / raw if raw else float("nan")
        base = BASELINE.get(name, "rgb-dali-roi-u8") if name != "raw-libjpeg" else "-"
        vs_rgb = rate / rows[base][0] if base in rows else float("nan")
        b = f"{nbytes:,}" if nbytes else "-"
        print(f"{name:22s} {rate:8.1f} {cpu:10.2f} {per_core(cpu):10.1f} {b:>12s} "
              f"{vs_raw:7.3f} {vs_rgb:7.2f}  {base}")
        results.append({"pipeline": name, "img_per_s": rate, "cpu_ms_per_img": cpu,
                        "img_per_s_per_core": per_core(cpu),
                        "bytes_per_sample": nbytes, "vs_raw": vs_raw, "baseline": base,
                        "vs_baseline": vs_rgb})
    stack.close()
    def ratios(label, pairs, note=""):  # "label: a N img/s vs b M (note): a/b"
        for a, b in pairs:
            if a in rows and b in rows:
                print(f"{label}: {a} {rows[a][0]:.1f} img/s vs {b} {rows[b][0]:.1f}{note}: "
                      f"{rows[a][0] / rows[b][0]:.3f}x")

    ratios("source", (("dct24-dali-train-shards", "dct24-dali-train"),
                      ("dct24-native-train-shards", "dct24-native-train"),
                      ("dct24-dali-train-s3", "dct24-dali-train")), " (the files)")
    ratios("packed", (("dct24-native-train-packed", "dct24-native-train"),
                      ("dct24-dali-train-packed", "dct24-dali-train")),
           " (the originals)")
    ratios("engines", ENGINE_PAIRS)
    ratios("fast entropy path", (("dct24-dali", "dct24-dali-libjpeg"),
                                 ("dct24-dali-train", "dct24-dali-train-libjpeg")))
    ratios("policy cost", (("dct24-native-train-ta", "dct24-native-train"),
                           ("dct24-dali-train-ta", "dct24-dali-train"),
                           ("rgb-dali-roi-ta-u8", "rgb-dali-roi-u8")),
           " (the same without TrivialAugmentWide)")
    for aug, base in (("dct24-dali-train", "dct24-dali"), ("dct24-dali-eval", "dct24-dali"),
                      ("dct24-dali-train-whole", "dct24-dali-whole")):
        if aug in rows and base in rows:
            print(f"augmentation cost: {aug} {rows[aug][1]:.2f} CPU-ms/img vs {base} "
                  f"{rows[base][1]:.2f} (decode alone): "
                  f"{100 * (rows[aug][1] / rows[base][1] - 1):+.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dir": os.path.abspath(root), "files": len(files), "threads": args.threads,
                       "mean_pixels": mean_pixels, "mean_bytes": mean_bytes,
                       "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
