"""SLIC superpixels: k-means in colour and image position, each centre local.

``superpixels(image)`` splits a photo into roughly ``n_segments`` compact
regions of similar colour (Achanta et al., "SLIC Superpixels Compared to
State-of-the-Art Superpixel Methods", TPAMI 2012). The hot loops are numba
kernels in :mod:`kseg._slic` (or, until they are compiled, their numpy twins in
:mod:`kseg._slic_np`, bit for bit the same; see :mod:`kseg._jit`); this module
validates, converts colours once, runs the kernels on horizontal strips of rows
in parallel threads and packs the result.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import cv2
import numpy as np

from kseg import _cores, _jit
from kseg._errors import ImageError
from kseg._validation import as_rgb_alpha, check_choice, check_int, check_number

__all__ = ["Superpixels", "superpixels"]

_COLOR_SPACES = ("lab", "rgb")

# A connected piece smaller than this fraction of the expected superpixel size
# is merged into a neighbour (SLIC's EnforceLabelConnectivity uses 1/4).
_MIN_SIZE_FRACTION = 0.25

# Horizontal strips of rows that the kernels work on, in parallel threads.
_N_STRIPS = 8

# Rows converted to CIELAB per call: about 1 MB of float32 at 4000 columns.
_CONVERT_ROWS = 32


@dataclass(frozen=True, eq=False)
class Superpixels:
    """The superpixels of one image.

    Attributes
    ----------
    labels : (H, W) ndarray of int32
        Region of each pixel, ``0 .. n_regions - 1``; -1 for fully transparent
        pixels, which belong to no region. With connectivity enforced, each
        label is one 4-connected region.
    n_regions : int
        Number of regions.
    mean_colors : (n_regions, 3) ndarray of float64
        Mean RGB colour of each region.
    sizes : (n_regions,) ndarray of int64
        Pixel count of each region.
    centroids : (n_regions, 2) ndarray of float64
        Mean (row, col) of each region.
    seconds : float
        Wall time of the :func:`superpixels` call that made this.
    rgb : (H, W, 3) ndarray of uint8
        The segmented image (not copied; :meth:`overlay` draws on a copy).
    warnings : tuple of str
        Plain-English notes on degenerate outcomes (more superpixels asked for
        than the image has pixels).
    params : dict
        What was asked for: ``n_segments``, ``compactness``, ``max_iter``,
        ``color_space`` and ``enforce_connectivity`` (``n_regions`` is what SLIC
        found, usually a little more or less than ``n_segments``).
    """

    labels: np.ndarray
    n_regions: int
    mean_colors: np.ndarray
    sizes: np.ndarray
    centroids: np.ndarray
    seconds: float
    rgb: np.ndarray = field(repr=False)
    warnings: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    def mean_color_image(self) -> np.ndarray:
        """(H, W, 3) uint8 image with each region painted its mean colour.

        Transparent pixels (label -1) are black.
        """
        table = np.zeros((self.n_regions + 1, 3), np.uint8)
        table[:-1] = np.clip(np.rint(self.mean_colors), 0, 255)
        # Label -1 picks the last row of the table, the black one.
        return table[self.labels]

    def boundaries(self) -> np.ndarray:
        """(H, W) bool mask of boundary pixels, one pixel thick.

        A pixel is on a boundary when its right or lower neighbour has a
        different label. Transparent pixels are never boundary pixels.
        """
        labels = self.labels
        edges = np.zeros(labels.shape, bool)
        np.not_equal(labels[:, :-1], labels[:, 1:], out=edges[:, :-1])
        edges[:-1] |= labels[:-1] != labels[1:]
        edges &= labels >= 0
        return edges

    def overlay(self, color: tuple[int, int, int] = (255, 255, 0)) -> np.ndarray:
        """(H, W, 3) uint8 copy of the image with the boundaries drawn in ``color``.

        Transparent pixels (label -1) are black, as in `mean_color_image`: the colours
        stored under them are not part of the picture.

        Raises
        ------
        ValueError
            If ``color`` is not three integers in 0..255.
        """
        paint = np.asarray(color)
        if (
            paint.shape != (3,)
            or not np.issubdtype(paint.dtype, np.integer)
            or not np.all((paint >= 0) & (paint <= 255))
        ):
            raise ValueError(
                f"color must be three integers in 0..255 (R, G, B), e.g. (255, 255, 0); "
                f"got {color!r}."
            )
        out = self.rgb.copy()
        out[self.labels < 0] = 0
        out[self.boundaries()] = paint.astype(np.uint8)
        return out


def superpixels(
    image,
    n_segments: int = 400,
    *,
    compactness: float = 10.0,
    max_iter: int = 10,
    color_space: str = "lab",
    enforce_connectivity: bool = True,
) -> Superpixels:
    """Split an image into about ``n_segments`` SLIC superpixels.

    Centres start on a regular grid of step ``S = sqrt(pixels / n_segments)``,
    each nudged to the lowest colour gradient of its 3 x 3 neighbourhood if that
    is strictly lower and no other centre is there (so as many segments as
    pixels give one superpixel per pixel). Each
    iteration lets every centre compete only for the pixels of its 2S x 2S
    window, gives each pixel to the nearest centre that reached it, with
    distance ``sqrt(dc**2 + (ds / S)**2 * compactness**2)`` (``dc`` colour,
    ``ds`` position), then moves each centre to the mean of its pixels.
    Finally, pieces of a label that are not connected become labels of their
    own, or join a neighbour when small.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, or kseg ``Image``
        An RGB array, or any object with ``.rgb`` ((H, W, 3) uint8) and
        ``.alpha`` ((H, W) bool, True where opaque, or None) attributes.
        Fully transparent pixels get label -1 and join no region.
    n_segments : int, optional
        Approximate number of superpixels.
    compactness : float, optional
        Weight of position against colour. Higher gives squarer, more regular
        superpixels; lower follows colour edges more closely. 10 suits CIELAB.
    max_iter : int, optional
        Number of assignment/update iterations.
    color_space : {"lab", "rgb"}, optional
        Space of the colour distance: CIELAB (as in the SLIC paper) or RGB in
        0..255 (then try ``compactness`` around 20).
    enforce_connectivity : bool, optional
        Make every label one 4-connected region, merging pieces smaller than a
        quarter of the expected superpixel size into a neighbour. If False, a
        label may cover several disconnected pieces.

    Returns
    -------
    Superpixels
        Labels, region statistics and wall time. SLIC starts from a grid, so the
        result is deterministic. If ``n_segments`` exceeds the number of pixels,
        ``warnings`` says so.

    Raises
    ------
    ImageError
        If the image is not (H, W, 3) uint8, its alpha mask does not match it,
        or every pixel is transparent.
    ValueError
        If ``n_segments < 1``, ``compactness <= 0``, ``max_iter < 1`` or
        ``color_space`` is unknown.
    TypeError
        If the image is not an array or Image, ``n_segments`` or ``max_iter`` is
        not an integer, or ``compactness`` not a number.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.zeros((40, 40, 3), np.uint8)
    >>> rgb[:, 20:] = 255
    >>> sp = superpixels(rgb, n_segments=4)
    >>> sp.n_regions
    4
    >>> bool((sp.labels[:, :20, None] != sp.labels[:, None, 20:]).all())
    True
    """
    started = time.perf_counter()
    n_segments = check_int(
        "n_segments", n_segments, low=1, hint="the approximate number of superpixels, e.g. 400"
    )
    compactness = check_number(
        "compactness",
        compactness,
        strict=True,
        hint="higher gives squarer superpixels; 10 suits CIELAB",
    )
    max_iter = check_int("max_iter", max_iter, low=1, hint="iterations, e.g. 10")
    check_choice("color_space", color_space, _COLOR_SPACES)
    rgb, alpha = as_rgb_alpha(image)
    n_pixels = rgb.shape[0] * rgb.shape[1]
    n_opaque = n_pixels if alpha is None else int(np.count_nonzero(alpha))
    if n_opaque == 0:
        raise ImageError("Every pixel of the image is transparent; there is nothing to segment.")
    notes = []
    if n_segments > n_pixels:
        notes.append(
            f"n_segments={n_segments} is more than the image's {n_pixels} pixels; "
            f"there are at most {n_pixels} superpixels."
        )

    grid = _Grid.for_image(rgb.shape[0], rgb.shape[1], n_segments)
    kernels = _jit.kernels("slic")  # once per call: every strip uses the same kernels
    strips = _strips(rgb.shape[0])
    n_workers = min(_n_workers(), len(strips))
    with ThreadPoolExecutor(n_workers) if n_workers > 1 else nullcontext() as pool:
        planes = _color_planes(kernels, rgb, color_space, grid.step / compactness, strips, pool)
        centers = _grid_centers(planes, alpha, grid)
        labels = _iterate(kernels, planes, alpha, centers, grid, max_iter, strips, pool)
        del planes
        if enforce_connectivity:
            n_live = int(np.isfinite(centers[:, 0]).sum())
            min_size = _MIN_SIZE_FRACTION * n_opaque / n_live
            labels, n_regions = _connected(kernels, labels, min_size)
        else:
            labels, n_regions = _compact(labels, len(centers))
        sizes, mean_colors, centroids = _region_stats(kernels, labels, n_regions, rgb, strips, pool)
    return Superpixels(
        labels=labels,
        n_regions=n_regions,
        mean_colors=mean_colors,
        sizes=sizes,
        centroids=centroids,
        seconds=time.perf_counter() - started,
        rgb=rgb,
        warnings=tuple(notes),
        params={
            "n_segments": n_segments,
            "compactness": float(compactness),
            "max_iter": max_iter,
            "color_space": color_space,
            "enforce_connectivity": bool(enforce_connectivity),
        },
    )


@dataclass(frozen=True)
class _Grid:
    """The starting grid: ``n_rows x n_cols`` cells, SLIC's S, and the search window."""

    height: int
    width: int
    n_rows: int
    n_cols: int
    step: float  # S = sqrt(pixels / n_segments), the spatial scale of the distance
    window: float  # a centre searches +-window rows and columns around itself

    @classmethod
    def for_image(cls, height: int, width: int, n_segments: int) -> _Grid:
        step = math.sqrt(height * width / n_segments)
        # About n_segments cells of about S x S, never more than pixels along an axis.
        n_rows = min(max(round(height / step), 1), height)
        n_cols = min(max(round(n_segments / n_rows), 1), width)
        # S for square cells; the longer side of a cell otherwise (a thin image).
        window = max(height / n_rows, width / n_cols)
        return cls(height, width, n_rows, n_cols, step, window)

    def cell_bounds(self, k: int) -> tuple[int, int, int, int]:
        """Rows y0:y1 and columns x0:x1 of cell ``k`` (row-major)."""
        i, j = divmod(k, self.n_cols)
        y0, y1 = -(-i * self.height // self.n_rows), -(-(i + 1) * self.height // self.n_rows)
        x0, x1 = -(-j * self.width // self.n_cols), -(-(j + 1) * self.width // self.n_cols)
        return y0, y1, x0, x1


def _strips(height: int) -> list[tuple[int, int]]:
    """Split rows ``0..height`` into ``_N_STRIPS`` strips (fewer for a short image).

    A fixed number, not one per core: each strip keeps its own sums, so the
    result is the same bit for bit whatever the number of cores.
    """
    n = max(1, min(_N_STRIPS, height))
    bounds = [round(i * height / n) for i in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _n_workers() -> int:
    """Threads to run strips on: the cores this process may use."""
    return _cores.available()


def _run(pool: ThreadPoolExecutor | None, kernel, calls: list[tuple]) -> None:
    """Run ``kernel(*args)`` for every tuple in ``calls``: in ``pool``, or here if None."""
    if pool is None:
        for args in calls:
            kernel(*args)
        return
    for future in [pool.submit(kernel, *args) for args in calls]:
        future.result()


def _color_planes(kernels, rgb, color_space, scale, strips, pool) -> tuple[np.ndarray, ...]:
    """Three (H, W) float32 colour planes, scaled by ``S / compactness``."""
    planes = tuple(np.empty(rgb.shape[:2], np.float32) for _ in range(3))

    def convert(r0: int, r1: int) -> None:
        # A few rows at a time, so that the float copies stay in cache.
        for c0 in range(r0, r1, _CONVERT_ROWS):
            c1 = min(c0 + _CONVERT_ROWS, r1)
            if color_space == "lab":
                rows = np.multiply(rgb[c0:c1], np.float32(1 / 255), dtype=np.float32)
                rows = cv2.cvtColor(rows, cv2.COLOR_RGB2Lab)
            else:
                rows = rgb[c0:c1].astype(np.float32)
            kernels._to_planes(rows, np.float32(scale), *planes, c0, c1)

    _run(pool, convert, strips)
    return planes


def _grid_centers(planes, alpha, grid: _Grid) -> np.ndarray:
    """(K, 5) float32 starting centres: row, col and the three colour values.

    Each grid point moves to the lowest colour gradient of its 3 x 3
    neighbourhood (SLIC), so that no centre starts on an edge. It moves only to
    a strictly lower gradient (a flat area keeps the grid), ties going to the
    pixel nearest the grid point, and never onto a pixel another centre holds or
    starts from: with cells of a pixel or two, neighbourhoods overlap. A centre
    whose 3 x 3 neighbourhood is transparent moves to the opaque pixel of its
    cell nearest the grid point; a centre whose cell is transparent is disabled
    (row +inf) and never wins a pixel.
    """
    height, width = grid.height, grid.width
    rows = _middles(height, grid.n_rows)
    cols = _middles(width, grid.n_cols)
    ys = np.repeat(rows, grid.n_cols)
    xs = np.tile(cols, grid.n_rows)

    cand_y = np.clip(ys[:, None] + _NUDGES[:, 0], 0, height - 1)
    cand_x = np.clip(xs[:, None] + _NUDGES[:, 1], 0, width - 1)
    gradient = np.zeros(cand_y.shape, np.float64)
    for plane in planes:
        horizontal = (
            plane[cand_y, np.minimum(cand_x + 1, width - 1)]
            - plane[cand_y, np.maximum(cand_x - 1, 0)]
        )
        vertical = (
            plane[np.minimum(cand_y + 1, height - 1), cand_x]
            - plane[np.maximum(cand_y - 1, 0), cand_x]
        )
        gradient += horizontal.astype(np.float64) ** 2 + vertical.astype(np.float64) ** 2
    if alpha is not None:
        gradient[~alpha[cand_y, cand_x]] = np.inf
    centers = np.empty((len(ys), 5), np.float32)
    centers[:, 0] = ys
    centers[:, 1] = xs
    holder = np.full((height, width), -1, np.intp)  # which centre holds each pixel
    holder[ys, xs] = np.arange(len(ys))
    stuck = np.flatnonzero(~np.isfinite(gradient.min(axis=1)))
    if alpha is not None:
        for k in stuck:
            _place_in_cell(centers, int(k), alpha, grid)
            if np.isfinite(centers[k, 0]):
                holder[int(centers[k, 0]), int(centers[k, 1])] = k
    pick = _nudges(gradient, holder, cand_y, cand_x)
    moving = np.isfinite(gradient.min(axis=1))
    centers[moving, 0] = cand_y[moving, pick[moving]]
    centers[moving, 1] = cand_x[moving, pick[moving]]
    if alpha is not None:  # transparent, its opaque neighbours all held by other centres
        for k in np.flatnonzero(moving & ~np.isfinite(gradient[np.arange(len(ys)), pick])):
            _place_in_cell(centers, int(k), alpha, grid)
    alive = np.isfinite(centers[:, 0])
    centers[~alive, 2:] = 0.0
    for c, plane in enumerate(planes):
        centers[alive, 2 + c] = plane[
            centers[alive, 0].astype(np.intp), centers[alive, 1].astype(np.intp)
        ]
    return centers


def _middles(length: int, n: int) -> np.ndarray:
    """The pixel nearest the middle of each of ``n`` equal cells along ``length`` pixels.

    Cell i's middle is at (i + 1/2) * length / n - 1/2 in pixel coordinates; a tie (an even
    cell) goes to the upper or left pixel, so a flat image's grid is symmetric. Integers
    only: no rounding error decides a tie.
    """
    twice = (2 * np.arange(n, dtype=np.intp) + 1) * length - 2 * n
    return -(-twice // (2 * n))


# The 3 x 3 neighbourhood, the grid point first, then nearest first: ties go to the first.
_NUDGES = np.array([(0, 0), (0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)])


def _nudges(gradient, holder, cand_y, cand_x) -> np.ndarray:
    """Each centre's pick among its 3 x 3 candidates (column 0 stays on the grid point).

    A candidate is allowed if its gradient is strictly below the grid point's and no other
    centre starts on it or has picked it; where two centres pick one pixel, the lower index
    keeps it and the other picks again. Staying is always allowed, so this ends.
    """
    k = np.arange(len(gradient))
    held = holder[cand_y, cand_x]
    cost = np.where(gradient < gradient[:, :1], gradient, np.inf)
    cost[(held >= 0) & (held != k[:, None])] = np.inf
    cost[:, 0] = gradient[:, 0]
    while True:
        pick = np.argmin(cost, axis=1)
        moved = np.flatnonzero(pick > 0)
        target = cand_y[moved, pick[moved]] * holder.shape[1] + cand_x[moved, pick[moved]]
        order = np.argsort(target, kind="stable")  # stable: lower index first among equals
        repeated = np.flatnonzero(target[order][1:] == target[order][:-1]) + 1
        if len(repeated) == 0:
            return pick
        losers = moved[order[repeated]]
        cost[losers, pick[losers]] = np.inf


def _place_in_cell(centers, k: int, alpha, grid: _Grid) -> None:
    """Move centre ``k`` to its cell's opaque pixel nearest the grid point, or disable it."""
    y0, y1, x0, x1 = grid.cell_bounds(k)
    opaque = np.argwhere(alpha[y0:y1, x0:x1])
    if len(opaque) == 0:
        centers[k, :2] = np.inf
        return
    target = np.array([(y1 - y0 - 1) / 2, (x1 - x0 - 1) / 2])
    nearest = opaque[np.argmin(((opaque - target) ** 2).sum(axis=1))]
    centers[k, 0] = y0 + nearest[0]
    centers[k, 1] = x0 + nearest[1]


def _iterate(
    kernels, planes, alpha, centers, grid: _Grid, max_iter: int, strips, pool
) -> np.ndarray:
    """SLIC's loop: assign pixels to centres, move centres to their pixels' mean.

    Updates ``centers`` in place; returns the (H, W) int32 labels of the last
    assignment (indices into ``centers``; -1 for transparent pixels).
    """
    labels = np.empty((grid.height, grid.width), np.int32)
    alpha_u8 = _readonly(np.zeros((0, 0), np.uint8) if alpha is None else alpha.view(np.uint8))
    sums = np.zeros((len(strips), len(centers), 6))
    window = np.float32(grid.window)
    for _ in range(max_iter):
        sums[:] = 0.0
        # The kernel walks the live centres in row order to find those whose
        # window reaches the current image row.
        ids = np.argsort(centers[:, 0], kind="stable").astype(np.int32)
        ids = ids[np.isfinite(centers[ids, 0])]
        by_row = np.ascontiguousarray(centers[ids])
        shared = (window, by_row, ids, centers, grid.n_rows, grid.n_cols, labels)
        calls = [
            (*planes, alpha_u8, r0, r1, *shared, s)
            for (r0, r1), s in zip(strips, sums, strict=True)
        ]
        _run(pool, kernels._assign_strip, calls)
        _update_centers(centers, sums.sum(axis=0))
    return labels


def _update_centers(centers: np.ndarray, sums: np.ndarray) -> None:
    """Move each centre that won pixels to their mean; others stay put."""
    counts = sums[:, 5]
    won = counts > 0
    mean = sums[won] / counts[won, None]
    centers[won, 0] = mean[:, 3]
    centers[won, 1] = mean[:, 4]
    centers[won, 2:5] = mean[:, 0:3]


def _connected(kernels, labels: np.ndarray, min_size: float) -> tuple[np.ndarray, int]:
    """Relabel into 4-connected regions, merging pieces under ``min_size`` pixels."""
    out = np.empty_like(labels)
    n_regions = kernels._enforce_connectivity(labels, int(min_size), out)
    return out, int(n_regions)


def _compact(labels: np.ndarray, n_labels: int) -> tuple[np.ndarray, int]:
    """Renumber the labels in use to ``0 .. n - 1``, keeping -1; returns them and n."""
    used = np.bincount(labels.ravel() + 1, minlength=n_labels + 1)[1:] > 0
    lookup = np.full(n_labels + 1, -1, np.int32)
    lookup[1:][used] = np.arange(int(used.sum()), dtype=np.int32)
    return lookup[labels + 1], int(used.sum())


def _region_stats(kernels, labels, n_regions: int, rgb, strips, pool):
    """Pixel count, mean RGB colour and mean (row, col) of each region."""
    sums = np.zeros((len(strips), n_regions, 6))
    rgb = _readonly(rgb)
    calls = [(labels, rgb, r0, r1, s) for (r0, r1), s in zip(strips, sums, strict=True)]
    _run(pool, kernels._region_sums, calls)
    totals = sums.sum(axis=0)
    counts = totals[:, 5:6]
    return totals[:, 5].astype(np.int64), totals[:, 0:3] / counts, totals[:, 3:5] / counts


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array``.

    The caller's arrays reach the kernels read-only whether or not they were
    writable (kseg's ``Image`` holds read-only ones), so numba compiles and
    caches one version of each kernel, not two.
    """
    view = array.view()
    view.flags.writeable = False
    return view
