"""The numpy twin of :mod:`kseg._lloyd`: the same functions, bit for bit the same results.

Used while numba compiles the kernels (``kseg._jit``). Every floating-point operation is
the one the compiled loop does, in the same order: distances summed over the channels
one by one, sums that must be sequential taken with ``np.cumsum`` (``add.accumulate``
adds in order, where ``np.sum`` would add pairwise), cluster sums updated with
``np.add.at`` in the points' order, and Hamerly's bounds kept the same way, so that the
same points are reassigned. ``tests/test_kernels.py`` holds the two to equality.
"""

from __future__ import annotations

import numpy as np

from kseg._memory import small_pages

__all__ = ["kmeans_plusplus", "lloyd", "mean_distance", "warm"]


def warm() -> None:
    """Nothing to compile."""


def _sq_dist(X: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Squared distance of each row of X to one centre, summed channel by channel."""
    t = X[:, 0] - center[0]
    s2 = t * t
    for c in range(1, X.shape[1]):
        t = X[:, c] - center[c]
        s2 += t * t
    return s2


def _sq_dist_rows(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distance of each row of X to its own centre (the row of ``centers``)."""
    t = X[:, 0] - centers[:, 0]
    s2 = t * t
    for c in range(1, X.shape[1]):
        t = X[:, c] - centers[:, c]
        s2 += t * t
    return s2


def _last_of_running_sum(values: np.ndarray) -> float:
    return float(np.cumsum(values)[-1]) if values.size else 0.0


@small_pages()
def kmeans_plusplus(X, w, k, trials, uniform):
    """Twin of :func:`kseg._lloyd.kmeans_plusplus`."""
    n, d = X.shape
    centers = np.empty((k, d))
    cumulative = np.cumsum(w)
    first = min(int(np.searchsorted(cumulative, uniform[0] * cumulative[-1], side="right")), n - 1)
    centers[0] = X[first]
    closest = _sq_dist(X, centers[0])
    best_dist = np.empty(n)
    for m in range(1, k):
        potential = np.cumsum(w * closest)
        total = potential[-1]
        if total <= 0.0:
            centers[m:] = centers[0]
            break
        best_pot = np.inf
        best_pick = 0
        for t_ in range(trials):
            u = uniform[1 + (m - 1) * trials + t_]
            pick = min(int(np.searchsorted(potential, u * total, side="right")), n - 1)
            candidate = np.minimum(closest, _sq_dist(X, X[pick]))
            pot = _last_of_running_sum(w * candidate)
            if pot < best_pot:
                best_pot = pot
                best_pick = pick
                best_dist = candidate
        centers[m] = X[best_pick]
        closest = best_dist
    return centers


_CHUNK = 1 << 15  # points per block of the (points x centres) distance table


def _nearest_two(X: np.ndarray, C: np.ndarray):
    """Squared distances to the nearest and second-nearest centre, and the nearest's index.

    The compiled loop keeps a running best and second best; that is exactly the
    smallest and second-smallest value of each row (ties: the lowest index, as argmin),
    taken here from a table of every distance, block by block.
    """
    m, k = X.shape[0], C.shape[0]
    best = np.empty(m)
    second = np.full(m, np.inf)
    bj = np.empty(m, dtype=np.int32)
    for lo in range(0, m, _CHUNK):
        hi = min(m, lo + _CHUNK)
        table = _table(X[lo:hi], C)
        nearest = np.argmin(table, axis=1)
        rows = np.arange(hi - lo)
        bj[lo:hi] = nearest
        best[lo:hi] = table[rows, nearest]
        if k > 1:
            table[rows, nearest] = np.inf  # a tie for the nearest stays as the second
            second[lo:hi] = table.min(axis=1)
    return best, second, bj


def _table(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """(m, k) squared distances, summed channel by channel as the compiled loop sums."""
    t = X[:, 0, None] - C[None, :, 0]
    s2 = t * t
    for c in range(1, X.shape[1]):
        t = X[:, c, None] - C[None, :, c]
        s2 += t * t
    return s2


def _cluster_sums(X, w, labels, k):
    wsum = np.bincount(labels, weights=w, minlength=k)
    sums = np.empty((k, X.shape[1]))
    for c in range(X.shape[1]):
        sums[:, c] = np.bincount(labels, weights=w * X[:, c], minlength=k)
    return sums, wsum


def _assign_all(X, C):
    best, second, labels = _nearest_two(X, C)
    return labels, np.sqrt(best), np.sqrt(second)


@small_pages()
def lloyd(X, w, C0, max_iter, eps2):
    """Twin of :func:`kseg._lloyd.lloyd` (Hamerly's bounds, kept the same way)."""
    n, d = X.shape
    k = C0.shape[0]
    C = np.array(C0, dtype=np.float64, copy=True)
    labels, upper, lower = _assign_all(X, C)
    sums, wsum = _cluster_sums(X, w, labels, k)
    n_iter = 0
    while n_iter < max_iter:
        newC = C.copy()
        filled = wsum > 0.0
        newC[filled] = sums[filled] / wsum[filled, None]
        refill = not filled.all()
        if refill:
            _refill_empty(X, w, newC, sums, wsum, labels)
        shift2 = _sq_dist_rows(newC, C)
        shift = np.sqrt(shift2)
        max_shift2 = float(shift2.max())
        max_shift = float(shift.max())
        C = newC
        n_iter += 1
        if max_shift2 <= eps2 or n_iter >= max_iter:
            break
        if refill:
            labels, upper, lower = _assign_all(X, C)
            sums, wsum = _cluster_sums(X, w, labels, k)
            continue
        half = _half_gaps(C)
        upper += shift[labels]
        lower -= max_shift
        bound = np.maximum(half[labels], lower)
        cand = np.flatnonzero(upper > bound)
        if cand.size == 0:
            continue
        upper[cand] = np.sqrt(_sq_dist_rows(X[cand], C[labels[cand]]))
        cand = cand[upper[cand] > bound[cand]]
        if cand.size == 0:
            continue
        best, second, bj = _nearest_two(X[cand], C)
        old = labels[cand]
        labels[cand] = bj
        upper[cand] = np.sqrt(best)
        lower[cand] = np.sqrt(second)
        moved = bj != old
        if moved.any():
            _move(X, w, cand[moved], old[moved], bj[moved], sums, wsum)
    best, _second, labels = _nearest_two(X, C)
    compactness = _last_of_running_sum(w * best)
    return C, labels, n_iter, compactness


def _half_gaps(C: np.ndarray) -> np.ndarray:
    """Half the distance from each centre to its nearest other centre."""
    gaps = _table(C, C)
    np.fill_diagonal(gaps, np.inf)
    return 0.5 * np.sqrt(gaps.min(axis=1))


def _move(X, w, points, old, new, sums, wsum) -> None:
    """Take moved points out of their old clusters' sums and into their new ones, in the
    compiled loop's order: point by point, old cluster first."""
    order = np.empty(2 * points.size, dtype=np.intp)
    order[0::2] = old
    order[1::2] = new
    wi = w[points]
    signed_w = np.empty(2 * points.size)
    signed_w[0::2] = -wi
    signed_w[1::2] = wi
    np.add.at(wsum, order, signed_w)
    for c in range(X.shape[1]):
        wx = wi * X[points, c]
        signed = np.empty(2 * points.size)
        signed[0::2] = -wx
        signed[1::2] = wx
        np.add.at(sums[:, c], order, signed)


def _refill_empty(X, w, C, sums, wsum, labels) -> None:
    """Twin of :func:`kseg._lloyd._refill_empty` (empty centres take the farthest points)."""
    k = C.shape[0]
    positive = w > 0.0
    members = np.bincount(labels[positive], minlength=k).astype(np.int64)
    far = _distance_if_movable(X, w, C, labels, members, np.arange(X.shape[0]))
    for j in range(k):
        if wsum[j] > 0.0:
            continue
        i = int(np.argmax(far))
        if far[i] <= 0.0:
            return
        a = int(labels[i])
        wi = w[i]
        labels[i] = j
        members[a] -= 1
        members[j] = 1
        wsum[a] -= wi
        wsum[j] = wi
        for c in range(X.shape[1]):
            sums[a, c] -= wi * X[i, c]
            sums[j, c] = wi * X[i, c]
            C[a, c] = sums[a, c] / wsum[a]
            C[j, c] = X[i, c]
        far[i] = -1.0
        in_a = np.flatnonzero(labels == a)
        far[in_a] = _distance_if_movable(X, w, C, labels, members, in_a)


def _distance_if_movable(X, w, C, labels, members, idx) -> np.ndarray:
    a = labels[idx]
    out = _sq_dist_rows(X[idx], C[a])
    out[(w[idx] <= 0.0) | (members[a] <= 1)] = -1.0
    return out


@small_pages()
def mean_distance(points, weights, centers, labels):
    """Twin of :func:`kseg._lloyd.mean_distance`."""
    if labels.shape[0] > 0:
        best = _sq_dist_rows(points, centers[labels])
    else:
        best = _nearest_two(points, centers)[0]
    total = _last_of_running_sum(weights * np.sqrt(best))
    weight = _last_of_running_sum(weights)
    return total / max(weight, 1.0)
