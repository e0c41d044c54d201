"""``freqload inspect``: what a JPEG is, and what the loader will do with it.

:func:`inspect_file` gives the header facts (size, sampling, colour space, progressive,
restart interval, EXIF orientation), each quant table with the libjpeg quality that would
make it (:func:`estimate_quality`), and the loader's verdict: decode (by the fast path or
libjpeg), the pixel fallback, or skip / raise with the decoder's message.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..codec.read import read_coefficients, read_header, thread_decoder
from ..errors import DecodeError, FreqloadError, UnsupportedImageError

# ITU-T T.81 Annex K tables (raster order), the base of libjpeg's quality scaling
_STD_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
                      14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
                      18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                      49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
                     dtype=np.float64)
_STD_CHROMA = np.full(64, 99.0)
_STD_CHROMA[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = \
    [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 47, 66]


def estimate_quality(table, chroma: bool = False) -> float:
    """libjpeg (IJG) quality that would give ``table`` (uint16 [64], raster order): the
    mean ratio to the Annex K table over the entries libjpeg did not clamp to 1 or 255
    inverts its quality scaling."""
    std = _STD_CHROMA if chroma else _STD_LUMA
    t = np.asarray(table, np.float64)
    keep = (t > 1) & (t < 255)
    if not keep.any():  # all clamped: q=100 gives all ones
        return 100.0 if t.max() <= 1 else 1.0
    s = 100.0 * float(np.mean(t[keep] / std[keep]))
    q = (200.0 - s) / 2.0 if s <= 100.0 else 5000.0 / s
    return float(min(100.0, max(1.0, q)))


def inspect_file(path: str) -> dict:
    """Header facts and what DCTLoader would do with the file."""

    out: dict = {"path": path, "bytes": os.path.getsize(path)}
    try:
        info = read_header(path)
    except FreqloadError as e:
        out["loader"] = "skip or raise"
        out["error"] = f"{type(e).__name__}: {e}"
        out["fallback"] = _fallback_works(path)
        if out["fallback"]:
            out["loader"] = "fallback (pixels)"
        return out
    out.update(width=info.width, height=info.height, components=info.num_components,
               sampling=info.sampling, color_space=info.color_space,
               progressive=info.progressive, arithmetic=info.arithmetic,
               precision=info.precision, restart_interval=info.restart_interval,
               partial_decodable=info.partial_decodable,
               blocks=list(info.block_grid), orientation=info.orientation)
    if info.exif_warning:
        out["exif_warning"] = info.exif_warning
    tables = {}
    for c, (ci, q) in enumerate(zip(info.components, info.quant_tables)):
        if q is not None and f"table {ci.quant_index}" not in tables:
            tables[f"table {ci.quant_index}"] = {
                "values": np.asarray(q).reshape(8, 8).tolist(),
                "estimated_quality": round(estimate_quality(q, chroma=c > 0), 1)}
    out["quant_tables"] = tables
    try:
        coeffs = read_coefficients(path)
        out["loader"] = "decode"
        out["warnings"] = coeffs.warnings
        # which entropy decoder read it: the fast path, or libjpeg (progressive,
        # arithmetic, multi-scan, damaged, or FREQLOAD_ENTROPY=libjpeg)
        out["entropy"] = "fast path" if thread_decoder().fast_path_used else "libjpeg"
    except UnsupportedImageError as e:
        out["error"] = f"UnsupportedImageError: {e}"
        out["fallback"] = _fallback_works(path)
        out["loader"] = "fallback (pixels)" if out["fallback"] else "skip or raise"
    except FreqloadError as e:
        out["error"] = f"{type(e).__name__}: {e}"
        out["loader"] = "skip or raise"
        if isinstance(e, DecodeError) and info.partial_decodable:
            out["note"] = ("judged whole, as partial_decode=False; with the default "
                           "partial_decode=True a sample whose rows all lie above the damage "
                           "decodes")
    return out


def _fallback_works(path: str) -> bool:

    try:
        read_coefficients(path, fallback="pixels")
        return True
    except (FreqloadError, OSError, ValueError):
        return False


#: what each EXIF orientation asks of a viewer
ORIENTATION_NAMES = {1: "as stored", 2: "mirrored", 3: "rotated 180", 4: "flipped vertically",
                     5: "transposed", 6: "rotated 90 clockwise", 7: "transversed",
                     8: "rotated 270 clockwise"}


def command(args) -> int:
    """``freqload inspect IMG ...``: each file's facts, as text or ``--json``."""
    rows = [inspect_file(p) for p in args.images]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(r["path"])
        if "width" in r:
            print(f"  {r['width']}x{r['height']}, {r['components']} components "
                  f"{r['sampling']} ({r['color_space']}), {r['precision']}-bit, "
                  f"{'progressive' if r['progressive'] else 'baseline'}"
                  f"{', arithmetic' if r['arithmetic'] else ''}, restart interval "
                  f"{r['restart_interval']}, block grid {r['blocks'][0]}x{r['blocks'][1]}, "
                  f"{r['bytes']:,} bytes")
            o = r["orientation"]
            print(f"  EXIF orientation {o}: {ORIENTATION_NAMES[o]}"
                  + (" (the loader turns it upright: orientation='exif')" if o != 1 else "")
                  + (f"; {r['exif_warning']}" if r.get("exif_warning") else ""))
            for name, t in r["quant_tables"].items():
                print(f"  quant {name}: estimated quality {t['estimated_quality']}")
                for row in t["values"]:
                    print("    " + " ".join(f"{v:3d}" for v in row))
        print(f"  loader: {r['loader']}" + (f" ({r['error']})" if "error" in r else "")
              + (f", entropy decoding: {r['entropy']}" if "entropy" in r else "")
              + (f", {r['warnings']} warnings" if r.get("warnings") else ""))
        if "note" in r:
            print(f"  ({r['note']})")
    return 0


__all__ = ["inspect_file", "estimate_quality", "ORIENTATION_NAMES", "command"]
