"""Regions then colours: k-means over superpixels' mean colours, weighted by size.

Every region goes whole into one cluster, so segments follow object edges. The
pixel compactness is the regions' k-means objective plus each region's own spread.
"""

from __future__ import annotations

import weakref

import numpy as np

from kseg._histogram import pack_rgb
from kseg._kernels import lloyd
from kseg._kmeans import run_attempts

__all__ = ["regions_kmeans"]


def regions_kmeans(hist, regions, k, init, attempts, max_iter, eps2, space, seed):
    """k-means over region means weighted by size; every pixel takes its region's cluster."""
    per_space = _MOMENTS.setdefault(regions, {})
    if space not in per_space:  # a new k or seed over the same regions reuses them
        per_space[space] = _region_moments(hist, regions.labels, regions.n_regions, space)
    sums, squares, sizes = per_space[space]
    present = sizes > 0
    means = sums[present] / sizes[present, None]
    weights = sizes[present].astype(np.float64)
    notes = []
    k_run = k
    n_distinct = len(np.unique(means, axis=0))
    if not isinstance(init, np.ndarray) and n_distinct < k:
        k_run = n_distinct
        notes.append(
            f"k={k} was asked for, but the regions have only {n_distinct} distinct mean "
            f"colours, so {k_run} clusters come back."
        )
    if isinstance(init, np.ndarray):
        centers, labels, n_iter, compactness = lloyd(means, weights, init, max_iter, eps2)
    else:
        runs = run_attempts(means, weights, k_run, init, attempts, max_iter, eps2, seed)
        best = min(runs, key=lambda run: run.compactness)
        centers, labels, n_iter, compactness = (
            best.centers,
            best.labels,
            best.n_iter,
            best.compactness,
        )
    # Pixel compactness = the regions' k-means objective + each region's own spread.
    spread = squares[present] - sizes[present] * np.einsum("ij,ij->i", means, means)
    compactness += float(np.maximum(spread, 0.0).sum())
    region_cluster = np.full(regions.n_regions + 1, -1, dtype=np.int16)  # [-1] -> -1
    region_cluster[np.flatnonzero(present)] = labels
    return centers, region_cluster[regions.labels], n_iter, compactness, notes


# Region moments per Superpixels object and colour space, forgotten with the object.
_MOMENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _region_moments(hist, region_labels, n_regions, space, rows_per_chunk=256):
    """Per region: sum of pixel features (n, 3), sum of squared norms (n,), pixel count (n,).

    Features come from the histogram's colour table (a colour space is a transform
    of the distinct colours only), gathered a strip of rows at a time.
    """
    features = hist.features(space)
    pixel_colors = _pixel_colors(hist)
    norms = np.einsum("ij,ij->i", features, features)
    sums = np.zeros((n_regions, 3))
    squares = np.zeros(n_regions)
    sizes = np.zeros(n_regions, dtype=np.int64)
    for r0 in range(0, hist.shape[0], rows_per_chunk):
        labels = region_labels[r0 : r0 + rows_per_chunk].ravel()
        index = pixel_colors[r0 : r0 + rows_per_chunk].ravel()
        inside = labels >= 0
        labels, index = labels[inside], index[inside]
        sizes += np.bincount(labels, minlength=n_regions)
        squares += np.bincount(labels, weights=norms[index], minlength=n_regions)
        for j in range(3):
            sums[:, j] += np.bincount(labels, weights=features[index, j], minlength=n_regions)
    return sums, squares, sizes


# Each pixel's index into its histogram's colours, per histogram, forgotten with it:
# new superpixel settings on the same photo then skip the 2^24-entry table.
_PIXEL_COLORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _pixel_colors(hist) -> np.ndarray:
    found = _PIXEL_COLORS.get(hist)
    if found is None:
        table = np.empty(1 << 24, dtype=np.int32)  # only colours present are ever read
        table[hist.keys] = np.arange(hist.n_colors, dtype=np.int32)
        found = table[pack_rgb(hist.rgb)]
        found.flags.writeable = False
        _PIXEL_COLORS[hist] = found
    return found
