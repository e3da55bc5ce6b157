"""numba kernels for connected regions: labelling them, and merging the small ones away.

``merge_small_regions`` is what ``kseg.segment(..., min_region=N)`` runs after k-means.
This group has no numpy twin (a union-find over every pixel has no fast array form): it
compiles in the warm-up process with the other groups, and a first call before that
compiles it here (see :mod:`kseg._jit`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["label_regions", "labels_from_colors", "merge_small_regions"]

# Neighbours already visited in a raster scan, for 8-connectivity: left, up-left, up, up-right.
_BACK_ROWS = np.array([0, -1, -1, -1], dtype=np.int64)
_BACK_COLS = np.array([-1, -1, 0, 1], dtype=np.int64)


@njit(cache=True, nogil=True)
def labels_from_colors(rgb, opaque, table):
    """(H, W) int16 label of each pixel: ``table[R << 16 | G << 8 | B]``, -1 where
    ``opaque`` is False (an empty ``opaque`` means every pixel is opaque).

    The one pass :meth:`kseg.ColorHistogram.label_pixels` makes in numpy (packing the
    colours, then gathering), without its 48 MB of packed keys.
    """
    height, width = rgb.shape[:2]
    out = np.empty((height, width), np.int16)
    every = opaque.size == 0
    for r in range(height):
        for c in range(width):
            if every or opaque[r, c]:
                key = (np.int64(rgb[r, c, 0]) << 16) | (np.int64(rgb[r, c, 1]) << 8) | rgb[r, c, 2]
                out[r, c] = table[key]
            else:
                out[r, c] = -1
    return out


@njit(cache=True, nogil=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@njit(cache=True, nogil=True)
def _union(parent, a, b):
    """Join the sets of a and b; the smaller root stays root (so parent[i] <= i)."""
    a = _find(parent, a)
    b = _find(parent, b)
    if a < b:
        parent[b] = a
        return a
    if b < a:
        parent[a] = b
    return b


@njit(cache=True, nogil=True)
def label_regions(labels):
    """8-connected pieces of equal label: (H, W) int32 ids 0..n-1 (-1 where label < 0),
    n, and each piece's pixel count, label and first pixel (flat index).

    Ids follow each piece's first pixel in raster order, so they do not depend on how
    the scan joined provisional pieces.
    """
    height, width = labels.shape
    ids = np.empty((height, width), np.int32)
    parent = np.empty(height * width, np.int32)
    n_prov = 0
    for r in range(height):
        for c in range(width):
            v = labels[r, c]
            if v < 0:
                ids[r, c] = -1
                continue
            # Scan order: left, up-left, up and up-right are done. If up matches, it is
            # already joined with left and both diagonals whenever they match (each is
            # its neighbour), so one look suffices; otherwise left (joined with
            # up-left) then the diagonals.
            up = r > 0 and labels[r - 1, c] == v
            if up:
                ids[r, c] = ids[r - 1, c]
                continue
            right = r > 0 and c + 1 < width and labels[r - 1, c + 1] == v
            if c > 0 and labels[r, c - 1] == v:
                current = ids[r, c - 1]
                if right:
                    current = _union(parent, current, ids[r - 1, c + 1])
            elif r > 0 and c > 0 and labels[r - 1, c - 1] == v:
                current = ids[r - 1, c - 1]
                if right:
                    current = _union(parent, current, ids[r - 1, c + 1])
            elif right:
                current = ids[r - 1, c + 1]
            else:
                current = n_prov
                parent[current] = current
                n_prov += 1
            ids[r, c] = current
    # parent[i] <= i, so one pass in order flattens every chain; roots keep the order
    # of their first pixels.
    final = np.empty(n_prov, np.int32)
    n = 0
    for i in range(n_prov):
        p = parent[i]
        if p == i:
            final[i] = n
            n += 1
        else:
            root = parent[p]
            parent[i] = root
            final[i] = final[root]
    size = np.zeros(n, np.int64)
    label_of = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    for r in range(height):
        for c in range(width):
            i = ids[r, c]
            if i >= 0:
                i = final[i]
                ids[r, c] = i
                if size[i] == 0:
                    first[i] = r * width + c
                    label_of[i] = labels[r, c]
                size[i] += 1
    return ids, n, size, label_of, first


@njit(cache=True, nogil=True)
def merge_small_regions(labels, min_region, n_labels):
    """Labels with every 8-connected region under ``min_region`` pixels merged away.

    Small regions are taken smallest first (ties: the one whose first pixel comes first
    in raster order). Each takes the label of the neighbouring cluster it shares the most
    pixel edges with (ties: the lower label, the larger cluster) and so joins every
    region of that label it touches, diagonally too. A region that is still small after
    that is taken again in a later pass; one with no opaque neighbour stays as it is.
    Returns (new labels, regions merged, flat positions of the pixels whose label
    changed (region by region), pixels per label after merging).
    """
    height, width = labels.shape
    ids, n, size, label_of, first = label_regions(labels)
    small = size < min_region
    counts = np.zeros(n_labels, np.int64)
    n_small_pixels = 0
    for i in range(n):
        counts[label_of[i]] += size[i]
        if small[i]:
            n_small_pixels += size[i]
    if n_small_pixels == 0:
        return labels.copy(), 0, np.empty(0, np.int64), counts
    # Each small region's pixels, found from its first one (so the cost follows the small
    # regions, not the image), and its neighbours: one entry per neighbouring pixel pair,
    # weight 1 across an edge (border length), 0 across a corner (touching only).
    flat = ids.ravel()
    where = np.empty(n_small_pixels, np.int64)
    visited = np.zeros(height * width, np.bool_)
    start = np.zeros(n, np.int64)
    stop = np.zeros(n, np.int64)
    neighbour = np.empty(8 * n_small_pixels, np.int32)
    weight = np.empty(8 * n_small_pixels, np.int8)
    filled = 0
    e = 0
    for i in range(n):
        if not small[i]:
            continue
        start[i] = e
        head = filled
        where[filled] = first[i]
        visited[first[i]] = True
        filled += 1
        while head < filled:
            p = where[head]
            head += 1
            r = p // width
            c = p % width
            for dr in range(-1, 2):
                rr = r + dr
                if rr < 0 or rr >= height:
                    continue
                for dc in range(-1, 2):
                    cc = c + dc
                    if (dr == 0 and dc == 0) or cc < 0 or cc >= width:
                        continue
                    q = rr * width + cc
                    j = flat[q]
                    if j == i:
                        if not visited[q]:
                            visited[q] = True
                            where[filled] = q
                            filled += 1
                    elif j >= 0:
                        neighbour[e] = j
                        weight[e] = 1 if (dr == 0 or dc == 0) else 0
                        e += 1
        stop[i] = e
    parent = np.arange(n).astype(np.int32)
    member_next = np.full(n, -1, np.int32)  # members of a root: a linked list
    member_last = np.arange(n).astype(np.int32)
    border = np.zeros(n_labels, np.int64)
    touched = np.zeros(n_labels, np.bool_)
    seen = np.empty(n_labels, np.int64)
    candidates = np.flatnonzero(small)
    order = candidates[np.argsort(size[candidates] * n + candidates)]  # smallest first
    merged = 0
    changed = True
    while changed:
        changed = False
        for t in range(order.size):
            i = order[t]
            if _find(parent, i) != i or size[i] >= min_region:
                continue
            n_seen = 0
            m = i
            while m >= 0:
                for e in range(start[m], stop[m]):
                    root = _find(parent, neighbour[e])
                    if root == i:
                        continue
                    lab = label_of[root]
                    if not touched[lab]:
                        touched[lab] = True
                        seen[n_seen] = lab
                        n_seen += 1
                    border[lab] += weight[e]
                m = member_next[m]
            if n_seen == 0:
                continue
            best = -1
            for s in range(n_seen):
                lab = seen[s]
                if (
                    best < 0
                    or border[lab] > border[best]
                    or (border[lab] == border[best] and lab < best)
                ):
                    best = lab
            for s in range(n_seen):
                border[seen[s]] = 0
                touched[seen[s]] = False
            # Join every neighbouring region of that label (they touch i, so once i has
            # their label they are one region). The largest becomes the root.
            root_i = i
            m = i
            while m >= 0:
                for e in range(start[m], stop[m]):
                    other = _find(parent, neighbour[e])
                    if other == root_i or label_of[other] != best:
                        continue
                    big, little = (
                        (other, root_i) if size[other] >= size[root_i] else (root_i, other)
                    )
                    parent[little] = big
                    size[big] += size[little]
                    member_next[member_last[big]] = little
                    member_last[big] = member_last[little]
                    label_of[big] = best
                    root_i = big
                m = member_next[m]
            label_of[root_i] = best
            merged += 1
            changed = True
    out = labels.copy()
    out_flat = out.ravel()
    n_moved = 0
    for q in range(n_small_pixels):
        p = where[q]
        new = label_of[_find(parent, flat[p])]
        old = out_flat[p]
        if new != old:
            counts[old] -= 1
            counts[new] += 1
            out_flat[p] = new
            where[n_moved] = p  # reuse: the moved pixels, region by region
            n_moved += 1
    return out, merged, where[:n_moved].copy(), counts


def warm() -> None:
    """Compile (or load from numba's cache) this group's kernels on a tiny image."""
    labels = np.zeros((4, 5), np.int16)
    labels[1, 1] = 1
    labels.flags.writeable = False
    merge_small_regions(labels, np.int64(2), np.int64(2))
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb.flags.writeable = False
    table = np.zeros(1 << 24, np.uint8)
    table.flags.writeable = False
    for opaque in (np.ones((4, 5), np.bool_), np.ones((0, 0), np.bool_)):
        opaque.flags.writeable = False
        labels_from_colors(rgb, opaque, table)
