"""The ``freqload`` command line.

    freqload mask --from-gate gate_stats.json -k 24 -o mask.json [--heatmap gates.png]
    freqload mask dctnet24 -o mask.json          # a preset, written as a mask file

(More subcommands - bench, stats, show, inspect - come with the command-line issue.)
"""
from __future__ import annotations

import argparse
import sys


def _cmd_mask(args) -> int:
    from .mask import as_mask

    if args.from_gate:
        from .nn import GateStats, gate_heatmap, mask_from_gate_stats

        stats = GateStats.load(args.from_gate)
        if args.k is None:
            raise SystemExit("freqload mask --from-gate needs -k (how many channels to keep)")
        mask = mask_from_gate_stats(stats, args.k)
        if args.heatmap:
            gate_heatmap(stats, args.heatmap, mask=mask)
            print(f"wrote {args.heatmap}", file=sys.stderr)
    elif args.mask:
        mask = as_mask(args.mask)
    else:
        raise SystemExit("freqload mask: give a mask (preset, index list file) or --from-gate")
    text = mask.to_json()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"wrote {args.output}: {len(mask)} channels: {', '.join(mask.names)}",
              file=sys.stderr)
    else:
        print(text)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="freqload", description="freqload's command line")
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mask", help="write a channel mask file (from a preset or gate statistics)")
    m.add_argument("mask", nargs="?", help="a preset (dctnet24, ...) or a mask JSON file")
    m.add_argument("--from-gate", metavar="STATS", help="GateStats JSON (freqload.nn.GateStats.save)")
    m.add_argument("-k", type=int, help="with --from-gate: channels to keep (the most open)")
    m.add_argument("-o", "--output", metavar="PATH", help="mask JSON to write (default: stdout)")
    m.add_argument("--heatmap", metavar="PNG", help="with --from-gate: draw the gate frequencies")
    m.set_defaults(func=_cmd_mask)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
