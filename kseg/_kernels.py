"""The kernels the rest of kseg calls: compiled when ready, the numpy twin until then.

Each function here looks its group up in :func:`kseg._jit.kernels` and passes what the
kernel only reads as read-only views, so that numba needs one specialisation per
kernel whoever calls it (an ``Image`` holds read-only arrays, a caller's own are
writable; each combination would otherwise be compiled, and cached, apart).
"""

from __future__ import annotations

import numpy as np

from kseg import _jit

__all__ = [
    "count_colors",
    "kmeans_plusplus",
    "labels_from_colors",
    "lloyd",
    "mean_distance",
    "merge_small_regions",
    "read_only",
]

_F8 = np.float64


def read_only(array, dtype=None) -> np.ndarray:
    """A read-only, C-contiguous view of ``array`` (copied only when it is not already
    contiguous of ``dtype``); the caller's array keeps its flags."""
    view = np.ascontiguousarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view


def count_colors(flat, opaque, table, found) -> int:
    """Count each pixel's colour in ``table``; see :func:`kseg._counting.count_colors`."""
    return _jit.kernels("counting").count_colors(
        read_only(flat, np.uint8), read_only(opaque, np.bool_), table, found
    )


def kmeans_plusplus(X, w, k, trials, uniform) -> np.ndarray:
    """See :func:`kseg._lloyd.kmeans_plusplus`."""
    return _jit.kernels("lloyd").kmeans_plusplus(
        read_only(X, _F8), read_only(w, _F8), int(k), int(trials), read_only(uniform, _F8)
    )


def lloyd(X, w, C0, max_iter, eps2):
    """See :func:`kseg._lloyd.lloyd`."""
    return _jit.kernels("lloyd").lloyd(
        read_only(X, _F8), read_only(w, _F8), read_only(C0, _F8), int(max_iter), float(eps2)
    )


def mean_distance(points, weights, centers, labels) -> float:
    """See :func:`kseg._lloyd.mean_distance`."""
    return _jit.kernels("lloyd").mean_distance(
        read_only(points, _F8),
        read_only(weights, _F8),
        read_only(centers, _F8),
        read_only(labels, np.int32),
    )


def merge_small_regions(labels, min_region: int, n_labels: int):
    """See :func:`kseg._components.merge_small_regions`."""
    return _jit.kernels("components").merge_small_regions(
        read_only(labels, np.int16), np.int64(min_region), np.int64(n_labels)
    )


def labels_from_colors(hist, color_labels) -> np.ndarray:
    """``hist.label_pixels(color_labels)`` for at most 255 labels, in one compiled pass;
    see :func:`kseg._components.labels_from_colors`."""
    table = np.empty(1 << 24, dtype=np.uint8)  # only the image's colours are ever read
    table[hist.keys] = color_labels
    opaque = hist.alpha if hist.alpha is not None else np.ones((0, 0), np.bool_)
    return _jit.kernels("components").labels_from_colors(
        read_only(hist.rgb, np.uint8), read_only(opaque, np.bool_), read_only(table)
    )
