"""Weighted k-means with OpenCV's vocabulary: init, attempts, criteria.

Lloyd's algorithm over points with weights. A point of weight w counts as w
identical points, so k-means over an image's distinct colours weighted by their
pixel counts is k-means over its pixels. The Lloyd loop is compiled with numba and
skips distance computations with Hamerly's bounds, which never change the result:
every point still ends each iteration at its nearest centre.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["KMeansResult", "kmeans", "CRITERIA", "INITS"]

CRITERIA = ("eps+max_iter", "eps", "max_iter")
INITS = ("k-means++", "random")
_EPS_ONLY_MAX_ITER = 100  # OpenCV's cap when only EPS is given
_WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """The best of the attempts of :func:`kmeans`.

    Attributes
    ----------
    centers : (k, d) float64 ndarray
    labels : (n,) int32 ndarray
        Index of each point's nearest centre.
    compactness : float
        Weighted sum of squared distances from each point to its centre
        (cv2.kmeans's compactness when every weight is 1).
    n_iter : int
        Centre updates done by the best attempt.
    attempt_compactness : tuple of float
        The compactness each attempt reached, in the order they ran.
    """

    centers: np.ndarray
    labels: np.ndarray
    compactness: float
    n_iter: int
    attempt_compactness: tuple[float, ...]


def kmeans(
    points,
    k: int,
    *,
    weights=None,
    init="k-means++",
    attempts: int = 10,
    max_iter: int = 20,
    eps: float = 0.1,
    criteria: str = "eps+max_iter",
    seed: int = 0,
) -> KMeansResult:
    """Weighted k-means clustering (Lloyd), best of several attempts.

    Parameters
    ----------
    points : (n, d) array_like
        The points to cluster.
    k : int
        Number of clusters, 1 <= k <= n.
    weights : (n,) array_like, optional
        Non-negative weight of each point (e.g. a pixel count). Default: all 1.
    init : {"k-means++", "random"} or (k, d) array_like
        How centres start: k-means++ seeding (weighted, with 2 + log k local
        trials as in scikit-learn), k points drawn at random in proportion to
        their weight, or the given centres (then one attempt is enough and is
        all that runs).
    attempts : int
        Independent starts; the one with the lowest compactness wins.
    max_iter : int
        Most centre updates per attempt. 0 with given centres only assigns
        points to them (apply a saved palette).
    eps : float
        Stop once no centre moves more than ``eps``.
    criteria : {"eps+max_iter", "eps", "max_iter"}
        Which of the two stopping rules apply, as in OpenCV's TermCriteria.
        With "eps" alone at most 100 updates run (OpenCV's cap); with
        "max_iter" alone an attempt also stops when no centre moves at all.
    seed : int
        Seeds the random starts: same inputs and seed, same result.

    Returns
    -------
    KMeansResult

    Raises
    ------
    ValueError
        For parameters out of range, points that are not finite, or fewer
        points of positive weight than k.

    Examples
    --------
    >>> res = kmeans([[0.0], [1.0], [10.0], [11.0]], 2, seed=0)
    >>> sorted(res.centers.ravel().tolist())
    [0.5, 10.5]
    """
    max_iter, eps2 = _check_criteria(criteria, max_iter, eps)
    attempts = _check_int("attempts", attempts, low=1)
    X, w = _check_points(points, weights)
    k = _check_int("k", k, low=1)
    given = _check_init(init, k, X.shape[1])
    n_positive = int(np.count_nonzero(w > 0))
    if n_positive < k:
        raise ValueError(
            f"k={k} clusters need at least {k} points of positive weight; there are {n_positive}."
        )
    runs = _run_attempts(
        X, w, k, given if given is not None else init, attempts, max_iter, eps2, seed
    )
    best = min(runs, key=lambda run: run.compactness)
    return KMeansResult(
        centers=best.centers,
        labels=best.labels,
        compactness=best.compactness,
        n_iter=best.n_iter,
        attempt_compactness=tuple(run.compactness for run in runs),
    )


@dataclass(frozen=True, eq=False)
class _Run:
    centers: np.ndarray
    labels: np.ndarray
    compactness: float
    n_iter: int


def _run_attempts(X, w, k, init, attempts, max_iter, eps2, seed) -> list[_Run]:
    """Run the attempts; ``init`` is a name or a (k, d) float64 array.

    Starts are drawn in order from one seeded generator, then the Lloyd runs go
    to a thread pool (the compiled loop releases the GIL): same seed, same result.
    """
    if isinstance(init, np.ndarray):
        seeds = [lambda: init]
    elif init == "k-means++":
        # Draw every attempt's random numbers first, in order: the compiled seeding
        # then runs in the pool with the Lloyd loop, and the result stays the seed's.
        rng = np.random.default_rng(seed)
        trials = 2 + int(math.log(k))
        draws = [rng.random(1 + (k - 1) * trials) for _ in range(attempts)]
        seeds = [lambda u=u: _kmeans_plusplus_compiled(X, w, k, trials, u) for u in draws]
    else:
        rng = np.random.default_rng(seed)
        starts = [_random_points(X, w, k, rng) for _ in range(attempts)]
        seeds = [lambda c=c: c for c in starts]
    results = run_parallel(lambda start: _lloyd(X, w, start(), max_iter, eps2), seeds)
    return [_Run(c, labels, float(compactness), int(n)) for c, labels, n, compactness in results]


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def run_parallel(func, items) -> list:
    """``[func(item) for item in items]`` on a small shared thread pool, in order."""
    items = list(items)
    if len(items) < 2 or _WORKERS < 2:
        return [func(item) for item in items]
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="kseg")
    return list(_POOL.map(func, items))


def _check_criteria(criteria, max_iter, eps) -> tuple[int, float]:
    if criteria not in CRITERIA:
        raise ValueError(f"criteria must be one of {', '.join(CRITERIA)}; got {criteria!r}.")
    max_iter = _check_int("max_iter", max_iter, low=0)
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0; got {eps}.")
    if criteria == "eps":
        return _EPS_ONLY_MAX_ITER, eps * eps
    if criteria == "max_iter":
        return max_iter, 0.0
    return max_iter, eps * eps


def _check_int(name, value, *, low) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number; got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be at least {low}; got {value}.")
    return int(value)


def _check_points(points, weights) -> tuple[np.ndarray, np.ndarray]:
    X = np.ascontiguousarray(points, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"points must be a non-empty (n, d) array; got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("points must be finite (no NaN or infinity).")
    if weights is None:
        return X, np.ones(X.shape[0])
    w = np.ascontiguousarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != X.shape[0]:
        raise ValueError(f"weights has {w.shape[0]} values for {X.shape[0]} points.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and >= 0.")
    return X, w


def _check_init(init, k, d) -> np.ndarray | None:
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(
                f"init must be one of {', '.join(INITS)} or an array of centres; got {init!r}."
            )
        return None
    centers = np.array(init, dtype=np.float64)
    if centers.ndim == 1 and d == 1:
        centers = centers.reshape(-1, 1)
    if centers.shape != (k, d):
        raise ValueError(f"init centres must have shape ({k}, {d}) for k={k}; got {centers.shape}.")
    if not np.isfinite(centers).all():
        raise ValueError("init centres must be finite.")
    return np.ascontiguousarray(centers)


@numba.njit(cache=True, nogil=True)
def _kmeans_plusplus_compiled(X, w, k, trials, uniform):  # pragma: no cover - compiled
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


def _random_points(X, w, k, rng) -> np.ndarray:
    """k distinct points drawn in proportion to their weight (random pixels of an image)."""
    p = w / w.sum()
    picks = rng.choice(X.shape[0], size=k, replace=False, p=p)
    return X[np.sort(picks)].copy()


@numba.njit(cache=True, nogil=True)
def _lloyd(X, w, C0, max_iter, eps2):  # pragma: no cover - compiled
    """Weighted Lloyd iterations from centres C0 with Hamerly's bounds.

    Loop: assign every point to its nearest centre; move each centre to the
    weighted mean of its points; stop after ``max_iter`` moves or once no centre
    moved more than sqrt(eps2). A last assignment makes labels and compactness
    agree with the centres returned. An empty cluster takes the point farthest
    from its centre, as OpenCV does. Cluster sums are updated only for points
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
            _refill_empty(X, w, newC, wsum, labels)
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
def _refill_empty(X, w, C, wsum, labels):  # pragma: no cover - compiled
    """Move each empty centre onto the point farthest from its own centre."""
    n, d = X.shape
    far = np.empty(n)
    for i in range(n):
        a = labels[i]
        s2 = 0.0
        for c in range(d):
            t = X[i, c] - C[a, c]
            s2 += t * t
        far[i] = s2 if w[i] > 0.0 else -1.0
    for j in range(C.shape[0]):
        if wsum[j] > 0.0:
            continue
        i = np.argmax(far)
        if far[i] <= 0.0:
            return  # every point sits on a centre: fewer distinct points than clusters
        for c in range(d):
            C[j, c] = X[i, c]
        far[i] = -1.0
        labels[i] = j
        wsum[j] = w[i]
