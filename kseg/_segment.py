"""Image -> k colour segments: the histogram engine and OpenCV's reference recipe."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kseg import _jit, _objects, _pictures, _spaces  # _pictures: read at call time (imports this)
from kseg._errors import ImageError
from kseg._histogram import ColorFeatures, ColorHistogram, preview_grid
from kseg._kernels import labels_from_colors, lloyd, mean_distance, merge_small_regions
from kseg._kmeans import run_attempts, run_parallel
from kseg._opencv import opencv_kmeans
from kseg._regions import regions_kmeans
from kseg._validation import check_choice, check_criteria, check_init, check_int

__all__ = ["ENGINES", "PaletteEntry", "Segmentation", "elbow", "segment", "shrink", "suggest_k"]

ENGINES = ("histogram", "opencv")
MAX_K = 256
# The attempts run on the histogram's coarse summaries (ColorFeatures.summaries); each
# candidate is then refined on the finest summary, and the best few on the exact colours.
_PROMOTED = 4  # candidates from the coarser summaries refined on the finest
_REFINED = 3  # best candidates refined on the exact colours
_ELBOW_THREADS = 2  # k values of an elbow curve computed at once (see elbow)


@dataclass(frozen=True)
class PaletteEntry:
    """One cluster: its colour and how much of the image it covers.

    ``index`` is 0-based, as the library's arrays are (label i); people read the
    cluster as number ``index + 1``, which is what files call "cluster".
    """

    index: int
    rgb: tuple[int, int, int]
    hex: str
    count: int
    share: float
    center: tuple[float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.index + 1,
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
    n_iter_total : int
        Centre updates summed over every run k-means made: all attempts (for the
        histogram engine on many colours also the runs on the coarse summaries and
        the refinements). -1 when the engine does not report them (opencv, and
        ``regions=`` for now).
    mean_error : float
        Mean distance from an opaque pixel's colour to its cluster's centre, in
        ``color_space``: a typical colour error in the colour's own units (RGB:
        0..441; CIELAB: the CIE76 delta E, about 2.3 is just noticeable; HSV: the
        cylinder with S and V in 0..100). Computed from the histogram's distinct
        colours; with the opencv engine or ``regions=`` each colour is measured to
        its nearest centre (regions: a slight understatement).
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
    n_iter_total: int = -1
    mean_error: float = math.nan

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

        Computed on each access (0.03-0.2 s at 12 MP) rather than kept, so a
        cached Segmentation stays small; keep the array if you need it twice.
        """
        if self._pixel_labels is not None:
            return self._pixel_labels
        if self.k <= 255 and _jit.ready("components"):  # the same labels, in one pass
            return labels_from_colors(self.histogram, self._color_labels)
        return self.histogram.label_pixels(self._color_labels)

    def preview_labels(
        self, max_side: int | None = None, *, index: np.ndarray | None = None
    ) -> np.ndarray:
        """Labels of a nearest-neighbour downscale whose longer side is at most ``max_side``.

        ``index`` is the histogram's ``preview_index(max_side)``, when kept: relabelling
        a preview is then one gather (without it the index is made each call).
        """
        if max_side is None or max(self.shape) <= max_side:
            return self.labels
        if self._pixel_labels is not None:
            rows, cols = preview_grid(self.shape, max_side)
            return self._pixel_labels[rows][:, cols]
        if index is None:
            index = self.histogram.preview_index(max_side)
        table = np.append(self._color_labels.astype(np.int16), np.int16(-1))  # [-1] -> -1
        return table[index]

    def segmented_image(
        self, max_side: int | None = None, *, index: np.ndarray | None = None
    ) -> np.ndarray:
        """Every pixel painted with its cluster's colour (``index`` as for `preview_labels`).

        Returns (h, w, 3) uint8 RGB, or (h, w, 4) RGBA with transparent pixels
        kept transparent when the image has any.
        """
        labels = self.preview_labels(max_side, index=index)
        return paint(labels, self.centers_rgb, self.histogram.alpha is not None)

    def mask(
        self, clusters, max_side: int | None = None, *, index: np.ndarray | None = None
    ) -> np.ndarray:
        """(h, w) bool mask of the pixels in one cluster or a list of clusters.

        Raises
        ------
        ValueError
            If a cluster does not exist.
        """
        wanted = np.atleast_1d(np.asarray(clusters, dtype=np.int64))
        bad = wanted[(wanted < 0) | (wanted >= self.k)]
        if bad.size:
            raise ValueError(
                f"Cluster index {int(bad[0])} does not exist: indices are 0..{self.k - 1} "
                f"(the clusters people read as 1..{self.k})."
            )
        table = np.zeros(self.k + 1, dtype=bool)  # the extra entry is label -1 (transparent)
        table[wanted] = True
        return table[self.preview_labels(max_side, index=index)]

    def region_at(self, x, y, *, fill_holes: bool = True, connectivity: int = 8) -> np.ndarray:
        """The connected region of the cluster under pixel (x, y), as an (H, W) bool mask.

        Parameters
        ----------
        x, y : int
            Full-resolution column and row of the pixel.
        fill_holes : bool
            Also take every piece of other clusters the region encloses (a hole that
            does not reach the image border). Transparent pixels stay out.
        connectivity : {8, 4}
            8: pixels touching at a corner are connected; 4: only across an edge.

        Raises
        ------
        ValueError
            If the point is outside the image or on a transparent pixel.

        Examples
        --------
        >>> import numpy as np, kseg
        >>> rgb = np.zeros((5, 7, 3), np.uint8); rgb[1:4, 1:3] = 255; rgb[1:4, 4:6] = 255
        >>> seg = kseg.segment(rgb, 2)
        >>> int(seg.region_at(1, 1).sum())  # one of the two white blocks, not both
        6
        """
        return _objects.region_at(
            self.labels, x, y, fill_holes=fill_holes, connectivity=connectivity
        )

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
    features: ColorFeatures | None = None,
    max_side: int | None = None,
    min_region: int = 0,
) -> Segmentation:
    """Segment an image into k colour clusters by k-means.

    Parameters
    ----------
    image : kseg Image, (H, W, 3) uint8 ndarray or ColorHistogram
        Pass a :class:`ColorHistogram` to reuse one image's histogram across calls.
    k : int
        Clusters, 1..256. If the image has fewer distinct colours, fewer come
        back and ``warnings`` says so.
    init : {"k-means++", "random"}, (k, 3) array_like or k "#rrggbb" strings
        Starting centres; an array is read in ``color_space`` (HSV as H in
        degrees, S, V in 0..100); hex colours are converted to ``color_space``
        exactly as the image's own colours are, so a centre equal to a pixel's
        colour sits on it. With ``max_iter=0`` they are applied unchanged: a
        saved palette mapped onto a new image. A pixel as near to two centres
        goes to the one listed first.
    attempts, max_iter, eps, criteria, seed
        As in :func:`kseg.kmeans` (and cv2.kmeans).
    color_space : {"rgb", "lab", "hsv"}
        Where distances are measured; see :mod:`kseg._spaces`.
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
    features : ColorFeatures, optional
        ``hist.in_space(color_space)`` of this image, made once and passed to many
        calls (a new k or seed then skips converting the colours and summarising
        them). Made here when not given.
    max_side : int, optional
        Work on the image scaled down so its longer side is at most ``max_side``
        (:func:`shrink`), first of all; recorded in ``params``.
    min_region : int
        After clustering, every connected region (8-connected pixels of one cluster)
        smaller than this many pixels joins the neighbouring cluster it shares the
        longest border with, smallest regions first, so specks disappear;
        ``compactness``, ``mean_error``, counts and shares are then over the final
        labels (the centres stay k-means's). A region with no opaque neighbour stays.
        0 (the default) leaves the labels as k-means gave them. Recorded in
        ``params`` when above 0.

    Returns
    -------
    Segmentation

    Raises
    ------
    ValueError
        For parameters out of range, or ``regions`` or ``features`` of another image.
    TypeError
        For parameters of the wrong type (k not a whole number, ...).
    ImageError
        For pixels that cannot be used, or when no pixel is opaque.
    """
    start = time.perf_counter()
    space = _spaces.check_space(color_space)
    check_choice("engine", engine, ENGINES)
    k = check_int("k", k, low=1, high=MAX_K)
    max_iter_eff, eps2 = check_criteria(criteria, max_iter, eps)
    attempts = check_int("attempts", attempts, low=1)
    seed = check_int("seed", seed, low=0)
    min_region = check_int("min_region", min_region, low=0)
    given, init_record = _given_centers(init, k, space)
    if max_side is not None:
        max_side = check_int("max_side", max_side, low=1)
        image = shrink(image, max_side)
    hist = ColorHistogram.from_image(image)
    if hist.n_colors == 0:
        raise ImageError("Every pixel is fully transparent, so there is nothing to segment.")
    params = {
        "k": k,
        "init": init_record,
        "attempts": attempts,
        "max_iter": int(max_iter),
        "eps": float(eps),
        "criteria": criteria,
        "color_space": space,
        "seed": seed,
        "engine": engine,
    }
    if features is not None and (
        not isinstance(features, ColorFeatures)
        or features.color_space != space
        or features.n_colors != hist.n_colors
    ):
        raise ValueError(f"features must be this image's ColorHistogram.in_space({space!r}).")
    if regions is not None:
        if engine != "histogram":
            raise ValueError("regions work with the histogram engine only.")
        labels = getattr(regions, "labels", None)
        if labels is None or labels.shape != hist.shape:
            raise ValueError("regions must be kseg.superpixels(...) of this same image.")
        asked = getattr(regions, "params", None) or {"n_segments": int(regions.n_regions)}
        params["regions"] = int(asked["n_segments"])  # asked for, as the command says
        for name in ("compactness", "max_iter", "color_space"):
            if name in asked:
                params[f"region_{name}"] = asked[name]
    if max_side is not None:
        params["max_side"] = max_side
    if min_region:
        params["min_region"] = min_region
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
    pixel_labels = color_labels = None
    if regions is not None:
        centers, pixel_labels, n_iter, compactness, notes = regions_kmeans(
            hist, regions, k, run_init, attempts, max_iter_eff, eps2, space, seed
        )
        n_iter_total = -1  # regions_kmeans does not carry it yet
    elif engine == "opencv":
        centers, pixel_labels, compactness = opencv_kmeans(
            hist, k_run, run_init, attempts, max_iter_eff, eps, criteria, space, seed
        )
        n_iter = n_iter_total = -1  # cv2.kmeans does not report it
    else:
        features = features if features is not None else hist.in_space(space)
        centers, color_labels, n_iter, compactness, n_iter_total = _histogram(
            features, k_run, run_init, attempts, max_iter_eff, eps2, seed
        )
    points = features.points if features is not None else hist.features(space)
    error = _mean_distance(points, hist.weights, centers, color_labels)
    counts = None
    if min_region > 1:
        pixel_labels, compactness, error, counts = _merge_small(
            hist, centers, color_labels, pixel_labels, compactness, error, space, min_region, notes
        )
        color_labels = None
    return _finish(
        hist, centers, color_labels, pixel_labels, (n_iter, n_iter_total, error), compactness,
        space, notes, params, start, counts,
    )  # fmt: skip


def elbow(
    image, ks=range(2, 13), *, attempts: int = 3, color_space: str = "rgb", seed: int = 0, **kwargs
) -> dict[int, float]:
    """Compactness for each k in ``ks``, reusing one histogram: the data for an elbow chart.

    Each k is :func:`segment` alone with one seed, so its value does not depend on the
    other k asked for. Two k run at a time. Other keyword arguments go to :func:`segment`
    (``features=`` too: made here once for every k when not given). Returns
    ``{k: compactness}`` in the order of ``ks``.
    """
    hist = ColorHistogram.from_image(image)
    features = kwargs.pop("features", None) or hist.in_space(color_space)

    def compactness(k) -> float:
        return segment(
            hist, int(k), attempts=attempts, color_space=color_space, seed=seed,
            features=features, **kwargs,
        ).compactness  # fmt: skip

    ks = [int(k) for k in ks]
    if len(ks) < 2:
        return {k: compactness(k) for k in ks}
    # Two k at once: while one is between phases (Python, seeding, a last refinement on
    # one thread), the other's kernels keep the shared pool busy. These threads only wait.
    with ThreadPoolExecutor(max_workers=_ELBOW_THREADS, thread_name_prefix="kseg-elbow") as pool:
        return dict(zip(ks, pool.map(compactness, ks), strict=True))


def suggest_k(curve: dict[int, float]) -> int:
    """The elbow of a compactness curve: the k past which one more colour stops paying.

    One more colour is worth it if it cuts compactness by at least 15 % (a factor 0.85).
    The suggestion is the k that minimises ``log(compactness) + k * log(1 / 0.85)``:
    from there, no larger k in the curve cuts compactness by 15 % per extra colour on
    average. Compactness 0 (k at least the number of distinct colours) is the best fit
    there is, so the first k reaching it is suggested.

    The rule looks at each k's own compactness on a fixed scale, not at the curve
    normalised between its first and last k (a chord from end to end moves with the range,
    and with it the elbow). So a longer range changes the suggestion only if a k past the
    old end is a second, deeper elbow; a photo's log compactness flattens as k grows, so
    this is rare. A range that ends before the curve flattens suggests its last k.

    Examples
    --------
    >>> suggest_k({2: 1000.0, 3: 400.0, 4: 100.0, 5: 95.0, 6: 91.0, 7: 88.0})
    4
    """
    if not curve:
        raise ValueError("suggest_k needs a compactness curve with at least one k.")
    ks = np.array(sorted(curve), dtype=np.int64)
    values = np.array([curve[int(k)] for k in ks], dtype=np.float64)
    floor = values.max() * 1e-9 if values.max() > 0 else 1.0  # 0 fits exactly: the best
    worth_a_colour = 0.15  # the share of compactness one more colour must cut
    score = np.log(np.maximum(values, floor)) - ks * math.log(1.0 - worth_a_colour)
    return int(ks[int(np.argmin(score))])


def paint(labels: np.ndarray, colors: np.ndarray, transparent: bool) -> np.ndarray:
    """Paint labels with colours; label -1 becomes transparent (RGBA) or black (RGB)."""
    channels = 4 if transparent else 3
    table = np.zeros((colors.shape[0] + 1, channels), dtype=np.uint8)
    table[:-1, :3] = colors
    if transparent:
        table[:-1, 3] = 255
    return table[labels]


def shrink(image, max_side: int) -> ColorHistogram:
    """The image scaled down so its longer side is at most ``max_side``, as a histogram.

    Area averaging (:func:`kseg.downscale`) when every pixel is opaque; nearest
    neighbour otherwise, which keeps transparency exact and mixes in no hidden
    colour. An image already that small comes back as it is. The page's
    Superpixels tab and ``kseg segment --max-side`` both work on this.
    """
    max_side = check_int("max_side", max_side, low=1)
    hist = ColorHistogram.from_image(image)
    if max(hist.shape) <= max_side:
        return hist
    if hist.alpha is None:
        return ColorHistogram(_pictures.downscale(hist.rgb, None, max_side))
    rows, cols = preview_grid(hist.shape, max_side)
    return ColorHistogram(hist.rgb[rows][:, cols], hist.alpha[rows][:, cols])


def _given_centers(init, k, space) -> tuple[np.ndarray | None, Any]:
    """Given centres as k-means points (None for a named start), and how params record init.

    Hex colours go through the image's own colour conversion, so a centre equal to
    a pixel's colour is exactly that pixel's point (ties then break the same way
    however the colours were given); params keep them as hex, as people gave them.
    """
    if _is_hex_list(init):
        hexes = [str(h).lower() for h in init]
        if len(hexes) != k:
            raise ValueError(f"init has {len(hexes)} colours for k={k}; give one per cluster.")
        rgb = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hexes], np.uint8)
        return np.ascontiguousarray(_spaces.to_features(rgb, space)), hexes
    centers = check_init(init, k, 3)
    if centers is None:
        return None, init
    record = centers.tolist()  # as given, in ``space`` (HSV: H in degrees, S, V)
    if space == "hsv":  # (H, S, V) as people write them -> cylinder
        angle = np.deg2rad(centers[:, 0])
        centers = np.stack(
            [centers[:, 1] * np.cos(angle), centers[:, 1] * np.sin(angle), centers[:, 2]], axis=1
        )
        centers = np.ascontiguousarray(centers)
    return centers, record


def _is_hex_list(init) -> bool:
    """True for a list or tuple of strings; each must then be a #rrggbb colour."""
    if isinstance(init, str | np.ndarray) or not isinstance(init, list | tuple) or not init:
        return False
    if not all(isinstance(h, str) for h in init):
        return False
    for h in init:
        if len(h) != 7 or h[0] != "#" or any(c not in "0123456789abcdefABCDEF" for c in h[1:]):
            raise ValueError("init colours must be written #rrggbb, e.g. #ff8800.")
    return True


def _histogram(features: ColorFeatures, k, init, attempts, max_iter, eps2, seed):
    """Weighted k-means over the distinct colours, started on their coarse summaries."""
    X, w = features.points, features.weights
    if isinstance(init, np.ndarray):
        centers, labels, n_iter, compactness = lloyd(X, w, init, max_iter, eps2)
        return centers, labels, n_iter, compactness, n_iter
    if not features.summaries:
        runs = run_attempts(X, w, k, init, attempts, max_iter, eps2, seed)
        best = min(runs, key=lambda run: run.compactness)
        total = sum(run.n_iter for run in runs)
        return best.centers, best.labels, best.n_iter, best.compactness, total
    runs = [
        run_attempts(Xc, wc, k, init, attempts, max_iter, eps2, seed + level)
        for level, (Xc, wc) in enumerate(features.summaries)
    ]
    # Candidates from the coarser summaries: the best few, by their fit to the finest
    # summary, are refined there; the finest summary's own runs are converged already.
    Xf, wf = features.summaries[-1]
    coarser = [run.centers for level in runs[:-1] for run in level]
    fit = [r[3] for r in run_parallel(lambda c: lloyd(Xf, wf, c, 0, 0.0), coarser)]
    chosen = [coarser[i] for i in np.argsort(fit, kind="stable")[:_PROMOTED]]
    refined = run_parallel(lambda c: lloyd(Xf, wf, c, max_iter, eps2), chosen)
    candidates = [(r[3], r[0]) for r in refined] + [(r.compactness, r.centers) for r in runs[-1]]
    candidates.sort(key=lambda c: c[0])
    finals = run_parallel(lambda c: lloyd(X, w, c[1], max_iter, eps2), candidates[:_REFINED])
    total = sum(run.n_iter for level in runs for run in level)
    total += sum(int(r[2]) for r in refined) + sum(int(r[2]) for r in finals)
    return (*min(finals, key=lambda result: result[3]), total)


def _finish(
    hist,
    centers,
    color_labels,
    pixel_labels,
    n_iters,
    compactness,
    space,
    notes,
    params,
    start,
    counts=None,
) -> Segmentation:
    """Order clusters by size, drop empty ones, and package the result.

    ``n_iters`` is (winning run's centre updates, all runs' centre updates, mean error);
    ``counts``, when known, the pixels of each label.
    """
    n_iter, n_iter_total, mean_error = n_iters
    k = centers.shape[0]
    if counts is not None:
        counts = np.asarray(counts, dtype=np.int64)
    elif color_labels is not None:
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
    if pixel_labels is not None and not np.array_equal(order, np.arange(k)):
        pixel_labels = relabel[pixel_labels]
    centers = centers[order]
    counts = counts[order]
    if not math.isfinite(compactness):
        raise RuntimeError("k-means produced a non-finite compactness; please report this image.")
    return Segmentation(
        centers=_spaces.features_to_centers(centers, space),
        centers_rgb=_spaces.centers_to_rgb(centers, space),
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
        n_iter_total=int(n_iter_total),
        mean_error=float(mean_error),
    )


def _merge_small(hist, centers, color_labels, pixel_labels, compactness, error, space, size, notes):
    """Pixel labels with regions under ``size`` pixels merged away, and the compactness
    and mean error over them: the k-means values plus the change of each moved pixel."""
    k = centers.shape[0]
    if pixel_labels is not None:
        labels = pixel_labels
    elif k <= 255:
        labels = labels_from_colors(hist, color_labels)
    else:
        labels = hist.label_pixels(color_labels)
    merged, n_merged, moved, counts = merge_small_regions(labels, size, k)
    if not n_merged:
        return labels, compactness, error, counts
    points = _spaces.to_features(hist.rgb.reshape(-1, 3)[moved], space)
    d_before = np.square(points - centers[labels.ravel()[moved]]).sum(axis=1)
    d_after = np.square(points - centers[merged.ravel()[moved]]).sum(axis=1)
    compactness = float(compactness) + float(d_after.sum() - d_before.sum())
    total = hist.n_opaque * error + float(np.sqrt(d_after).sum() - np.sqrt(d_before).sum())
    emptied = int(np.count_nonzero(counts == 0))
    if emptied and not notes:
        notes.append(
            f"min_region={size} merged every region of {emptied} of the {k} clusters "
            f"into its neighbours, so {k - emptied} come back."
        )
    return merged, max(compactness, 0.0), total / max(hist.n_opaque, 1), counts


def _mean_distance(points, weights, centers, labels=None) -> float:
    """Weighted mean distance from each point to its centre (``labels``), else the nearest."""
    if labels is None:
        labels = np.empty(0, np.int32)
    return float(
        mean_distance(
            np.ascontiguousarray(points, dtype=np.float64),
            np.ascontiguousarray(weights, dtype=np.float64),
            np.ascontiguousarray(centers, dtype=np.float64),
            np.ascontiguousarray(labels, dtype=np.int32),
        )
    )
