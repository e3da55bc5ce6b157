"""Compiled kernels behind :func:`kseg.superpixels` (numba), apart from its Python API.

Every kernel works on a horizontal strip of rows, releases the GIL and keeps its
own accumulators, so the caller can run strips on plain Python threads. That is
thread-safe whatever numba threading layer is installed, and two Streamlit
sessions may call it at once.

The colour planes come in pre-scaled by ``S / compactness``, so the SLIC
distance ``dc**2 + (ds / S)**2 * m**2`` becomes the plain squared Euclidean
distance in (L, a, b, row, col) up to a constant factor.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["warm"]

_FLAGS = {"cache": True, "nogil": True, "boundscheck": False}


@njit(**_FLAGS)
def _to_planes(lab, scale, p0, p1, p2, r0, r1):  # pragma: no cover - compiled
    """Split interleaved rows ``lab`` into planes ``p*[r0:r1]``, times ``scale``."""
    n_rows, width = lab.shape[0], lab.shape[1]
    for r in range(n_rows):
        y = r0 + r
        for x in range(width):
            p0[y, x] = lab[r, x, 0] * scale
            p1[y, x] = lab[r, x, 1] * scale
            p2[y, x] = lab[r, x, 2] * scale


@njit(**_FLAGS)
def _assign_strip(
    p0, p1, p2, alpha, r0, r1, step, by_row, ids, centers, n_rows, n_cols, labels, sums
):  # pragma: no cover - compiled
    """Give each pixel of rows ``r0:r1`` to its nearest centre, SLIC style.

    Each centre only competes for the pixels of its 2S x 2S window
    (``|dy|, |dx| <= step``). ``by_row`` (M, 5) float32 holds the live centres
    (row, col, c0, c1, c2) sorted by row, ``ids`` their indices into
    ``centers`` (K, 5), which has every centre (a disabled one has row +inf).
    ``alpha`` is (H, W) uint8, or (0, 0) when every pixel is opaque.

    Writes ``labels`` (-1 for transparent pixels) and adds each centre's
    (c0, c1, c2, row, col, count) sums into ``sums`` (K, 6) float64.
    """
    height, width = p0.shape
    has_alpha = alpha.shape[0] > 0
    n_live = by_row.shape[0]
    best = np.empty(width, np.float32)
    best_k = np.empty(width, np.int32)
    xs = np.empty(width, np.float32)
    for x in range(width):
        xs[x] = x
    lo = 0
    for y in range(r0, r1):
        yf = np.float32(y)
        while lo < n_live and by_row[lo, 0] < yf - step:
            lo += 1
        # Loops, not slice assignment: numba's generic setitem takes seconds to compile.
        for x in range(width):
            best[x] = np.inf
            best_k[x] = -1
        row0 = p0[y]
        row1 = p1[y]
        row2 = p2[y]
        hi = lo
        while hi < n_live and by_row[hi, 0] <= yf + step:
            dy = yf - by_row[hi, 0]
            dy2 = dy * dy
            cx = by_row[hi, 1]
            c0 = by_row[hi, 2]
            c1 = by_row[hi, 3]
            c2 = by_row[hi, 4]
            k = ids[hi]
            x0, x1 = _window(cx, step, width)
            _closer_in_window(
                row0[x0:x1],
                row1[x0:x1],
                row2[x0:x1],
                xs[x0:x1],
                cx,
                c0,
                c1,
                c2,
                dy2,
                k,
                best[x0:x1],
                best_k[x0:x1],
            )
            hi += 1

        # Pixels no window reached (rare: centres drift apart) take the
        # nearest centre around their grid cell.
        uncovered = 0
        for x in range(width):
            uncovered += best_k[x] < 0
        if uncovered > 0:
            for x in range(width):
                if best_k[x] < 0 and not (has_alpha and alpha[y, x] == 0):
                    k = _nearest_on_grid(
                        row0[x], row1[x], row2[x], y, x, centers, n_rows, n_cols, height, width
                    )
                    _add(sums, k, row0[x], row1[x], row2[x], y, x, 1)
                    best_k[x] = k
        label_row = labels[y]
        if has_alpha:
            alpha_row = alpha[y]
            for x in range(width):
                label_row[x] = best_k[x] if alpha_row[x] != 0 else -1
        else:
            for x in range(width):
                label_row[x] = best_k[x]

        # Sum each centre's pixels over its window's row (branch-free, vectorised).
        for c in range(lo, hi):
            x0, x1 = _window(by_row[c, 1], step, width)
            s0, s1, s2, sx, count = _masked_sums(
                label_row[x0:x1], ids[c], row0[x0:x1], row1[x0:x1], row2[x0:x1], xs[x0:x1]
            )
            _add(sums, ids[c], s0, s1, s2, y * count, sx, count)


@njit(**_FLAGS)
def _window(cx, step, width):  # pragma: no cover - compiled
    """Columns ``x0:x1`` of the window row of a centre at column ``cx``."""
    return max(int(math.ceil(cx - step)), 0), min(int(math.floor(cx + step)) + 1, width)


@njit(**_FLAGS)
def _add(sums, k, s0, s1, s2, sy, sx, count):  # pragma: no cover - compiled
    sums[k, 0] += s0
    sums[k, 1] += s1
    sums[k, 2] += s2
    sums[k, 3] += sy
    sums[k, 4] += sx
    sums[k, 5] += count


@njit(**_FLAGS)
def _masked_sums(labels, k, v0, v1, v2, xs):  # pragma: no cover - compiled
    """Sums of v0, v1, v2 and xs, and the count, where ``labels == k``.

    float32 partial sums (a window row is at most one image row long), added in
    order: never reassociated, so no machine's vector width changes a bit of them.
    """
    zero = np.float32(0.0)
    s0 = s1 = s2 = sx = n = zero
    for t in range(labels.shape[0]):
        mine = labels[t] == k
        s0 += v0[t] if mine else zero
        s1 += v1[t] if mine else zero
        s2 += v2[t] if mine else zero
        sx += xs[t] if mine else zero
        n += np.float32(1.0) if mine else zero
    return s0, s1, s2, sx, n


@njit(**_FLAGS)
def _closer_in_window(v0, v1, v2, xs, cx, c0, c1, c2, dy2, k, best, best_k):  # pragma: no cover
    """Where centre ``k`` beats ``best`` along one row of its window, take the pixel.

    Written to vectorise: slices indexed from 0 (no negative-index wraparound)
    and unconditional stores.
    """
    for t in range(best.shape[0]):
        d0 = v0[t] - c0
        d1 = v1[t] - c1
        d2 = v2[t] - c2
        dx = xs[t] - cx
        d = d0 * d0 + d1 * d1 + d2 * d2 + dx * dx + dy2
        b = best[t]
        kept = best_k[t]
        closer = d < b
        # "+ 0.0" keeps the store unconditional: LLVM would otherwise turn
        # "store d or the value just loaded" into a masked store, which is
        # several times slower on AMD (vmaskmovps). d >= 0, so it is exact.
        best[t] = (d if closer else b) + np.float32(0.0)
        best_k[t] = k if closer else kept


@njit(**_FLAGS)
def _nearest_on_grid(v0, v1, v2, y, x, centers, n_rows, n_cols, height, width):
    """Index of the nearest centre of the 3 x 3 grid cells around pixel (y, x)."""
    gy = (y * n_rows) // height
    gx = (x * n_cols) // width
    best = np.inf
    best_k = gy * n_cols + gx
    for i in range(max(gy - 1, 0), min(gy + 2, n_rows)):
        for j in range(max(gx - 1, 0), min(gx + 2, n_cols)):
            k = i * n_cols + j
            d0 = v0 - centers[k, 2]
            d1 = v1 - centers[k, 3]
            d2 = v2 - centers[k, 4]
            dy = y - centers[k, 0]
            dx = x - centers[k, 1]
            d = d0 * d0 + d1 * d1 + d2 * d2 + dy * dy + dx * dx
            if d < best:
                best = d
                best_k = k
    return best_k


@njit(**_FLAGS)
def _enforce_connectivity(labels, min_size, out):  # pragma: no cover - compiled
    """Relabel ``labels`` into ``out`` so that every label is one 4-connected region.

    Works on runs (maximal horizontal stretches of one label) rather than
    pixels: a union-find joins touching runs of equal label into connected
    pieces. Pieces are then numbered in raster order; a piece smaller than
    ``min_size`` pixels instead joins the piece left of or above its first
    pixel, as in SLIC and scikit-image (or stays, if there is none). Pixels
    labelled -1 stay -1. Returns the number of labels in ``out``.
    """
    height, width = labels.shape
    starts, ends, run_labels, row_ptr = _runs(labels)
    n_runs = starts.shape[0]

    # Union-find over runs; a root is always the first run of its piece.
    parent = np.empty(n_runs, np.int32)
    for r in range(n_runs):
        parent[r] = r
    for y in range(1, height):
        i, i_end, j, j_end = row_ptr[y - 1], row_ptr[y], row_ptr[y], row_ptr[y + 1]
        while i < i_end and j < j_end:
            if starts[i] < ends[j] and starts[j] < ends[i] and run_labels[i] == run_labels[j]:
                _union(parent, i, j)
            if ends[i] <= ends[j]:
                i += 1
            else:
                j += 1
    for r in range(n_runs):
        parent[r] = parent[parent[r]]  # roots come first, so one hop resolves

    size = np.zeros(n_runs, np.int64)
    for r in range(n_runs):
        size[parent[r]] += ends[r] - starts[r]

    final = np.empty(n_runs, np.int32)
    n_labels = 0
    y = 0
    for r in range(n_runs):
        if parent[r] != r:
            continue
        while row_ptr[y + 1] <= r:
            y += 1
        neighbour = -1
        if size[r] < min_size:
            neighbour = _earlier_neighbour(r, y, starts, ends, row_ptr)
        if neighbour >= 0:
            final[r] = final[parent[neighbour]]
        else:
            final[r] = n_labels
            n_labels += 1

    for y in range(height):
        row = out[y]
        x = 0
        for r in range(row_ptr[y], row_ptr[y + 1]):
            for t in range(x, starts[r]):
                row[t] = -1
            value = final[parent[r]]
            for t in range(starts[r], ends[r]):
                row[t] = value
            x = ends[r]
        for t in range(x, width):
            row[t] = -1
    return n_labels


@njit(**_FLAGS)
def _runs(labels):  # pragma: no cover - compiled
    """Runs of equal non-negative labels, row by row, in raster order.

    Returns ``starts``, ``ends`` (one past the last column), ``run_labels``
    and ``row_ptr`` ((H + 1,): the runs of row y are ``row_ptr[y]:row_ptr[y + 1]``).
    """
    height, width = labels.shape
    n_runs = height
    for y in range(height):
        row = labels[y]
        for x in range(1, width):
            n_runs += row[x] != row[x - 1]
    starts = np.empty(n_runs, np.int32)
    ends = np.empty(n_runs, np.int32)
    run_labels = np.empty(n_runs, np.int32)
    row_ptr = np.empty(height + 1, np.int64)
    n = 0
    for y in range(height):
        row_ptr[y] = n
        row = labels[y]
        k = row[0]
        start = 0
        for x in range(1, width):
            if row[x] != k:
                # Written unconditionally; a run of -1 is overwritten by the next.
                starts[n] = start
                ends[n] = x
                run_labels[n] = k
                n += k >= 0
                k = row[x]
                start = x
        starts[n] = start
        ends[n] = width
        run_labels[n] = k
        n += k >= 0
    row_ptr[height] = n
    return starts[:n], ends[:n], run_labels[:n], row_ptr


@njit(**_FLAGS)
def _find(parent, i):  # pragma: no cover - compiled
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(**_FLAGS)
def _union(parent, i, j):  # pragma: no cover - compiled
    """Join the sets of runs i and j under the smaller (earlier) root."""
    ri = _find(parent, i)
    rj = _find(parent, j)
    if ri < rj:
        parent[rj] = ri
    elif rj < ri:
        parent[ri] = rj


@njit(**_FLAGS)
def _earlier_neighbour(r, y, starts, ends, row_ptr):  # pragma: no cover - compiled
    """A run touching run ``r`` (of row ``y``) from the left or from above, or -1."""
    if r > row_ptr[y] and ends[r - 1] == starts[r]:
        return r - 1
    if y == 0:
        return -1
    lo, hi = row_ptr[y - 1], row_ptr[y]
    while lo < hi:  # first run above that ends after our start
        mid = (lo + hi) // 2
        if ends[mid] <= starts[r]:
            lo = mid + 1
        else:
            hi = mid
    if lo < row_ptr[y] and starts[lo] < ends[r]:
        return lo
    return -1


@njit(**_FLAGS)
def _region_sums(labels, rgb, r0, r1, sums):  # pragma: no cover - compiled
    """Add each region's (R, G, B, row, col, count) over rows ``r0:r1`` to ``sums``."""
    width = labels.shape[1]
    for y in range(r0, r1):
        for x in range(width):
            k = labels[y, x]
            if k < 0:
                continue
            sums[k, 0] += rgb[y, x, 0]
            sums[k, 1] += rgb[y, x, 1]
            sums[k, 2] += rgb[y, x, 2]
            sums[k, 3] += y
            sums[k, 4] += x
            sums[k, 5] += 1.0


def warm() -> None:
    """Compile (or load from numba's cache) every kernel, once, on tiny inputs.

    The arguments have exactly the types :mod:`kseg._superpixels` passes (numba
    compiles one version per signature, read-only arrays included): float32 planes,
    read-only uint8 alpha and RGB, int32 labels and ids, float64 sums, Python ints
    for rows and grid sizes, float32 scalars.
    """
    height, width = 4, 5
    lab = np.zeros((height, width, 3), np.float32)
    planes = tuple(np.zeros((height, width), np.float32) for _ in range(3))
    _to_planes(lab, np.float32(1.0), *planes, 0, height)
    alpha = np.zeros((0, 0), np.uint8)
    alpha.flags.writeable = False
    centers = np.array([[1.0, 1.0, 0.0, 0.0, 0.0], [2.0, 3.0, 0.0, 0.0, 0.0]], np.float32)
    ids = np.arange(2, dtype=np.int32)
    labels = np.zeros((height, width), np.int32)
    sums = np.zeros((2, 6))
    # A window of one pixel leaves pixels uncovered: the grid fallback compiles too.
    _assign_strip(
        *planes, alpha, 0, height, np.float32(1.0), centers.copy(), ids, centers, 1, 2, labels, sums
    )
    out = np.empty_like(labels)
    _enforce_connectivity(labels, 2, out)
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb.flags.writeable = False
    _region_sums(out, rgb, 0, height, np.zeros((int(out.max()) + 1, 6)))
