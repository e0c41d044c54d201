"""Small drawing helpers the pictures share (Pillow): ``freqload show``, the gate heatmap."""
from __future__ import annotations


def colour_bar(d, x, y, w, h, low: str, high: str, colour) -> None:
    """A horizontal bar from ``colour(0.0)`` (low) to ``colour(1.0)`` (high), labelled at
    both ends."""
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
