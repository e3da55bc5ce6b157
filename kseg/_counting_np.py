"""The numpy twin of :mod:`kseg._counting`, used while numba compiles (``kseg._jit``).

Same function, same effect on the count table; the new colours come out sorted (the
compiled pass lists them as it meets them, and its caller sorts them anyway).
"""

from __future__ import annotations

import cv2
import numpy as np

from kseg._memory import small_pages

__all__ = ["count_colors", "warm"]

_N_KEYS = 1 << 24


def warm() -> None:
    """Nothing to compile."""


def count_colors(flat, opaque, table, found):
    """Count each pixel's colour in ``table``; list each new colour in ``found``."""
    with small_pages():
        return _count(flat, opaque, table, found)


def _count(flat, opaque, table, found):
    # R << 16 | G << 8 | B in one OpenCV pass: BGRA bytes read as little-endian uint32.
    bgra = cv2.cvtColor(np.ascontiguousarray(flat).reshape(-1, 1, 3), cv2.COLOR_RGB2BGRA)
    keys = bgra.view(np.uint32).reshape(-1) & np.uint32(0xFFFFFF)
    if opaque.shape[0] > 0:
        keys = keys[opaque]
    counts = np.bincount(keys, minlength=_N_KEYS)
    present = np.flatnonzero(counts)
    new = present[table[present] == 0]
    table[present] += counts[present].astype(table.dtype)
    found[: new.size] = new
    return int(new.size)
