"""Image -> k colour segments: the histogram engine and OpenCV's reference recipe."""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from kseg import spaces
from kseg.errors import ImageError
from kseg.histogram import ColorHistogram, pack_rgb, preview_grid
from kseg.kmeans import (
    _check_criteria,
    _check_init,
    _check_int,
    _lloyd,
    _run_attempts,
    run_parallel,
)

__all__ = ["ENGINES", "PaletteEntry", "Segmentation", "elbow", "segment", "suggest_k"]

ENGINES = ("histogram", "opencv")
MAX_K = 256
# Below this many distinct colours the attempts run on the exact colours directly.
_COARSE_MIN_COLORS = 20_000
# The attempts run on three coarse summaries, 16, 32 and 64 levels per channel:
# different summaries lead k-means++ into different local optima (one summary alone
# often lands every attempt in the same one). Each candidate is then refined on the
# finest summary, and the best few on the exact colours.
_COARSE_LEVELS = (4, 5, 6)  # bits per channel
_PROMOTED = 4  # candidates from the coarser summaries refined on the finest
_REFINED = 3  # best candidates refined on the exact colours


@dataclass(frozen=True)
class PaletteEntry:
    """One cluster: its colour and how much of the image it covers."""

    index: int
    rgb: tuple[int, int, int]
    hex: str
    count: int
    share: float
    center: tuple[float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "hex": self.hex,
            "rgb": list(self.rgb),
            "count": self.count,
            "share": round(self.share, 6),
            "center": [round(v, 4) for v in self.center],
        }


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The result of :func:`segment`.

    Clusters are numbered by decreasing pixel count: label 0 is the largest.

    Attributes
    ----------
    centers : (c, 3) float64 ndarray
        Cluster centres in ``color_space`` (HSV: hue in degrees, S and V in 0..100).
    centers_rgb : (c, 3) uint8 ndarray
        The colour each cluster is painted with.
    counts : (c,) int64 ndarray
        Opaque pixels in each cluster.
    shares : (c,) float64 ndarray
        ``counts`` as fractions of the opaque pixels.
    compactness : float
        Sum over all opaque pixels of the squared distance to their centre, in
        ``color_space`` (cv2.kmeans's compactness).
    n_iter : int
        Centre updates of the winning run (for the histogram engine, on the exact
        colours); -1 for the opencv engine, as cv2.kmeans does not report it.
    seconds : float
        Wall time of :func:`segment`.
    warnings : tuple of str
        Plain-English notes on degenerate outcomes (fewer clusters than asked).
    params : dict
        The parameters that produced this result, enough to reproduce it.
    """

    centers: np.ndarray
    centers_rgb: np.ndarray
    counts: np.ndarray
    shares: np.ndarray
    compactness: float
    n_iter: int
    seconds: float
    warnings: tuple[str, ...]
    params: dict[str, Any]
    histogram: ColorHistogram = field(repr=False)
    _color_labels: np.ndarray | None = field(default=None, repr=False)
    _pixel_labels: np.ndarray | None = field(default=None, repr=False)

    @property
    def k(self) -> int:
        """Number of clusters returned (at most the k asked for)."""
        return int(self.centers.shape[0])

    @property
    def color_space(self) -> str:
        return self.params["color_space"]

    @property
    def shape(self) -> tuple[int, int]:
        return self.histogram.shape

    @property
    def labels(self) -> np.ndarray:
        """(H, W) int16 cluster label of every pixel; -1 where it is transparent.

        Computed on each access (about 60 ms at 12 MP) rather than kept, so a
        cached Segmentation stays small; keep the array if you need it twice.
        """
        if self._pixel_labels is not None:
            return self._pixel_labels
        return self.histogram.label_pixels(self._color_labels)

    def preview_labels(self, max_side: int | None = None) -> np.ndarray:
        """Labels of a nearest-neighbour downscale whose longer side is at most ``max_side``."""
        if max_side is None or max(self.shape) <= max_side:
            return self.labels
        if self._pixel_labels is not None:
            rows, cols = preview_grid(self.shape, max_side)
            return self._pixel_labels[rows][:, cols]
        table = np.append(self._color_labels.astype(np.int16), np.int16(-1))  # [-1] -> -1
        return table[self.histogram.preview_index(max_side)]

    def segmented_image(self, max_side: int | None = None) -> np.ndarray:
        """Every pixel painted with its cluster's colour.

        Returns (h, w, 3) uint8 RGB, or (h, w, 4) RGBA with transparent pixels
        kept transparent when the image has any.
        """
        return paint(
            self.preview_labels(max_side), self.centers_rgb, self.histogram.alpha is not None
        )

    def mask(self, clusters, max_side: int | None = None) -> np.ndarray:
        """(h, w) bool mask of the pixels in one cluster or a list of clusters."""
        wanted = np.atleast_1d(np.asarray(clusters, dtype=np.int64))
        bad = wanted[(wanted < 0) | (wanted >= self.k)]
        if bad.size:
            raise ValueError(f"Cluster {int(bad[0])} does not exist; clusters are 0..{self.k - 1}.")
        table = np.zeros(self.k + 1, dtype=bool)  # the extra entry is label -1 (transparent)
        table[wanted] = True
        return table[self.preview_labels(max_side)]

    def palette(self) -> list[PaletteEntry]:
        """The clusters as palette entries, largest first."""
        return [
            PaletteEntry(
                index=i,
                rgb=tuple(int(v) for v in self.centers_rgb[i]),
                hex="#{:02x}{:02x}{:02x}".format(*(int(v) for v in self.centers_rgb[i])),
                count=int(self.counts[i]),
                share=float(self.shares[i]),
                center=tuple(float(v) for v in self.centers[i]),
            )
            for i in range(self.k)
        ]


def segment(
    image,
    k: int = 4,
    *,
    init="k-means++",
    attempts: int = 10,
    max_iter: int = 20,
    eps: float = 0.1,
    criteria: str = "eps+max_iter",
    color_space: str = "rgb",
    seed: int = 0,
    engine: str = "histogram",
    regions=None,
) -> Segmentation:
    """Segment an image into k colour clusters by k-means.

    Parameters
    ----------
    image : kseg Image, (H, W, 3) uint8 ndarray or ColorHistogram
        Pass a :class:`ColorHistogram` to reuse one image's histogram across calls.
    k : int
        Clusters, 1..256. If the image has fewer distinct colours, fewer come
        back and ``warnings`` says so.
    init : {"k-means++", "random"} or (k, 3) array_like
        Starting centres; an array is read in ``color_space`` (HSV as H in
        degrees, S, V in 0..100). With ``max_iter=0`` it is applied unchanged:
        a saved palette mapped onto a new image.
    attempts, max_iter, eps, criteria, seed
        As in :func:`kseg.kmeans` (and cv2.kmeans).
    color_space : {"rgb", "lab", "hsv"}
        Where distances are measured; see :mod:`kseg.spaces`.
    engine : {"histogram", "opencv"}
        ``"histogram"``: weighted k-means over the distinct colours. Below
        20,000 distinct colours the attempts run on them directly. Above, the
        attempts run on three coarse summaries (colours averaged in RGB cells of
        16, 32 and 64 levels per channel; ``attempts`` starts on each); the four
        best candidates of the two coarser ones are refined on the finest, and
        the three best of all are refined on the exact colours, all with the
        same criteria; the best refined result wins. ``"opencv"``: the classic
        recipe, cv2.kmeans on every opaque pixel (slow; for comparison).
    regions : Superpixels, optional
        Regions then colours: cluster the regions' mean colours, each weighted by
        its pixel count, so every region goes whole into one cluster and the
        segments follow object edges instead of speckling. ``compactness`` stays
        over all opaque pixels (it adds each region's own spread). Histogram
        engine only.

    Returns
    -------
    Segmentation

    Raises
    ------
    ValueError
        For parameters out of range.
    ImageError
        When no pixel is opaque.
    """
    start = time.perf_counter()
    space = spaces.check_space(color_space)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
    k = _check_int("k", k, low=1)
    if k > MAX_K:
        raise ValueError(f"k must be at most {MAX_K}; got {k}.")
    max_iter_eff, eps2 = _check_criteria(criteria, max_iter, eps)
    attempts = _check_int("attempts", attempts, low=1)
    seed = _check_int("seed", seed, low=0)
    given = None if isinstance(init, str) else _given_centers(init, k, space)
    if given is None:
        _check_init(init, k, 3)
    hist = ColorHistogram.from_image(image)
    if hist.n_colors == 0:
        raise ImageError("Every pixel is fully transparent, so there is nothing to segment.")
    params = {
        "k": k,
        "init": init if isinstance(init, str) else given.tolist(),
        "attempts": attempts,
        "max_iter": int(max_iter),
        "eps": float(eps),
        "criteria": criteria,
        "color_space": space,
        "seed": seed,
        "engine": engine,
    }
    if regions is not None:
        if engine != "histogram":
            raise ValueError("regions work with the histogram engine only.")
        labels = getattr(regions, "labels", None)
        if labels is None or labels.shape != hist.shape:
            raise ValueError("regions must be kseg.superpixels(...) of this same image.")
        params["regions"] = int(regions.n_regions)
    notes = []
    k_run = k
    if given is None and hist.n_colors < k:
        k_run = hist.n_colors
        notes.append(
            f"k={k} was asked for, but the image has only {hist.n_colors} distinct "
            f"colour{'s' if hist.n_colors != 1 else ''}, so {k_run} cluster"
            f"{'s come' if k_run != 1 else ' comes'} back."
        )
    run_init = given if given is not None else init
    if regions is not None:
        centers, pixel_labels, n_iter, compactness, notes = _regions(
            hist, regions, k, run_init, attempts, max_iter_eff, eps2, space, seed
        )
        color_labels = None
    elif engine == "opencv":
        centers, color_labels, pixel_labels, n_iter, compactness = _opencv(
            hist, k_run, run_init, attempts, max_iter_eff, eps, criteria, space, seed
        )
    else:
        centers, color_labels, n_iter, compactness = _histogram(
            hist, k_run, run_init, attempts, max_iter_eff, eps2, space, seed
        )
        pixel_labels = None
    return _finish(
        hist, centers, color_labels, pixel_labels, n_iter, compactness, space, notes, params, start
    )


def elbow(
    image, ks=range(2, 13), *, attempts: int = 3, color_space: str = "rgb", seed: int = 0, **kwargs
) -> dict[int, float]:
    """Compactness for each k in ``ks``, reusing one histogram: the data for an elbow chart.

    Other keyword arguments go to :func:`segment`. Returns ``{k: compactness}``.
    """
    hist = ColorHistogram.from_image(image)
    return {
        int(k): segment(
            hist, int(k), attempts=attempts, color_space=color_space, seed=seed, **kwargs
        ).compactness
        for k in ks
    }


def suggest_k(curve: dict[int, float]) -> int:
    """The elbow of a compactness curve: the k farthest below the chord from first to last.

    Uses the Kneedle idea on a log scale of compactness, which suits its fast decay.
    """
    ks = np.array(sorted(curve), dtype=np.float64)
    if ks.size < 3:
        return int(ks[0])
    values = np.log(np.maximum([curve[int(k)] for k in ks], 1e-12))
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    span = values[0] - values[-1]
    if span <= 0:
        return int(ks[0])
    y = (values[0] - values) / span
    return int(ks[int(np.argmax(y - x))])


def paint(labels: np.ndarray, colors: np.ndarray, transparent: bool) -> np.ndarray:
    """Paint labels with colours; label -1 becomes transparent (RGBA) or black (RGB)."""
    channels = 4 if transparent else 3
    table = np.zeros((colors.shape[0] + 1, channels), dtype=np.uint8)
    table[:-1, :3] = colors
    if transparent:
        table[:-1, 3] = 255
    return table[labels]


def _given_centers(init, k, space) -> np.ndarray:
    centers = np.array(init, dtype=np.float64)
    if centers.shape != (k, 3):
        raise ValueError(f"init centres must have shape ({k}, 3) for k={k}; got {centers.shape}.")
    if not np.isfinite(centers).all():
        raise ValueError("init centres must be finite.")
    if space == "hsv":  # (H, S, V) as people write them -> the cylinder's coordinates
        angle = np.deg2rad(centers[:, 0])
        centers = np.stack(
            [centers[:, 1] * np.cos(angle), centers[:, 1] * np.sin(angle), centers[:, 2]], axis=1
        )
    return np.ascontiguousarray(centers)


def _histogram(hist, k, init, attempts, max_iter, eps2, space, seed):
    X = hist.features(space)
    w = hist.weights
    if isinstance(init, np.ndarray):
        centers, labels, n_iter, compactness = _lloyd(X, w, init, max_iter, eps2)
        return centers, labels, n_iter, compactness
    if hist.n_colors < _COARSE_MIN_COLORS:
        runs = _run_attempts(X, w, k, init, attempts, max_iter, eps2, seed)
        best = min(runs, key=lambda run: run.compactness)
        return best.centers, best.labels, best.n_iter, best.compactness
    runs = []
    for level, bits in enumerate(_COARSE_LEVELS):
        Xc, wc = _coarse_summary(hist, space, bits)
        runs.append(_run_attempts(Xc, wc, k, init, attempts, max_iter, eps2, seed + level))
    # Candidates from the coarser summaries: the best few, by their fit to the finest
    # summary, are refined there; the finest summary's own runs are converged already.
    Xf, wf = _coarse_summary(hist, space, _COARSE_LEVELS[-1])
    coarser = [run.centers for level in runs[:-1] for run in level]
    fit = [r[3] for r in run_parallel(lambda c: _lloyd(Xf, wf, c, 0, 0.0), coarser)]
    chosen = [coarser[i] for i in np.argsort(fit, kind="stable")[:_PROMOTED]]
    refined = run_parallel(lambda c: _lloyd(Xf, wf, c, max_iter, eps2), chosen)
    candidates = [(r[3], r[0]) for r in refined] + [(r.compactness, r.centers) for r in runs[-1]]
    candidates.sort(key=lambda c: c[0])
    finals = run_parallel(lambda c: _lloyd(X, w, c[1], max_iter, eps2), candidates[:_REFINED])
    return min(finals, key=lambda result: result[3])


def _regions(hist, regions, k, init, attempts, max_iter, eps2, space, seed):
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
        centers, labels, n_iter, compactness = _lloyd(means, weights, init, max_iter, eps2)
    else:
        runs = _run_attempts(means, weights, k_run, init, attempts, max_iter, eps2, seed)
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
    table = np.empty(1 << 24, dtype=np.int32)  # only colours present are ever read
    table[hist.keys] = np.arange(hist.n_colors, dtype=np.int32)
    norms = np.einsum("ij,ij->i", features, features)
    sums = np.zeros((n_regions, 3))
    squares = np.zeros(n_regions)
    sizes = np.zeros(n_regions, dtype=np.int64)
    for r0 in range(0, hist.shape[0], rows_per_chunk):
        labels = region_labels[r0 : r0 + rows_per_chunk].ravel()
        index = table[pack_rgb(hist.rgb[r0 : r0 + rows_per_chunk])].ravel()
        inside = labels >= 0
        labels, index = labels[inside], index[inside]
        sizes += np.bincount(labels, minlength=n_regions)
        squares += np.bincount(labels, weights=norms[index], minlength=n_regions)
        for j in range(3):
            sums[:, j] += np.bincount(labels, weights=features[index, j], minlength=n_regions)
    return sums, squares, sizes


def _coarse_summary(hist, space, bits):
    """The distinct colours averaged within RGB cells of 2^(8-bits) levels a side.

    Returns (C, 3) points (the weighted mean of each non-empty cell, in ``space``)
    and (C,) weights (the cell's pixel count); computed once per histogram.
    """

    def build():
        c = (hist.colors >> (8 - bits)).astype(np.intp)
        cell = (c[:, 0] << (2 * bits)) | (c[:, 1] << bits) | c[:, 2]
        size = 1 << (3 * bits)
        w = hist.weights
        wsum = np.bincount(cell, weights=w, minlength=size)
        used = np.flatnonzero(wsum)
        X = hist.features(space)
        points = np.empty((used.size, 3))
        for j in range(3):
            points[:, j] = np.bincount(cell, weights=w * X[:, j], minlength=size)[used]
        points /= wsum[used, None]
        return np.ascontiguousarray(points), np.ascontiguousarray(wsum[used])

    return hist.cached(f"coarse/{space}/{bits}", build)


def _opencv(hist, k, init, attempts, max_iter, eps, criteria, space, seed):
    """The classic recipe: cv2.kmeans on every opaque pixel, as float32."""
    rgb = hist.rgb.reshape(-1, 3)
    opaque = None if hist.alpha is None else hist.alpha.reshape(-1)
    pixels = rgb if opaque is None else rgb[opaque]
    data = spaces.to_features(pixels, space).astype(np.float32)
    kind = {
        "eps+max_iter": cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER,
        "eps": cv2.TERM_CRITERIA_EPS,
        "max_iter": cv2.TERM_CRITERIA_MAX_ITER,
    }[criteria]
    cv2.setRNGSeed(seed)
    # One point per row, its coordinates as channels: cv2.kmeans reads a one-row (1, 3)
    # array (an image with a single opaque pixel) as three one-dimensional points.
    samples = data.reshape(-1, 1, 3)
    if isinstance(init, np.ndarray):
        start = _nearest(data, init.astype(np.float32))
        if max_iter == 0:
            centers = init.astype(np.float32)
            labels = start
        elif data.shape[0] < k:  # cv2.kmeans needs at least k points
            n = data.shape[0]
            raise ImageError(
                f"The OpenCV engine needs at least as many opaque pixels as clusters (k={k}), "
                f"but the image has {n} opaque pixel{'s' if n != 1 else ''}. Use the kseg "
                "engine, or fewer starting colours."
            )
        else:
            _, labels, centers = cv2.kmeans(
                samples,
                k,
                start.reshape(-1, 1),
                (kind, max_iter, eps),
                1,
                cv2.KMEANS_USE_INITIAL_LABELS,
            )
    else:
        flags = cv2.KMEANS_PP_CENTERS if init == "k-means++" else cv2.KMEANS_RANDOM_CENTERS
        _, labels, centers = cv2.kmeans(samples, k, None, (kind, max_iter, eps), attempts, flags)
    labels = labels.reshape(-1).astype(np.int32)
    centers = centers.astype(np.float64)
    # Compactness in float64 from cv2's own labels, comparable with the histogram engine's.
    compactness = 0.0
    for lo in range(0, data.shape[0], 1 << 20):
        diff = data[lo : lo + (1 << 20)].astype(np.float64) - centers[labels[lo : lo + (1 << 20)]]
        compactness += float(np.einsum("ij,ij->", diff, diff))
    pixel_labels = np.full(rgb.shape[0], -1, dtype=np.int16)
    if opaque is None:
        pixel_labels[:] = labels
    else:
        pixel_labels[opaque] = labels
    return centers, None, pixel_labels.reshape(hist.shape), -1, compactness  # cv2: n_iter unknown


def _nearest(data, centers):
    best = np.full(data.shape[0], np.inf, dtype=np.float32)
    labels = np.zeros(data.shape[0], dtype=np.int32)
    for j, c in enumerate(centers):
        diff = data - c
        d2 = np.einsum("ij,ij->i", diff, diff)
        closer = d2 < best
        best[closer] = d2[closer]
        labels[closer] = j
    return labels


def _finish(
    hist, centers, color_labels, pixel_labels, n_iter, compactness, space, notes, params, start
) -> Segmentation:
    """Order clusters by size, drop empty ones, and package the result."""
    k = centers.shape[0]
    if color_labels is not None:
        counts = np.bincount(color_labels, weights=hist.counts, minlength=k).astype(np.int64)
    else:
        counts = np.bincount(pixel_labels[pixel_labels >= 0].ravel(), minlength=k).astype(np.int64)
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    if order.size < k and not notes:
        notes.append(
            f"{k - order.size} of the {k} clusters ended up empty and were dropped; "
            f"{order.size} come back."
        )
    relabel = np.full(k + 1, -1, dtype=np.int16)  # the extra entry keeps -1 as -1
    relabel[order] = np.arange(order.size, dtype=np.int16)
    if color_labels is not None:
        color_labels = relabel[color_labels]
    if pixel_labels is not None:
        pixel_labels = relabel[pixel_labels]
    centers = centers[order]
    counts = counts[order]
    if not math.isfinite(compactness):
        raise RuntimeError("k-means produced a non-finite compactness; please report this image.")
    return Segmentation(
        centers=spaces.features_to_centers(centers, space),
        centers_rgb=spaces.centers_to_rgb(centers, space),
        counts=counts,
        shares=counts / max(int(counts.sum()), 1),
        compactness=float(compactness),
        n_iter=int(n_iter),
        seconds=time.perf_counter() - start,
        warnings=tuple(notes),
        params=params,
        histogram=hist,
        _color_labels=color_labels,
        _pixel_labels=pixel_labels,
    )
