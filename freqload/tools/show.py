"""``freqload show``: all 192 frequency channels of one picture, drawn.

:func:`channel_grid` lays out, per component (Y, Cb, Cr), an 8x8 grid of its 64
frequency channels on the luma block grid, log(1 + |x|) scaled; :func:`show_channels`
writes it with matplotlib or Pillow (:mod:`freqload.tools.pictures`).
"""
from __future__ import annotations

import sys

import numpy as np

from ..codec.channels import to_channels
from ..codec.lossless import orient
from ..codec.mask import ChannelMask, as_mask
from ..codec.read import read_coefficients
from . import pictures
from .pictures import colour_bar, pick_renderer


def _channel_facts(coeffs, mask, shared_scale: bool):
    """What both renderers of ``freqload show`` draw: levels float64 [192, H8, W8] in
    [0, 1] (log(1 + |x|) over each channel's maximum, or over one maximum for all with
    ``shared_scale``), the framed channels, and the description of the picture
    (components, shared_scale, scale_max, legend, note)."""

    x = to_channels(coeffs, ChannelMask.all())  # int16 [192, H8, W8], dequantised
    ncomp = len(coeffs.components)
    logs = np.log1p(np.abs(x.astype(np.float64)))
    top = float(logs[:64 * ncomp].max()) if shared_scale else None
    vmax = np.full(192, top) if shared_scale else logs.reshape(192, -1).max(1)
    levels = logs / np.where(vmax > 0, vmax, 1.0)[:, None, None]
    marked = set(as_mask(mask).indices) if mask is not None else set()
    info = {"components": ("Y", "Cb", "Cr")[:ncomp], "shared_scale": bool(shared_scale),
            "scale_max": top,
            "legend": f"red frame: in the mask ({len(marked)} channels)" if marked else "",
            "note": "greyscale: no chroma channels (Cb, Cr)" if ncomp == 1 else ""}
    return levels, marked, info


def channel_grid(coeffs, mask=None, *, tile: int | None = None, shared_scale: bool = False,
                 info: dict | None = None):
    """PIL image: per component (Y, Cb, Cr) an 8x8 grid of its 64 frequency channels on
    the luma block grid, log(1 + |x|) scaled per channel (``shared_scale``: one scale for
    all, so relative magnitudes show), the mask's channels framed red; a colour bar and a
    legend below; greyscale pictures say they have no chroma. ``info``, when given, is
    filled with what was drawn (components, scale, legend, note)."""
    from PIL import Image, ImageDraw

    levels, marked, facts = _channel_facts(coeffs, mask, shared_scale)
    h8, w8 = levels.shape[1:]
    scale = tile or max(1, min(6, 96 // max(h8, w8, 1)))
    th, tw = h8 * scale, w8 * scale
    pad, gap, title, foot = 3, 12, 16, 44
    ncomp = len(facts["components"])
    W = max(ncomp * (8 * (tw + pad) + gap) + gap, 460)
    H = 8 * (th + pad) + title + gap + foot
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    for comp, name in enumerate(facts["components"]):
        x0 = gap + comp * (8 * (tw + pad) + gap)
        d.text((x0, 2), f"{name} (row = vertical, column = horizontal frequency)"
               if comp == 0 else name, fill="black")
        for k in range(64):
            ch = 64 * comp + k
            t = Image.fromarray((255 * levels[ch]).astype(np.uint8), "L").resize(
                (tw, th), Image.Resampling.NEAREST)
            r, c = divmod(k, 8)
            px, py = x0 + c * (tw + pad), title + r * (th + pad)
            img.paste(t.convert("RGB"), (px, py))
            if ch in marked:
                d.rectangle([px - 1, py - 1, px + tw, py + th], outline=(220, 30, 30), width=2)
    y = H - foot + 6
    high = f"{facts['scale_max']:.1f}" if shared_scale else "max of each channel"
    colour_bar(d, gap + 70, y, 150, 10, "0", f"log(1+|x|) {high}",
                lambda f: (int(255 * f),) * 3)
    legend, note = facts["legend"], facts["note"]
    d.rectangle([gap, y + 18, gap + 12, y + 28], outline=(220, 30, 30), width=2)
    d.text((gap + 18, y + 18), legend or "no mask framed", fill="black")
    if note:
        d.text((gap + 18 + 7 * len(legend or "no mask framed") + 12, y + 18), note,
               fill=(120, 120, 120))
    if info is not None:
        info.update(facts)
    return img


def show_channels(coeffs, path, mask=None, *, shared_scale: bool = False,
                  renderer: str | None = None) -> dict:
    """Write ``freqload show``'s picture of ``coeffs`` to ``path``: channel_grid's elements
    (per component an 8x8 grid of frequency channels, log(1 + |x|), the mask framed red, a
    colour bar, a legend, the greyscale note) drawn by matplotlib or Pillow (``renderer``,
    freqload.tools.pictures). Returns what was drawn, with "renderer"."""
    how = pick_renderer(renderer)
    info = {"renderer": how}
    if how == "pillow":
        channel_grid(coeffs, mask, shared_scale=shared_scale, info=info).save(path)
        return info
    from matplotlib.patches import Patch, Rectangle

    levels, marked, facts = _channel_facts(coeffs, mask, shared_scale)
    h8, w8 = levels.shape[1:]
    ncomp = len(facts["components"])
    top = facts["scale_max"] if shared_scale else 1.0  # the colour bar's units
    fig = pictures.mpl_figure(3.6 * ncomp + 1, 5.4)
    axes = np.atleast_1d(fig.subplots(1, ncomp))
    for comp, (ax, name) in enumerate(zip(axes, facts["components"])):
        mosaic = np.full((8 * (h8 + 1) - 1, 8 * (w8 + 1) - 1), np.nan)
        for k in range(64):
            r, c = divmod(k, 8)
            mosaic[r * (h8 + 1):r * (h8 + 1) + h8, c * (w8 + 1):c * (w8 + 1) + w8] = \
                levels[64 * comp + k] * top
            if 64 * comp + k in marked:
                ax.add_patch(Rectangle((c * (w8 + 1) - 1, r * (h8 + 1) - 1), w8 + 1, h8 + 1,
                                       fill=False, ec=(0.86, 0.12, 0.12), lw=1.5))
        im = ax.imshow(np.ma.masked_invalid(mosaic), cmap="gray", vmin=0, vmax=top,
                       interpolation="nearest")
        ax.set_title(name)
        ax.set_xticks([(w8 + 1) * c + w8 / 2 for c in range(8)], range(8))
        ax.set_yticks([(h8 + 1) * r + h8 / 2 for r in range(8)], range(8))
        ax.set_xlabel("horizontal frequency")
        if comp == 0:
            ax.set_ylabel("vertical frequency")
    fig.colorbar(im, ax=list(axes), orientation="horizontal", shrink=0.6,
                 label="log(1+|x|)" if shared_scale else
                 "log(1+|x|) / the channel's own maximum")
    if facts["legend"]:
        fig.legend(handles=[Patch(fill=False, ec=(0.86, 0.12, 0.12), label=facts["legend"])],
                   loc="outside lower left")
    if facts["note"]:
        fig.suptitle(facts["note"], color="grey", fontsize=9)
    fig.savefig(path)
    info.update(facts)
    return info


def command(args) -> int:
    """``freqload show IMG -o PNG``: draw the picture's channels; one line on stderr.
    With ``--augment``, the augmentation picture instead (:mod:`.augment_show`)."""
    if getattr(args, "augment", False):
        from . import augment_show

        return augment_show.command(args)
    stored = read_coefficients(args.image, fallback="pixels")
    c = orient(stored)  # the upright picture, as the loader sees it by default
    show_channels(c, args.output, args.mask, shared_scale=args.shared_scale,
                  renderer=args.renderer)
    turned = (f", turned upright (EXIF orientation {stored.info.orientation})"
              if stored.info.orientation != 1 else "")
    print(f"wrote {args.output}: {c.info.width}x{c.info.height} {c.info.sampling}, "
          f"{c.components[0].shape[0]}x{c.components[0].shape[1]} blocks per channel"
          + turned + (" (decoded from pixels)" if c.from_pixels else ""), file=sys.stderr)
    return 0


__all__ = ["channel_grid", "show_channels", "command"]
