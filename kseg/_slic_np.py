"""numpy twin of :mod:`kseg._slic`: the same kernels, arguments and side effects, bit for bit.

:mod:`kseg._jit` hands these out while numba compiles :mod:`kseg._slic` in the
background, so they must give exactly what the compiled kernels give
(``tests/test_kernels_slic.py``). Three things make that hold:

- every float is computed with the compiled kernel's operations in its order and
  dtypes (float32 distances and partial sums, float64 totals);
- ties go the same way: a centre takes a pixel only when strictly closer than every
  centre before it in ``by_row`` order;
- ``_masked_sums`` adds a window row's float32 values in column order, never
  reassociated (an earlier ``fastmath={"reassoc"}`` let LLVM group the sums as it
  liked for the machine: 8 lanes on an AVX2 CPU, another order on an AVX-512 one, and
  the twin disagreed there in the last bits); :func:`_window_sums` does the same
  with ``np.add.at``, which adds in index order, one addition after another.

The distance loops become numpy operations on each centre's 2S x 2S window; the
window sums visit each pixel once; the run-based union-find of
``_enforce_connectivity`` becomes vectorised label propagation over the runs, with
the same raster-order numbering and merging.
"""

from __future__ import annotations

import numpy as np

__all__ = ["warm"]


def warm() -> None:
    """Nothing to compile: numpy's loops are ready."""


def _to_planes(lab, scale, p0, p1, p2, r0, r1):
    """Split interleaved rows ``lab`` into planes ``p*[r0:r1]``, times ``scale``."""
    rows = slice(r0, r0 + lab.shape[0])
    scale = np.float32(scale)
    np.multiply(lab[:, :, 0], scale, out=p0[rows])
    np.multiply(lab[:, :, 1], scale, out=p1[rows])
    np.multiply(lab[:, :, 2], scale, out=p2[rows])


def _assign_strip(
    p0, p1, p2, alpha, r0, r1, step, by_row, ids, centers, n_rows, n_cols, labels, sums
):
    """Give each pixel of rows ``r0:r1`` to its nearest centre, SLIC style.

    As :func:`kseg._slic._assign_strip`: writes ``labels[r0:r1]`` (-1 for
    transparent pixels) and adds each centre's (c0, c1, c2, row, col, count) sums
    over those rows into ``sums`` (K, 6) float64, in the same order.
    """
    height, width = p0.shape
    n_strip = r1 - r0
    if n_strip <= 0:
        return
    step = np.float32(step)
    has_alpha = alpha.shape[0] > 0
    ys = np.arange(r0, r1).astype(np.float32)
    xs = np.arange(width).astype(np.float32)
    cy = by_row[:, 0]
    cx = by_row[:, 1]
    # A centre competes in row y when y - step <= cy <= y + step (float32, as compiled);
    # both bounds grow with y, so its rows in the strip are one range [first, stop).
    first = np.searchsorted(ys + step, cy, side="left")
    stop = np.searchsorted(ys - step, cy, side="right")
    x0s = np.maximum(np.ceil(cx - step).astype(np.int64), 0)
    x1s = np.minimum(np.floor(cx + step).astype(np.int64) + 1, width)
    pieces = np.flatnonzero((first < stop) & (x0s < x1s))

    planes = (p0[r0:r1], p1[r0:r1], p2[r0:r1])
    best = np.full((n_strip, width), np.inf, np.float32)
    best_k = np.full((n_strip, width), -1, np.int32)
    for c in pieces:
        ya, yb, x0, x1 = first[c], stop[c], x0s[c], x1s[c]
        dy = ys[ya:yb] - cy[c]
        dx = xs[x0:x1] - cx[c]
        d = planes[0][ya:yb, x0:x1] - by_row[c, 2]
        d *= d
        term = planes[1][ya:yb, x0:x1] - by_row[c, 3]
        term *= term
        d += term
        np.subtract(planes[2][ya:yb, x0:x1], by_row[c, 4], out=term)
        term *= term
        d += term
        d += dx * dx
        d += (dy * dy)[:, None]
        # Strictly closer, in by_row order: ties stay with the earlier centre. (Colour
        # planes are finite, so no NaN makes np.minimum differ from "d < best".)
        window_best = best[ya:yb, x0:x1]
        closer = d < window_best
        np.minimum(window_best, d, out=window_best)
        best_k[ya:yb, x0:x1][closer] = ids[c]

    opaque = alpha[r0:r1] != 0 if has_alpha else None
    covered = best_k >= 0  # won through a window (the sums below count only these)
    if opaque is not None:
        covered &= opaque
    uncovered = best_k < 0
    if opaque is not None:
        uncovered &= opaque
    events = []  # (k, y, phase, x, six float64 addends): the order of the additions
    if uncovered.any():
        uy, ux = np.nonzero(uncovered)
        v = [plane[uy, ux] for plane in planes]
        k = _nearest_on_grid(*v, uy + r0, ux, centers, n_rows, n_cols, height, width)
        best_k[uy, ux] = k
        addends = np.column_stack([v[0], v[1], v[2], uy + r0, ux, np.ones(len(uy))])
        # Before a row's window sums (phase 0), in column order.
        events.append((k, uy + r0, np.zeros(len(uy), np.int64), ux, addends.astype(np.float64)))
    label_rows = labels[r0:r1]
    if opaque is not None:
        np.copyto(label_rows, np.where(opaque, best_k, np.int32(-1)))
    else:
        np.copyto(label_rows, best_k)
    events.append(_window_sums(planes, label_rows, covered, r0, pieces, first, stop, ids))
    _accumulate(sums, events)


def _window_sums(planes, label_rows, covered, r0, pieces, first, stop, ids):
    """Each live centre's (c0, c1, c2, row, col, count) sums over each row of its window.

    As the compiled ``_masked_sums``: float32 sums of a window row's pixels in column
    order, one addition after another. A pixel adds only to the window of its own
    label, so each pixel is visited once, and ``np.add.at`` adds in index order.

    Returns the additions as one event block for :func:`_accumulate`.
    """
    n_strip, width = label_rows.shape
    ks = ids[pieces].astype(np.intp)
    n_k = int(ids.max(initial=-1)) + 2 if len(ids) else 1
    sink = n_k - 1  # pixels not summed: their records (n_rec and up) are dropped
    rows_of = (stop - first)[pieces]
    n_rec = int(rows_of.sum())
    starts = np.cumsum(rows_of) - rows_of
    # Per centre: record of row y = y + row0[k].
    row0 = np.full(n_k, n_rec, np.int32)
    row0[ks] = starts - first[pieces]

    k = np.where(covered, label_rows, np.int32(sink))
    record = row0[k]
    record += np.arange(n_strip, dtype=np.int32)[:, None]
    exact_x = width * width < 2**24  # every partial sum of columns is then exact
    columns = np.broadcast_to(np.arange(width, dtype=np.float32), label_rows.shape)
    channels = [*planes] if exact_x else [*planes, columns]
    acc = np.zeros((len(channels), n_rec + n_strip), np.float32)
    for channel, values in zip(acc, channels, strict=True):
        np.add.at(channel, record.ravel(), values.ravel())
    total = acc[:, :n_rec]
    record = record.ravel()
    count = np.bincount(record, minlength=n_rec)[:n_rec].astype(np.float64)
    if exact_x:
        sx = np.bincount(record, weights=columns.ravel(), minlength=n_rec)[:n_rec]
    else:
        sx = total[3]
    k_rec = np.repeat(ks, rows_of)
    y_rec = np.arange(n_rec) - np.repeat(starts - first[pieces], rows_of) + r0
    addends = np.column_stack(
        [total[0], total[1], total[2], y_rec * count, sx.astype(np.float32), count]
    ).astype(np.float64)
    return k_rec, y_rec, np.ones(n_rec, np.int64), np.zeros(n_rec, np.int64), addends


def _accumulate(sums, events):
    """Add each event's six addends into ``sums[k]`` in (row, phase, column) order.

    Float64 additions are not associative, so each centre's additions happen one
    after another in the compiled kernel's order: per row, first the pixels no window
    reached (by column), then the window's row sum.
    """
    if not events:
        return
    k, y, phase, x, addends = (np.concatenate(part) for part in zip(*events, strict=True))
    order = np.lexsort((x, phase, y, k))
    # np.add.at adds one event after another, in this order.
    np.add.at(sums, k[order], addends[order])


def _nearest_on_grid(v0, v1, v2, y, x, centers, n_rows, n_cols, height, width):
    """Index of the nearest centre of the 3 x 3 grid cells around each pixel (y, x).

    Vectorised over pixels; as compiled, the colour terms are float32 and the
    position terms float64, and the first of equally near centres wins.
    """
    gy = (y * n_rows) // height
    gx = (x * n_cols) // width
    best = np.full(len(y), np.inf)
    best_k = gy * n_cols + gx
    yf = y.astype(np.float64)
    xf = x.astype(np.float64)
    for di in (-1, 0, 1):
        i = gy + di
        for dj in (-1, 0, 1):
            j = gx + dj
            valid = (i >= 0) & (i < n_rows) & (j >= 0) & (j < n_cols)
            k = np.where(valid, i * n_cols + j, 0)
            d0 = v0 - centers[k, 2]
            d1 = v1 - centers[k, 3]
            d2 = v2 - centers[k, 4]
            colour = d0 * d0 + d1 * d1 + d2 * d2
            dy = yf - centers[k, 0].astype(np.float64)
            dx = xf - centers[k, 1].astype(np.float64)
            d = colour.astype(np.float64) + dy * dy + dx * dx
            closer = valid & (d < best)
            best = np.where(closer, d, best)
            best_k = np.where(closer, k, best_k)
    return best_k.astype(np.int32)


def _enforce_connectivity(labels, min_size, out):
    """Relabel ``labels`` into ``out`` so that every label is one 4-connected region.

    As :func:`kseg._slic._enforce_connectivity`: pieces (4-connected runs of one
    label) numbered in raster order of their first pixel; a piece smaller than
    ``min_size`` joins the piece of the run left of or above its first run (or stays,
    if there is none); -1 stays -1. Returns the number of labels in ``out``.
    """
    height, width = labels.shape
    flat = labels.reshape(-1)
    # Every run, -1 ones included, over the image in raster order.
    change = np.ones(labels.shape, bool)
    np.not_equal(labels[:, 1:], labels[:, :-1], out=change[:, 1:])
    all_starts = np.flatnonzero(change.reshape(-1))
    all_lengths = np.diff(np.r_[all_starts, flat.size])
    all_labels = flat[all_starts]
    kept = all_labels >= 0
    starts = all_starts[kept]  # raster positions y * width + x
    ends = starts + all_lengths[kept]
    run_labels = all_labels[kept]
    n_runs = len(starts)
    if n_runs == 0:
        out[...] = -1
        return 0
    run_rows = starts // width

    # Runs of the row above that overlap each run: those ending after its start
    # and starting before its end.
    first_above = np.searchsorted(ends, starts - width, side="right")
    stop_above = np.searchsorted(starts, ends - width, side="left")
    n_above = np.maximum(stop_above - first_above, 0)
    below = np.repeat(np.arange(n_runs), n_above)
    above = np.arange(len(below)) - np.repeat(np.cumsum(n_above) - n_above, n_above)
    above += np.repeat(first_above, n_above)
    same = run_labels[above] == run_labels[below]
    root = _components(n_runs, above[same], below[same])

    size = np.bincount(root, weights=ends - starts, minlength=n_runs)
    roots = np.flatnonzero(root == np.arange(n_runs))
    neighbour = np.full(len(roots), -1)
    small = size[roots] < min_size
    cand = roots[small]
    if len(cand):
        found = np.full(len(cand), -1)
        row = run_rows[cand]
        left = (cand > 0) & (run_rows[np.maximum(cand - 1, 0)] == row)
        left &= ends[np.maximum(cand - 1, 0)] == starts[cand]
        found[left] = cand[left] - 1
        look = ~left & (row > 0)
        up = np.searchsorted(ends, starts[cand] - width, side="right")
        up_ok = look & (up < n_runs)
        up_clip = np.minimum(up, n_runs - 1)
        up_ok &= (run_rows[up_clip] == row - 1) & (starts[up_clip] < ends[cand] - width)
        found[up_ok] = up[up_ok]
        neighbour[small] = found
    # A merged piece takes the final label of its neighbour's piece, which is earlier
    # in raster order; a chain of merges ends at a piece that kept its own label.
    piece_of_root = np.full(n_runs, -1)
    piece_of_root[roots] = np.arange(len(roots))
    target = np.arange(len(roots))
    merged = neighbour >= 0
    target[merged] = piece_of_root[root[neighbour[merged]]]
    while True:
        hop = target[target]
        if np.array_equal(hop, target):
            break
        target = hop
    own = target == np.arange(len(roots))
    number = np.cumsum(own) - 1
    final = number[target]
    value = np.full(len(all_starts), -1, np.int32)
    value[kept] = final[piece_of_root[root]]
    out.reshape(-1)[:] = np.repeat(value, all_lengths)
    return int(own.sum())


def _components(n, u, v):
    """Each node's root, the smallest node of its connected piece (edges u-v, u < v)."""
    parent = np.arange(n)
    while True:
        pu, pv = parent[u], parent[v]
        differ = pu != pv
        if not differ.any():
            return parent
        lo = np.minimum(pu[differ], pv[differ])
        hi = np.maximum(pu[differ], pv[differ])
        np.minimum.at(parent, hi, lo)
        while True:  # compress to roots
            hop = parent[parent]
            if np.array_equal(hop, parent):
                break
            parent = hop


def _region_sums(labels, rgb, r0, r1, sums):
    """Add each region's (R, G, B, row, col, count) over rows ``r0:r1`` to ``sums``.

    Every addend is an integer and every total far below 2**53, so float64 sums are
    exact in any order: one bincount per column gives the compiled loop's result.
    """
    strip = labels[r0:r1]
    inside = strip >= 0
    k = strip[inside]
    n = sums.shape[0]
    rows, cols = np.nonzero(inside)
    colours = rgb[r0:r1][inside]
    sums[:, 0] += np.bincount(k, weights=colours[:, 0], minlength=n)
    sums[:, 1] += np.bincount(k, weights=colours[:, 1], minlength=n)
    sums[:, 2] += np.bincount(k, weights=colours[:, 2], minlength=n)
    sums[:, 3] += np.bincount(k, weights=rows + r0, minlength=n)
    sums[:, 4] += np.bincount(k, weights=cols, minlength=n)
    sums[:, 5] += np.bincount(k, minlength=n)
