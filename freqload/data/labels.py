"""Labels: what a sample's class index may be, checked in one place for every source.

A label is an int64 class index, 0 .. 2^63 - 1. Sources without labels (a list of paths,
a flat folder, tar shards without label members) give -1, "unlabelled"; a label a source
states must be a class index (a ``.cls`` member of "-1" is a bad sample, not unlabelled).
"""
from __future__ import annotations

import operator

import numpy as np

#: labels are int64 class indices: 0 .. MAX_LABEL; -1 marks an unlabelled sample
MAX_LABEL = (1 << 63) - 1
UNLABELLED = -1


def check_label(value, *, unlabelled_ok: bool = False) -> int:
    """``value`` as a class index (an int 0..2^63-1; -1, unlabelled, where
    ``unlabelled_ok``); ValueError saying why not. Booleans and floats are refused."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"label {value!r} is not an integer")
    try:
        value = operator.index(value)  # ints, numpy and torch integers; not 3.0 or "3"
    except TypeError:
        raise ValueError(f"label {value!r} is not an integer") from None
    if value == UNLABELLED and unlabelled_ok:
        return value
    if value < 0:
        raise ValueError(f"label {value} is negative (labels are class indices >= 0)")
    if value > MAX_LABEL:
        raise ValueError(f"label {value} is over 2^63 - 1 (labels are int64 class indices)")
    return value


__all__ = ["check_label", "MAX_LABEL", "UNLABELLED"]
