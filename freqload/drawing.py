"""What the pictures share: the renderer choice (matplotlib when installed, the ``[plot]``
extra; Pillow otherwise) and small Pillow helpers (``freqload show``, the gate heatmap,
the example tours).

Every picture function takes ``renderer=``: ``"auto"`` (the default; the environment
variable ``FREQLOAD_PLOT`` can set it), ``"matplotlib"`` or ``"pillow"``. Both renderers
draw the same elements and the functions return the same description of what they drew.
"""
from __future__ import annotations

import os

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
