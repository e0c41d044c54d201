"""The ``freqload`` command line (also ``python -m freqload``).

    freqload bench [DIR] [--pipelines rgb-dali-roi dct-24 ...] [--seconds 10 | --iters N]
                   [--repeats 3]
                   [--batch-size 64] [--threads N] [--engine auto|native|dali] [--json out.json]
                   [--plot out.png]
    freqload stats DIR -o stats.json [--mask M] [--max-images 1000]
    freqload show IMG -o channels.png [--mask dctnet24]
    freqload inspect IMG [IMG ...] [--json]
    freqload mask --from-gate gate_stats.json -k 24 -o mask.json [--heatmap gates.png]
    freqload mask dctnet24 -o mask.json
    freqload pack SRC DST --mask dctnet24 [--residual] [--workers N]
    freqload unpack DST OUT
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .. import __version__
from ..codec.mask import PRESETS, as_mask
from ..codec.read import read_header
from ..data.packs import MANIFEST, read_manifest
from ..data.sources import list_jpegs, resolve_source
from ..errors import FreqloadError
from ..loading.device import resolve_device
from ..loading.stats import compute_channel_stats
from ..models.gate import GateStats, mask_from_gate_stats
from ..models.registry import check_arch
from . import bench, compare, inspect, show
from .bench import PIPELINES
from .jobs import PackInterrupted
from .pack import pack, pack_to_shards, unpack
from .pictures import RENDERERS, gate_heatmap, pick_renderer
from .shards import write_shards

# ---- errors: one line, an exit code, no traceback (unless --debug) --------------------

class CommandError(Exception):
    """A command failed (exit 1); the message says what and how to fix it."""
    code = 1


class UsageError(CommandError):
    """The command line asks for something that cannot be (exit 2), found before any work."""
    code = 2


def _folder_of(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def _check_output(path, option: str) -> None:
    if isinstance(path, str) and path and not os.path.isdir(_folder_of(path)):
        raise UsageError(f"{option} {path}: the folder {_folder_of(path)} does not exist")


def _check_mask(mask, option: str = "--mask") -> None:
    if mask is None:
        return
    try:
        as_mask(mask)
    except (ValueError, OSError) as e:
        raise UsageError(f"{option} {mask}: {e}") from None


def _check_at_least(args, name: str, low) -> None:
    value = getattr(args, name, None)
    if value is not None and value < low:
        raise UsageError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")


def _validate(args) -> None:
    """Every check that needs no work, before any is done."""
    cmd = args.command
    for name, low in (("batch_size", 1), ("threads", 0), ("repeats", 1), ("iters", 1),
                      ("max_images", 0), ("workers", 1), ("k", 1), ("epochs", 1),
                      ("seeds", 1), ("size", 1), ("rgb_size", 1), ("gate_k", 1),
                      ("stats_images", 1), ("loader_workers", 0)):
        _check_at_least(args, name, low)
    if getattr(args, "seconds", None) is not None and not args.seconds > 0:
        raise UsageError(f"--seconds must be > 0, got {args.seconds}")
    if cmd in ("stats", "show", "pack", "compare"):
        _check_mask(args.mask)
    if cmd == "compare":
        _compare_folders(args)
        try:
            check_arch(args.arch)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not args.lr > 0 or not args.gate_lr_scale > 0:
            raise UsageError("--lr and --gate-lr-scale must be > 0")
        if args.weight_decay < 0 or args.gate_weight < 0:
            raise UsageError("--weight-decay and --gate-weight must be >= 0")
        if args.gate_k is not None and not args.gate:
            raise UsageError("--gate-k goes with --gate")
        try:
            resolve_device(args.device)
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"--device {args.device}: {e}") from None
    if cmd == "mask":
        if args.mask is not None:
            _check_mask(args.mask, "mask")
        if args.from_gate is None and (args.heatmap or args.k is not None):
            raise UsageError("--heatmap and -k go with --from-gate (a mask alone has no gate "
                             "statistics to draw)")
        if args.from_gate is not None and args.k is None:
            raise UsageError("--from-gate needs -k: how many channels to keep")
        if args.from_gate is None and args.mask is None:
            raise UsageError("give a mask (a preset such as dctnet24, or a mask file) or "
                             "--from-gate STATS -k N")
        if args.from_gate is not None and not os.path.isfile(args.from_gate):
            raise UsageError(f"--from-gate {args.from_gate}: no such file")
    for option in ("output", "json", "plot", "heatmap"):
        _check_output(getattr(args, option, None), f"--{option}")
    if hasattr(args, "renderer"):
        try:
            pick_renderer(args.renderer)
        except (ImportError, ValueError) as e:
            raise UsageError(str(e) + ("" if args.renderer else " ($FREQLOAD_PLOT)")) from None
    if cmd == "bench":
        picked, dirs = [], []
        for p in args.pipelines:
            if p in PIPELINES:
                picked.append(p)
            elif os.path.isdir(p):
                dirs.append(p)  # "bench --pipelines rgb-pil DIR": the folder after the list
            else:
                raise UsageError(f"--pipelines: unknown pipeline {p!r}; the pipelines are "
                                 f"{', '.join(PIPELINES)}")
        if dirs and (args.dir or args.data or len(dirs) > 1):
            raise UsageError("give the data folder once (DIR or --data)")
        if args.dir and args.data:
            raise UsageError("give the data folder once (DIR or --data)")
        args.dir = args.dir or args.data or (dirs[0] if dirs else None)
        args.pipelines = picked or list(PIPELINES)
        if args.dir and not os.path.isdir(args.dir):
            raise UsageError(f"{args.dir} is not a folder (give a folder of JPEGs)")
    if cmd == "stats" and not os.path.isdir(args.dir):
        raise UsageError(f"{args.dir} is not a folder (give a folder of JPEGs, ImageFolder "
                         "or flat)")
    if cmd == "show" and not os.path.isfile(args.image):
        raise UsageError(f"{args.image}: no such file")
    if cmd == "inspect":
        for p in args.images:
            if os.path.isdir(p):
                raise UsageError(f"{p} is a folder: give image files (e.g. {p}/*.jpg)")
            if not os.path.isfile(p):
                raise UsageError(f"{p}: no such file")
    if cmd in ("pack", "shards") and not os.path.exists(args.src):
        raise UsageError(f"{args.src}: no such folder or file list")
    if cmd == "unpack":
        if not os.path.isdir(args.packed) or read_manifest(args.packed) is None:
            raise UsageError(f"{args.packed} is not a freqload pack (no {MANIFEST}; make one "
                             "with freqload pack --residual)")


# ---- bench --------------------------------------------------------------------------

def _cmd_bench(args) -> int:

    if args.dir:
        root = args.dir
    else:
        print("freqload bench: no folder given; using the embedded default data set "
              "(synthetic ImageNet-sized JPEGs, made once and cached)", file=sys.stderr)
        root = bench.default_dataset(progress="always")
    files = list_jpegs(root) if os.path.isdir(root) else []
    if not files:
        raise CommandError(f"no JPEG files under {root}")

    good = []
    for f in files:  # a file whose header does not read would stop every pipeline
        try:
            read_header(f)
            good.append(f)
        except (FreqloadError, OSError) as e:
            if args.on_error == "raise":
                raise CommandError(f"{f}: {e} (--on-error skip leaves such files out)") from None
    if len(good) < len(files):
        print(f"freqload bench: skipped {len(files) - len(good)} of {len(files)} files whose "
              "JPEG header does not read (--on-error skip)", file=sys.stderr)
    files = good
    if not files:
        raise CommandError(f"no readable JPEG files under {root}")
    threads = args.threads or len(os.sched_getaffinity(0))
    print(f"freqload bench: {len(files)} JPEGs from {root}, batch {args.batch_size}, "
          f"{threads} threads, " + (f"{args.iters} batches" if args.iters else
                                    f"{args.seconds:g} s") + " per pipeline", file=sys.stderr)
    results = bench.run_bench(files, args.pipelines, batch_size=args.batch_size,
                              threads=threads, seconds=args.seconds, iters=args.iters,
                              repeats=args.repeats,
                              engine=args.engine, device=args.device, progress=None,
                              on_result=lambda r, run: print(
                                  f"  {r.pipeline}: " + (f"skipped ({r.skipped})" if r.skipped
                                                         else f"{r.img_per_s:.1f} img/s")
                                  + (f" (run {run + 1} of {args.repeats})"
                                     if args.repeats > 1 else ""), file=sys.stderr, flush=True))
    print(bench.summary_table(results))
    if args.json:
        out = []
        vs = bench.speedups(results)
        for r in results:
            d = {"pipeline": r.pipeline, "img_per_s": r.img_per_s,
                 "cpu_ms_per_img": r.cpu_ms_per_img, "bytes_per_sample": r.bytes_per_sample,
                 "resolution": r.resolution, "bytes_vs_uint8_rgb": r.bytes_vs_uint8_rgb,
                 "images": r.images, "seconds": r.seconds, "engine": r.engine,
                 "copy_ms_per_batch": r.copy_ms_per_batch,
                 "ready_ms_per_batch": r.ready_ms_per_batch, "skipped": r.skipped,
                 "bytes_source": r.bytes_source, "baseline": bench.baseline_of(r.pipeline),
                 "vs_baseline": vs.get(r.pipeline, math.nan), "batch_size": args.batch_size,
                 "threads": threads, "files": len(files)}
            out.append({k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in d.items()})
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(out, stream, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        device = resolve_device(args.device).type
        bench.plot(results, args.plot, title=f"freqload bench: {len(files)} JPEGs from "
                   f"{os.path.basename(os.path.abspath(root))}, batch {args.batch_size}, "
                   f"{threads} threads, device {device}", renderer=args.renderer)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


# ---- stats ----------------------------------------------------------------------------

def _cmd_stats(args) -> int:

    paths = list(resolve_source(args.dir).paths) if os.path.isdir(args.dir) else []
    paths = [p for p in paths if p.lower().endswith((".jpg", ".jpeg"))] or list_jpegs(args.dir)
    if not paths:
        raise CommandError(f"no JPEG files under {args.dir} (.jpg or .jpeg, in the folder or "
                           "its class folders)")
    stats = compute_channel_stats(paths, max_images=args.max_images or None, seed=args.seed,
                                  chroma=args.chroma, progress=None, mask=args.mask)
    stats.save(args.output)
    print(f"wrote {args.output}: {stats.images} images, "
          f"{len(stats.computed) if stats.computed else 192} channels", file=sys.stderr)
    return 0


# ---- pack / unpack ---------------------------------------------------------------------

def _long_job(command: str, job):
    """Run pack / shards work: (its manifest, 0); an interruption is one line (the partial
    manifest is saved: run it again to resume) and exit 128 + the signal; a request that
    cannot be (the destination inside the source, another pack's settings) one line and
    exit 2; files in the way and damaged manifests one line and exit 1. No traceback."""

    try:
        return job(), 0
    except PackInterrupted as e:
        print(f"freqload {command}: {e}", file=sys.stderr)
        return None, 128 + int(e.signum)
    except (FreqloadError, FileExistsError) as e:
        print(f"freqload {command}: error: {_unprefixed(e, command)}", file=sys.stderr)
        return None, 1
    except (FileNotFoundError, ValueError) as e:
        print(f"freqload {command}: error: {_unprefixed(e, command)}", file=sys.stderr)
        return None, 2


def _unprefixed(e: Exception, command: str) -> str:
    return str(e).removeprefix(f"{command}: ").removeprefix("pack: ")


def _report_unreadable(command: str, unreadable: dict) -> int:
    """Source files that could not be read: named on stderr (the manifest lists them
    all); exit 1, since the output lacks them."""
    if not unreadable:
        return 0
    shown = "; ".join(f"{p} ({why})" for p, why in list(unreadable.items())[:3])
    more = f" ... ({len(unreadable) - 3} more)" if len(unreadable) > 3 else ""
    print(f"freqload {command}: error: {len(unreadable)} source file(s) could not be read and "
          f"are not in the output (the manifest lists them): {shown}{more}", file=sys.stderr)
    return 1


def _cmd_shards(args) -> int:
    man, rc = _long_job("shards", lambda: write_shards(
        args.src, args.dst, shard_size=args.shard_size, shuffle=not args.no_shuffle,
        seed=args.seed, prefix=args.prefix, progress=None))
    if man is None:
        return rc
    t = man["totals"]
    order = f"shuffled, seed {args.seed}" if man["shuffle"] else "in source order"
    last = t["shards"] - 1
    print(f"wrote {t['samples']} samples into {t['shards']} shards in {args.dst}: "
          f"{t['bytes']:,} bytes ({order}); read them with "
          f"DCTLoader(\"{args.dst}/{args.prefix}-{{000000..{last:06d}}}.tar\")")
    return _report_unreadable("shards", man.get("unreadable", {}))


def _cmd_pack(args) -> int:
    def job():
        if args.format == "folder":
            return pack(args.src, args.dst, args.mask, residual=args.residual,
                        workers=args.workers, progress=None)
        if args.residual:
            raise ValueError("--residual needs --format folder (unpack reads folders)")
        return pack_to_shards(args.src, args.dst, args.mask, shard_size=args.shard_size,
                              workers=args.workers, progress=None)

    man, rc = _long_job("pack", job)
    if man is None:
        return rc
    if args.format == "tar":
        t = man["totals"]
        print(f"packed {t['samples']} files into {t['shards']} shards in {args.dst}: "
              f"{t['bytes']:,} bytes")
        return _report_unreadable("pack", man.get("unreadable", {}))
    t = man["totals"]
    print(f"packed {t['packed']} files ({t['copied']} copied as they were) into {args.dst}: "
          f"{t['packed_bytes']:,} bytes, {t['packed_bytes'] / max(t['source_bytes'], 1):.1%} "
          f"of {t['source_bytes']:,}" + (f"; residual {t['residual_bytes']:,} bytes"
                                         if args.residual else ""))
    return _report_unreadable("pack", {os.path.join(args.src, r): e["reason"]
                                       for r, e in man["files"].items()
                                       if e["kind"] == "unreadable"})


def _cmd_unpack(args) -> int:
    n, rc = _long_job("unpack", lambda: unpack(args.packed, args.out, progress=None))
    if n is None:
        return rc
    print(f"unpacked {n} files into {args.out}")
    return 0


# ---- compare --------------------------------------------------------------------------

def _compare_folders(args) -> tuple[str, str]:
    """(train, val) from DIR (DIR/train, DIR/val) or --train/--val, checked."""
    if args.dir and (args.train or args.val):
        raise UsageError("give DIR (with train/ and val/ inside) or --train and --val, not both")
    if args.dir:
        train, val = os.path.join(args.dir, "train"), os.path.join(args.dir, "val")
    elif args.train and args.val:
        train, val = args.train, args.val
    else:
        raise UsageError("give DIR (an ImageFolder root with train/ and val/) or both "
                         "--train and --val")
    for what, path in (("train", train), ("val", val)):
        if not os.path.isdir(path):
            raise UsageError(f"{path}: no such folder (the {what} ImageFolder: one "
                             "sub-folder of JPEGs per class)")
    return train, val


def _cmd_compare(args) -> int:

    train, val = _compare_folders(args)

    def finished(entry, report) -> None:
        print(f"finished {entry['name']}: final top-1 {entry['final_top1_mean']:.1f}%",
              file=sys.stderr)
        if args.json:  # nothing lost: the variants done so far, "complete": false
            compare.save_json({**report, "complete": False}, args.json)

    try:
        report = compare.compare(
            train, val, arch=args.arch, epochs=args.epochs, seeds=range(args.seeds),
            size=args.size, mask=args.mask, rgb_size=args.rgb_size,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
            device=args.device, engine=args.engine, rgb_engine=args.rgb_engine,
            augment=args.augment,
            num_workers=args.loader_workers,
            gate=args.gate, gate_k=args.gate_k, gate_weight=args.gate_weight,
            gate_lr_scale=args.gate_lr_scale, out_dir=args.out,
            stats_images=args.stats_images, renderer=args.renderer, on_error=args.on_error,
            on_variant=finished)
    except KeyboardInterrupt:
        kept = f"; the finished variants are in {args.json}" if args.json else ""
        print(f"freqload compare: interrupted{kept}", file=sys.stderr)
        return 130
    print(compare.table(report))
    if args.json:
        compare.save_json({**report, "complete": True}, args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        compare.plot(report, args.plot, renderer=args.renderer)
        print(f"wrote {args.plot}", file=sys.stderr)
    if "gate" in report:
        for path in report["gate"]["files"].values():
            print(f"wrote {path}", file=sys.stderr)
    return 0


# ---- mask -----------------------------------------------------------------------------

def _cmd_mask(args) -> int:
    if args.from_gate:

        stats = GateStats.load(args.from_gate)
        mask = mask_from_gate_stats(stats, args.k)
        if args.heatmap:
            gate_heatmap(stats, args.heatmap, mask=mask, renderer=args.renderer)
            print(f"wrote {args.heatmap}", file=sys.stderr)
    else:
        mask = as_mask(args.mask)
    text = mask.to_json()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"wrote {args.output}: {len(mask)} channels: {', '.join(mask.names)}",
              file=sys.stderr)
    else:
        print(text)
    return 0


#: one line per bench pipeline, for --help
PIPELINE_HELP = {
    "rgb-pil": "Pillow decode, RandomResizedCrop 224, flip, normalise (torchvision's recipe)",
    "rgb-dali-roi": "DALI's training recipe: ROI decode of the crop, resize 224, flip, float",
    "rgb-dali-roi-u8": "the same recipe to uint8 (normalised later on the device)",
    "rgb-dali-full": "DALI full decode, then random_resized_crop 224 (not a baseline)",
    "rgb-dali-gpu": "the ROI recipe with nvJPEG (needs a CUDA GPU)",
    "rgb-dali-eval-u8": "DALI's validation recipe: resize 256, centre crop 224, uint8",
    "dct-192": "DCTLoader(train=True), all 192 channels, 56x56 blocks, float32",
    "dct-64": "the same with the dctnet64 mask",
    "dct-48": "the same with the dctnet48 mask",
    "dct-24": "the same with the dctnet24 mask",
    "dct-24-i16": "dct-24 as int16, before normalisation",
    "dct-24-eval-i16": "DCTLoader(train=False), dctnet24, int16",
}


def _presets_help() -> str:
    return ("mask presets: " + ", ".join(sorted(PRESETS)) + ", all (192); or a mask JSON "
            "file (freqload mask ... -o FILE)")


def _renderer_option(parser) -> None:
    parser.add_argument("--renderer", choices=RENDERERS, default=None,
                        help="who draws the pictures: matplotlib (pip install 'freqload[plot]'),"
                             " pillow, or auto: matplotlib when installed (default auto, or "
                             "$FREQLOAD_PLOT)")


def build_parser() -> argparse.ArgumentParser:
    """The freqload command's parser (every option with its help)."""
    ap = argparse.ArgumentParser(prog="freqload", description="freqload's command line: "
                                 "benchmarks, channel statistics, pictures, inspection, packs "
                                 "and shards")
    ap.add_argument("--version", action="version", version=f"freqload {__version__}")
    ap.add_argument("--debug", action="store_true",
                    help="show the Python traceback of an error (default: one line)")
    sub = ap.add_subparsers(dest="command", required=True)

    b = sub.add_parser(
        "bench", help="throughput and bytes: DCT loading against RGB pipelines",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="pipelines:\n" + "\n".join(f"  {k:17s}{PIPELINE_HELP[k]}" for k in PIPELINES))
    b.add_argument("dir", nargs="?", help="folder of JPEGs (default: an embedded synthetic set)")
    b.add_argument("--data", metavar="DIR", help="the folder of JPEGs, as an option")
    b.add_argument("--pipelines", nargs="+", default=list(PIPELINES), metavar="P",
                   help=f"any of {', '.join(PIPELINES)} (default: all)")
    b.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    b.add_argument("--threads", type=int, default=0,
                   help="decode threads or workers per pipeline (default 0: all CPUs)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=float, default=10.0, help="per pipeline (default 10)")
    g.add_argument("--iters", type=int, help="batches per pipeline instead of --seconds")
    b.add_argument("--repeats", type=int, default=1,
                   help="run all pipelines this many times, interleaved, and report each "
                        "one's median run (default 1)")
    b.add_argument("--engine", choices=("auto", "native", "dali", "torch"), default="auto",
                   help="DCTLoader engine for the dct-* rows (default auto: native; torch is "
                        "a deprecated name of native)")
    b.add_argument("--device", help="where batches go: cuda or cpu (default: cuda when "
                                    "available, else cpu)")
    b.add_argument("--on-error", choices=("skip", "raise"), default="skip",
                   help="files whose JPEG header does not read: left out and counted "
                        "(default), or stop")
    b.add_argument("--json", metavar="PATH", help="write the results as a JSON list")
    b.add_argument("--plot", metavar="PNG", help="bar charts of img/s and bytes/sample")
    _renderer_option(b)
    b.set_defaults(func=_cmd_bench)

    s = sub.add_parser("stats", help="per-channel mean/std (the loader's normalize= file)",
                       epilog=_presets_help())
    s.add_argument("dir", help="folder of JPEGs (ImageFolder or flat)")
    s.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="the statistics file to write (JSON)")
    s.add_argument("--mask", help="compute only these channels (default: all 192)")
    s.add_argument("--max-images", type=int, default=1000,
                   help="a seeded random sample of this many (0: all; default 1000)")
    s.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    s.add_argument("--chroma", choices=("dct", "nearest"), default="dct",
                   help="chroma alignment, as the loader's chroma= (default dct)")
    s.set_defaults(func=_cmd_stats)

    w = sub.add_parser("show", help="a picture of an image's frequency channels",
                       epilog=_presets_help())
    w.add_argument("image", help="a JPEG (other formats: decoded from pixels)")
    w.add_argument("-o", "--output", required=True, metavar="PNG", help="the picture to write")
    w.add_argument("--mask", default="dctnet24", help="channels to frame (default dctnet24)")
    w.add_argument("--shared-scale", action="store_true",
                   help="one colour scale for all channels (default: each its own), so "
                        "relative magnitudes show")
    w.add_argument("--augment", action="store_true",
                   help="instead: the photo under each DCT-domain augmentation, decoded, "
                        "beside torchvision's pixel operation, with the PSNR between them")
    _renderer_option(w)
    w.set_defaults(func=show.command)

    i = sub.add_parser("inspect", help="header facts and what the loader would do")
    i.add_argument("images", nargs="+", help="image files")
    i.add_argument("--json", action="store_true", help="print JSON instead of text")
    i.set_defaults(func=inspect.command)

    p = sub.add_parser("pack", help="copy a data set keeping only a mask's frequency bands",
                       epilog=_presets_help())
    p.add_argument("src", help="the folder to pack")
    p.add_argument("dst", help="where the pack goes (a new or an interrupted pack's folder)")
    p.add_argument("--mask", default="dctnet24", help="the bands to keep (default dctnet24)")
    p.add_argument("--residual", action="store_true",
                   help="also write the dropped bands (DST/.residual) so unpack can rebuild")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")
    p.add_argument("--format", choices=("folder", "tar"), default="folder",
                   help="folder: the source's layout mirrored (default); tar: shards as "
                        "'freqload shards' writes them")
    p.add_argument("--shard-size", default="1GB", help="with --format tar (default 1GB)")
    p.set_defaults(func=_cmd_pack)

    t = sub.add_parser("shards", help="write a folder or file list as tar shards "
                                      "(WebDataset layout, index files, manifest)")
    t.add_argument("src", help="ImageFolder root, or a .txt file list")
    t.add_argument("dst", help="folder for the shards")
    t.add_argument("--shard-size", default="1GB",
                   help="at most this many bytes per shard: 1GB, 500MB, 256MiB ... "
                        "(default 1GB)")
    t.add_argument("--no-shuffle", action="store_true",
                   help="keep the source's order (default: a seeded random order, so that "
                        "shuffling shards mixes classes)")
    t.add_argument("--seed", type=int, default=0, help="the order's seed (default 0)")
    t.add_argument("--prefix", default="shard", help="file names: PREFIX-000000.tar ...")
    t.set_defaults(func=_cmd_shards)

    u = sub.add_parser("unpack", help="rebuild the original coefficients of a --residual pack")
    u.add_argument("packed", help="a pack made with --residual")
    u.add_argument("out", help="where the rebuilt JPEGs go")
    u.set_defaults(func=_cmd_unpack)

    m = sub.add_parser("mask", help="write a channel mask file (from a preset or gate statistics)",
                       epilog=_presets_help())
    m.add_argument("mask", nargs="?", help="a preset (dctnet24, ...) or a mask JSON file")
    m.add_argument("--from-gate", metavar="STATS",
                   help="GateStats JSON (freqload.models.GateStats.save)")
    m.add_argument("-k", type=int, help="with --from-gate: channels to keep (the most open)")
    m.add_argument("-o", "--output", metavar="PATH", help="mask JSON to write (default: stdout)")
    m.add_argument("--heatmap", metavar="PNG", help="with --from-gate: draw the gate frequencies")
    _renderer_option(m)
    m.set_defaults(func=_cmd_mask)

    c = sub.add_parser(
        "compare", help="train DCT and RGB input models on your data: accuracy and cost",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The DCT and the RGB variant of one model family train with the same "
               "optimiser,\nschedule, epochs, seeds and augmentation draws, at equal input "
               "bytes per sample:\nDCT int16 2*C*s^2 = RGB uint8 3*r^2, so r = "
               "round(s*sqrt(2C/3)) (28 blocks x 24 channels\n-> 112 pixels; --rgb-size "
               "overrides). " + _presets_help())
    c.add_argument("dir", nargs="?", help="an ImageFolder root holding train/ and val/")
    c.add_argument("--train", metavar="DIR", help="the training ImageFolder (with --val)")
    c.add_argument("--val", metavar="DIR", help="the validation ImageFolder (with --train)")
    c.add_argument("--arch", default="resnet_mini",
                   help="model family from freqload.models, trained as ARCH (RGB) and ARCH_dct"
                        " (default resnet_mini: small, minutes on a CPU; also resnet18, "
                        "resnet34, resnet50, mobilenet_v2)")
    c.add_argument("--epochs", type=int, default=10, help="epochs per run (default 10)")
    c.add_argument("--seeds", type=int, default=3,
                   help="runs per variant, seeds 0..N-1 (weights, order, augmentation; "
                        "default 3)")
    c.add_argument("--size", type=int, default=28,
                   help="DCT grid side in 8x8 blocks (default 28 = 224 pixels' worth)")
    c.add_argument("--mask", default="dctnet24", help="the DCT variant's channels (default "
                                                      "dctnet24)")
    c.add_argument("--rgb-size", type=int, default=None,
                   help="RGB side in pixels (default: the pairing rule)")
    c.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    c.add_argument("--lr", type=float, default=0.05,
                   help="SGD learning rate, cosine-decayed per step (default 0.05)")
    c.add_argument("--weight-decay", type=float, default=5e-4, help="(default 5e-4)")
    c.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    c.add_argument("--engine", choices=("auto", "native", "dali", "torch"), default="auto",
                   help="DCTLoader engine (default auto: native; torch is a deprecated name "
                        "of native)")
    c.add_argument("--rgb-engine", choices=("dali", "torch", "auto"), default="auto",
                   help="RGBLoader engine: dali (DALI's decoder and resize on the same "
                        "boxes, uint8 crossing), torch (Pillow in workers), auto: dali where "
                        "installed (default)")
    c.add_argument("--workers", type=int, default=None, dest="loader_workers",
                   help="loader threads / workers (default: all CPUs; 0: in this process)")
    c.add_argument("--augment", choices=("trivialaugment", "randaugment"), default=None,
                   metavar="POLICY",
                   help="an automatic augmentation policy on the training samples of both "
                        "variants, the same ops per sample: trivialaugment "
                        "(TrivialAugmentWide) or randaugment (RandAugment(2, 9)); the DCT "
                        "side in the core, the RGB side torchvision's ops on PIL images "
                        "(the RGB loader then runs on Pillow)")
    c.add_argument("--on-error", choices=("fallback", "skip", "raise"), default="fallback",
                   help="files the DCT loader cannot decode as JPEG (a GIF named .jpg): "
                        "decoded from pixels as the RGB loader reads them (default), "
                        "skipped, or stop")
    c.add_argument("--gate", action="store_true",
                   help="also learn a mask: a FrequencyGate on all 192 channels with the gate"
                        " loss (first seed), its K most open channels retrained on every seed")
    c.add_argument("--gate-k", type=int, default=None,
                   help="with --gate: channels in the learned mask (default: as many as "
                        "--mask)")
    c.add_argument("--gate-weight", type=float, default=0.003,
                   help="with --gate: the gate loss per open channel (x the mean number of "
                        "open channels per sample; default 0.003)")
    c.add_argument("--gate-lr-scale", type=float, default=20.0,
                   help="with --gate: the gate's learning rate as a multiple of --lr "
                        "(default 20)")
    c.add_argument("--out", default="freqload-compare", metavar="DIR",
                   help="with --gate: where gate_stats.json, learned_mask.json and "
                        "gate_heatmap.png go (default ./freqload-compare)")
    c.add_argument("--stats-images", type=int, default=500,
                   help="training pictures sampled for the DCT channels' mean/std "
                        "(default 500)")
    c.add_argument("--json", metavar="PATH", help="write the whole report as JSON")
    c.add_argument("--plot", metavar="PNG",
                   help="validation accuracy per epoch, each variant, seeds as bands")
    _renderer_option(c)
    c.set_defaults(func=_cmd_compare)

    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        _validate(args)
        return args.func(args)
    except Exception as e:  # one line, an exit code; --debug for the traceback
        if args.debug:
            raise
        if not isinstance(e, (CommandError, FreqloadError, OSError, ValueError, ImportError)):
            raise  # a bug: keep its traceback
        code = e.code if isinstance(e, CommandError) else 1
        print(f"freqload {args.command}: error: {e}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
