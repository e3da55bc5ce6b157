"""Weighted k-means with OpenCV's vocabulary: init, attempts, criteria.

Lloyd's algorithm over points with weights. A point of weight w counts as w
identical points, so k-means over an image's distinct colours weighted by their
pixel counts is k-means over its pixels. The Lloyd loop is compiled with numba and
skips distance computations with Hamerly's bounds, which never change the result:
every point still ends each iteration at its nearest centre.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from kseg import _cores
from kseg._kernels import kmeans_plusplus, lloyd
from kseg._validation import check_criteria, check_init, check_int

__all__ = ["KMeansResult", "kmeans", "run_attempts", "run_parallel"]

_MAX_WORKERS = 4  # attempts run at once at most


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
    n_iter_total : int
        Centre updates summed over every attempt.
    attempt_compactness : tuple of float
        The compactness each attempt reached, in the order they ran.
    """

    centers: np.ndarray
    labels: np.ndarray
    compactness: float
    n_iter: int
    n_iter_total: int
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
    TypeError
        For parameters of the wrong type (``k`` not a whole number, ``init``
        neither a name nor centres, ...).

    Examples
    --------
    >>> res = kmeans([[0.0], [1.0], [10.0], [11.0]], 2, seed=0)
    >>> sorted(res.centers.ravel().tolist())
    [0.5, 10.5]
    """
    max_iter, eps2 = check_criteria(criteria, max_iter, eps)
    attempts = check_int("attempts", attempts, low=1)
    X, w = _check_points(points, weights)
    k = check_int("k", k, low=1)
    given = check_init(init, k, X.shape[1])
    n_positive = int(np.count_nonzero(w > 0))
    if n_positive < k:
        raise ValueError(
            f"k={k} clusters need at least {k} points of positive weight; there are {n_positive}."
        )
    runs = run_attempts(
        X, w, k, given if given is not None else init, attempts, max_iter, eps2, seed
    )
    best = min(runs, key=lambda run: run.compactness)
    return KMeansResult(
        centers=best.centers,
        labels=best.labels,
        compactness=best.compactness,
        n_iter=best.n_iter,
        n_iter_total=sum(run.n_iter for run in runs),
        attempt_compactness=tuple(run.compactness for run in runs),
    )


@dataclass(frozen=True, eq=False)
class _Run:
    centers: np.ndarray
    labels: np.ndarray
    compactness: float
    n_iter: int


def run_attempts(X, w, k, init, attempts, max_iter, eps2, seed) -> list[_Run]:
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
        seeds = [lambda u=u: kmeans_plusplus(X, w, k, trials, u) for u in draws]
    else:
        rng = np.random.default_rng(seed)
        starts = [_random_points(X, w, k, rng) for _ in range(attempts)]
        seeds = [lambda c=c: c for c in starts]
    results = run_parallel(lambda start: lloyd(X, w, start(), max_iter, eps2), seeds)
    return [_Run(c, labels, float(compactness), int(n)) for c, labels, n, compactness in results]


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def run_parallel(func, items) -> list:
    """``[func(item) for item in items]`` on a small shared thread pool, in order."""
    items = list(items)
    workers = min(_MAX_WORKERS, _cores.available())
    if len(items) < 2 or workers < 2:
        return [func(item) for item in items]
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="kseg")
    if workers >= len(items):
        return list(_POOL.map(func, items))
    # Fewer threads than items: ``workers`` chains, each running its items in turn.
    chains = [items[i::workers] for i in range(workers)]
    done = list(_POOL.map(lambda chain: [func(item) for item in chain], chains))
    return [done[i % workers][i // workers] for i in range(len(items))]


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


def _random_points(X, w, k, rng) -> np.ndarray:
    """k distinct points drawn in proportion to their weight (random pixels of an image)."""
    p = w / w.sum()
    picks = rng.choice(X.shape[0], size=k, replace=False, p=p)
    return X[np.sort(picks)].copy()
