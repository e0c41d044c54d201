"""What the pictures share: the renderer choice (matplotlib when installed, the ``[plot]``
extra; Pillow otherwise), small Pillow helpers (``freqload show``, the example tours), and
the gate heatmap (``freqload mask --heatmap``, ``freqload compare --gate``).

Every picture function takes ``renderer=``: ``"auto"`` (the default; the environment
variable ``FREQLOAD_PLOT`` can set it), ``"matplotlib"`` or ``"pillow"``. Both renderers
draw the same elements and the functions return the same description of what they drew.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ..codec.mask import ChannelMask

if TYPE_CHECKING:  # the heatmap reads a GateStats; drawing needs no torch
    from ..models.gate import GateStats

RENDERERS = ("auto", "matplotlib", "pillow")


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def pick_renderer(renderer: str | None = None) -> str:
    """``"matplotlib"`` or ``"pillow"`` for a requested renderer (None: ``$FREQLOAD_PLOT``,
    else ``"auto"``: matplotlib when it imports). Asking for matplotlib without it raises
    ImportError with the install line."""
    choice = renderer or os.environ.get("FREQLOAD_PLOT") or "auto"
    if choice not in RENDERERS:
        raise ValueError(f"renderer must be one of {', '.join(RENDERERS)}, got {choice!r}")
    if choice == "pillow":
        return "pillow"
    if have_matplotlib():
        return "matplotlib"
    if choice == "matplotlib":
        raise ImportError("the matplotlib renderer needs matplotlib: pip install "
                          "'freqload[plot]' (or use renderer='pillow')")
    return "pillow"


def mpl_figure(width: float, height: float):
    """A matplotlib Figure (inches) not registered with pyplot: no global state, no
    display backend; ``fig.savefig(path)`` writes it."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def colour_bar(d, x, y, w, h, low: str, high: str, colour) -> None:
    """Pillow: a horizontal bar from ``colour(0.0)`` (low) to ``colour(1.0)`` (high),
    labelled at both ends."""
    for k in range(w):
        d.line([x + k, y, x + k, y + h], fill=colour(k / max(w - 1, 1)))
    d.rectangle([x, y, x + w, y + h], outline="black")
    d.text((x - 6 * len(low) - 4, y), low, fill="black")
    d.text((x + w + 4, y), high, fill="black")


def labelled_row(panels, gap: int = 6, caption: int = 16):
    """Pictures side by side, each with its label above it: ``panels`` = [(label, uint8
    array [h, w] or [h, w, 3]), ...] -> a PIL RGB image (the example tours use it)."""
    import numpy as np
    from PIL import Image, ImageDraw

    arrays = [np.stack([a] * 3, -1) if a.ndim == 2 else a for _, a in panels]
    h = max(a.shape[0] for a in arrays)
    w = sum(a.shape[1] for a in arrays) + gap * (len(arrays) + 1)
    img = Image.new("RGB", (w, h + caption + gap), "white")
    d = ImageDraw.Draw(img)
    x = gap
    for (label, _), a in zip(panels, arrays):
        d.text((x, 2), label, fill="black")
        img.paste(Image.fromarray(np.ascontiguousarray(a, dtype=np.uint8)), (x, caption))
        x += a.shape[1] + gap
    return img


# ---- the frequency gate's selection, as the paper draws it ----------------------------

def _gate_colour(f: float) -> tuple:
    """How often a gate was open, 0 (white) .. 1 (dark red)."""
    return (255 - int(90 * f), 255 - int(255 * f), 255 - int(255 * f))


def gate_heatmap(stats: GateStats, path, *, mask: ChannelMask | None = None,
                 cell: int = 28, renderer: str | None = None) -> dict:
    """A PNG like the paper's selection figure: per component (Y, Cb, Cr) an 8x8 grid of
    frequencies (row = vertical, column = horizontal), shade = how often the channel was
    open (white 0 -> dark red 1, the colour bar below); channels of ``mask`` are outlined
    in black and white, visible on light and dark cells alike; channels the statistics do
    not cover are grey. ``renderer``: "auto", "matplotlib" or "pillow"
    (above). Returns what it drew."""
    how = pick_renderer(renderer)
    freq = np.full(192, np.nan)
    freq[list(stats.channels)] = stats.frequency
    marked = set(mask.indices) if mask is not None else set()
    if how == "matplotlib":
        _gate_heatmap_matplotlib(freq, marked, path)
    else:
        _gate_heatmap_pillow(freq, marked, path, cell)
    return {"components": ["Y", "Cb", "Cr"], "colour_bar": (0.0, 1.0),
            "outlined": sorted(marked), "renderer": how}


def _gate_heatmap_pillow(freq, marked, path, cell) -> None:
    from PIL import Image, ImageDraw

    pad, title, foot = 12, 18, 30
    w = 3 * 8 * cell + 4 * pad
    h = 8 * cell + 2 * pad + title + foot
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    for comp, name in enumerate(("Y", "Cb", "Cr")):
        x0 = pad + comp * (8 * cell + pad)
        d.text((x0, 2), name, fill="black")
        for k in range(64):
            ch = 64 * comp + k
            r, c = divmod(k, 8)
            box = [x0 + c * cell, title + pad + r * cell, x0 + (c + 1) * cell - 1,
                   title + pad + (r + 1) * cell - 1]
            f = freq[ch]
            color = (230, 230, 230) if np.isnan(f) else _gate_colour(float(f))
            d.rectangle(box, fill=color, outline=(200, 200, 200), width=1)
            if ch in marked:  # black, then white inside: shows on any shade
                d.rectangle(box, outline="black", width=2)
                d.rectangle([box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2], outline="white",
                            width=1)
    colour_bar(d, pad + 40, h - foot + 8, 200, 10, "0", "1: always open", _gate_colour)
    img.save(path)


def _gate_heatmap_matplotlib(freq, marked, path) -> None:
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.patches import Rectangle

    cmap = LinearSegmentedColormap.from_list(
        "gate", [tuple(v / 255 for v in _gate_colour(f)) for f in (0.0, 0.5, 1.0)]
    ).with_extremes(bad=(0.9, 0.9, 0.9))
    fig = mpl_figure(10, 3.9)
    axes = fig.subplots(1, 3)
    for comp, (ax, name) in enumerate(zip(axes, ("Y", "Cb", "Cr"))):
        grid = np.ma.masked_invalid(freq[64 * comp:64 * (comp + 1)].reshape(8, 8))
        im = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0)
        ax.set_title(name)
        ax.set_xlabel("horizontal frequency")
        if comp == 0:
            ax.set_ylabel("vertical frequency")
        for ch in sorted(c for c in marked if 64 * comp <= c < 64 * (comp + 1)):
            r, c = divmod(ch - 64 * comp, 8)
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="black", lw=2.5))
            ax.add_patch(Rectangle((c - 0.42, r - 0.42), 0.84, 0.84, fill=False, ec="white",
                                   lw=1))
    fig.colorbar(im, ax=axes, orientation="horizontal", shrink=0.5,
                 label="how often the gate was open (0 .. 1: always)")
    if marked:
        fig.suptitle(f"outlined: the {len(marked)} selected channels")
    fig.savefig(path)


__all__ = ["RENDERERS", "have_matplotlib", "pick_renderer", "mpl_figure", "colour_bar",
           "labelled_row", "gate_heatmap"]
