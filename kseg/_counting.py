"""The compiled pass that counts an image's colours (numba), apart from its Python API.

``kseg._histogram`` borrows the 2^24-entry count table and hands it back cleared;
this kernel only counts, releasing the GIL so several photos can be counted at once.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["count_colors", "warm"]


@numba.njit(cache=True, nogil=True)
def count_colors(flat, opaque, table, found):  # pragma: no cover - compiled
    """Count each pixel's colour in ``table``; list each new colour in ``found``."""
    n_found = 0
    use_alpha = opaque.shape[0] > 0
    for i in range(flat.shape[0]):
        if use_alpha and not opaque[i]:
            continue
        key = (np.int64(flat[i, 0]) << 16) | (np.int64(flat[i, 1]) << 8) | np.int64(flat[i, 2])
        if table[key] == 0:
            found[n_found] = key
            n_found += 1
        table[key] += 1
    return n_found


def warm() -> None:
    """Compile (or load from numba's cache) the pass for the types kseg passes."""
    from kseg import _kernels

    flat = _kernels.read_only(np.zeros((4, 3), dtype=np.uint8))
    for opaque in (np.ones(0, dtype=np.bool_), np.ones(4, dtype=np.bool_)):
        table = np.zeros(1, dtype=np.uint32)  # every key here is 0
        count_colors(flat, _kernels.read_only(opaque), table, np.empty(4, dtype=np.int64))
