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
