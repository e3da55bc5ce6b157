"""The compiled loops behind weighted k-means (numba): seeding and Lloyd's iterations.

Each kernel releases the GIL, so attempts run on plain Python threads
(``kseg._kmeans.run_parallel``). Nothing here validates: ``kseg._kmeans`` and
``kseg._segment`` pass contiguous float64 arrays of matching shapes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["kmeans_plusplus", "lloyd", "mean_distance", "warm"]


@numba.njit(cache=True, nogil=True)
def kmeans_plusplus(X, w, k, trials, uniform):  # pragma: no cover - compiled
    """Weighted k-means++ seeding with ``trials`` local trials (Arthur & Vassilvitskii).

    The random draws are given (``uniform`` in [0, 1)), so numpy's seed decides.
    """
    n, d = X.shape
    centers = np.empty((k, d))
    cumulative = np.cumsum(w)
    first = min(np.searchsorted(cumulative, uniform[0] * cumulative[-1], side="right"), n - 1)
    centers[0] = X[first]
    closest = np.empty(n)
    for i in range(n):
        s2 = 0.0
        for c in range(d):
            t = X[i, c] - centers[0, c]
            s2 += t * t
        closest[i] = s2
    candidate = np.empty(n)
    best_dist = np.empty(n)
    for m in range(1, k):
        potential = np.cumsum(w * closest)
        total = potential[-1]
        if total <= 0.0:  # every point sits on a centre already
            for mm in range(m, k):
                centers[mm] = centers[0]
            break
        best_pot = np.inf
        best_pick = 0
        for t_ in range(trials):
            u = uniform[1 + (m - 1) * trials + t_]
            pick = min(np.searchsorted(potential, u * total, side="right"), n - 1)
            pot = 0.0
            for i in range(n):
                s2 = 0.0
                for c in range(d):
                    t = X[i, c] - X[pick, c]
                    s2 += t * t
                candidate[i] = min(closest[i], s2)
                pot += w[i] * candidate[i]
            if pot < best_pot:
                best_pot = pot
                best_pick = pick
                best_dist[:] = candidate
        centers[m] = X[best_pick]
        closest[:] = best_dist
    return centers


@numba.njit(cache=True, nogil=True)
def lloyd(X, w, C0, max_iter, eps2):  # pragma: no cover - compiled
    """Weighted Lloyd iterations from centres C0 with Hamerly's bounds.

    Loop: assign every point to its nearest centre; move each centre to the
    weighted mean of its points; stop after ``max_iter`` moves or once no centre
    moved more than sqrt(eps2). A last assignment makes labels and compactness
    agree with the centres returned. An empty cluster takes the point farthest
    from its centre, which leaves its old cluster's mean, as in OpenCV and
    scikit-learn (``_refill_empty``). Cluster sums are updated only for points
    that change cluster, so an iteration costs one pass over the bounds.
    """
    n, d = X.shape
    k = C0.shape[0]
    C = C0.copy()
    labels = np.empty(n, dtype=np.int32)
    upper = np.empty(n)
    lower = np.empty(n)
    _assign_all(X, C, labels, upper, lower)
    sums = np.zeros((k, d))
    wsum = np.zeros(k)
    _cluster_sums(X, w, labels, sums, wsum)
    shift = np.empty(k)
    half = np.empty(k)
    n_iter = 0
    while n_iter < max_iter:
        newC = C.copy()
        refill = False
        for j in range(k):
            if wsum[j] > 0.0:
                for c in range(d):
                    newC[j, c] = sums[j, c] / wsum[j]
            else:
                refill = True
        if refill:
            _refill_empty(X, w, newC, sums, wsum, labels)
        max_shift2 = 0.0
        max_shift = 0.0
        for j in range(k):
            s2 = 0.0
            for c in range(d):
                t = newC[j, c] - C[j, c]
                s2 += t * t
            shift[j] = math.sqrt(s2)
            max_shift2 = max(max_shift2, s2)
            max_shift = max(max_shift, shift[j])
        C = newC
        n_iter += 1
        if max_shift2 <= eps2 or n_iter >= max_iter:
            break
        if refill:
            _assign_all(X, C, labels, upper, lower)
            _cluster_sums(X, w, labels, sums, wsum)
            continue
        for j in range(k):
            nearest = np.inf
            for jj in range(k):
                if jj != j:
                    s2 = 0.0
                    for c in range(d):
                        t = C[j, c] - C[jj, c]
                        s2 += t * t
                    nearest = min(nearest, s2)
            half[j] = 0.5 * math.sqrt(nearest)
        for i in range(n):
            a = labels[i]
            upper[i] += shift[a]
            lower[i] -= max_shift
            bound = max(half[a], lower[i])
            if upper[i] <= bound:
                continue
            s2 = 0.0
            for c in range(d):
                t = X[i, c] - C[a, c]
                s2 += t * t
            upper[i] = math.sqrt(s2)
            if upper[i] <= bound:
                continue
            _assign_one(X, C, i, labels, upper, lower)
            b = labels[i]
            if b != a:
                wi = w[i]
                wsum[a] -= wi
                wsum[b] += wi
                for c in range(d):
                    sums[a, c] -= wi * X[i, c]
                    sums[b, c] += wi * X[i, c]
    compactness = 0.0
    for i in range(n):
        best, _second, bj = _nearest_two(X, C, i)
        labels[i] = bj
        compactness += w[i] * best
    return C, labels, n_iter, compactness


@numba.njit(cache=True, nogil=True)
def _cluster_sums(X, w, labels, sums, wsum):  # pragma: no cover - compiled
    sums[:] = 0.0
    wsum[:] = 0.0
    for i in range(X.shape[0]):
        a = labels[i]
        wi = w[i]
        wsum[a] += wi
        for c in range(X.shape[1]):
            sums[a, c] += wi * X[i, c]


@numba.njit(cache=True, nogil=True, inline="always")
def _nearest_two(X, C, i):  # pragma: no cover - compiled
    """Squared distances to the nearest and second-nearest centre, and the nearest's index.

    Ties go to the lowest index, as with numpy's argmin.
    """
    k, d = C.shape
    best = np.inf
    second = np.inf
    bj = 0
    for j in range(k):
        s2 = 0.0
        for c in range(d):
            t = X[i, c] - C[j, c]
            s2 += t * t
        # Branch-free min/max: data-dependent branches here cost 4x in mispredictions.
        second = min(second, max(s2, best))
        if s2 < best:
            bj = j
        best = min(best, s2)
    return best, second, bj


@numba.njit(cache=True, nogil=True)
def _assign_one(X, C, i, labels, upper, lower):  # pragma: no cover - compiled
    best, second, bj = _nearest_two(X, C, i)
    labels[i] = bj
    upper[i] = math.sqrt(best)
    lower[i] = math.sqrt(second) if second < np.inf else np.inf


@numba.njit(cache=True, nogil=True)
def _assign_all(X, C, labels, upper, lower):  # pragma: no cover - compiled
    for i in range(X.shape[0]):
        _assign_one(X, C, i, labels, upper, lower)


@numba.njit(cache=True, nogil=True)
def _refill_empty(X, w, C, sums, wsum, labels):  # pragma: no cover - compiled
    """Move each empty centre onto the point farthest from its own centre.

    The point leaves its cluster with its whole weight (a point is a distinct colour), and
    that cluster's mean is recomputed before the next empty centre chooses, as in OpenCV's
    kmeans.cpp (which looks in the largest cluster only). A cluster's last point of positive
    weight never leaves, so no refill empties another cluster.
    """
    n, d = X.shape
    k = C.shape[0]
    members = np.zeros(k, dtype=np.int64)
    for i in range(n):
        if w[i] > 0.0:
            members[labels[i]] += 1
    far = np.empty(n)
    for i in range(n):
        far[i] = _distance_if_movable(X, w, C, labels, members, i)
    for j in range(k):
        if wsum[j] > 0.0:
            continue
        i = np.argmax(far)
        if far[i] <= 0.0:
            return  # every point sits on a centre: fewer distinct points than clusters
        a = labels[i]
        wi = w[i]
        labels[i] = j
        members[a] -= 1
        members[j] = 1
        wsum[a] -= wi
        wsum[j] = wi
        for c in range(d):
            sums[a, c] -= wi * X[i, c]
            sums[j, c] = wi * X[i, c]
            C[a, c] = sums[a, c] / wsum[a]
            C[j, c] = X[i, c]
        far[i] = -1.0
        for ii in range(n):
            if labels[ii] == a:
                far[ii] = _distance_if_movable(X, w, C, labels, members, ii)


@numba.njit(cache=True, nogil=True, inline="always")
def _distance_if_movable(X, w, C, labels, members, i):  # pragma: no cover - compiled
    """Squared distance from point i to its centre; -1 if it weighs nothing or is alone."""
    a = labels[i]
    if w[i] <= 0.0 or members[a] <= 1:
        return -1.0
    s2 = 0.0
    for c in range(X.shape[1]):
        t = X[i, c] - C[a, c]
        s2 += t * t
    return s2


@numba.njit(cache=True, nogil=True)
def mean_distance(points, weights, centers, labels):
    """Weighted mean distance from each point to its centre ``labels[i]``; to the nearest
    centre when ``labels`` is empty. One pass, no temporary arrays."""
    n, d = points.shape
    k = centers.shape[0]
    total = 0.0
    weight = 0.0
    for i in range(n):
        if labels.shape[0] > 0:
            best = 0.0
            j = labels[i]
            for c in range(d):
                diff = points[i, c] - centers[j, c]
                best += diff * diff
        else:
            best = np.inf
            for j in range(k):
                s = 0.0
                for c in range(d):
                    diff = points[i, c] - centers[j, c]
                    s += diff * diff
                if s < best:
                    best = s
        total += weights[i] * np.sqrt(best)
        weight += weights[i]
    return total / max(weight, 1.0)


def warm() -> None:
    """Compile (or load from numba's cache) each kernel for the types kseg passes.

    ``kseg._kernels`` hands every kernel read-only inputs, so one specialisation each
    serves every caller.
    """
    from kseg import _kernels

    X = _kernels.read_only(np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [9.0, 9.0, 9.0]]))
    w = _kernels.read_only(np.array([1.0, 2.0, 1.0]))
    start = kmeans_plusplus(X, w, 2, 2, _kernels.read_only(np.full(3, 0.5)))
    centers, labels, _n, _c = lloyd(X, w, _kernels.read_only(start), 5, 0.0)
    mean_distance(X, w, _kernels.read_only(centers), _kernels.read_only(labels))
