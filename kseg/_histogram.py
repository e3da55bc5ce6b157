"""The distinct colours of an image and how many pixels have each.

k-means over the distinct colours of an image, each weighted by its pixel count,
has exactly the objective and the Lloyd iterations of k-means over every pixel,
and a photo has 10^5 to 10^6 distinct colours instead of 10^7 pixels.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from kseg import _spaces
from kseg._kernels import count_colors
from kseg._validation import as_rgb_alpha

__all__ = ["COARSE_LEVELS", "COARSE_MIN_COLORS", "ColorFeatures", "ColorHistogram", "pack_rgb"]

_N_KEYS = 1 << 24
# Below this many distinct colours k-means runs on the exact colours directly.
COARSE_MIN_COLORS = 20_000
# Above, the attempts run on three coarse summaries, 16, 32 and 64 levels per channel:
# different summaries lead k-means++ into different local optima (one summary alone
# often lands every attempt in the same one).
COARSE_LEVELS = (4, 5, 6)  # bits per channel


class ColorHistogram:
    """Distinct opaque colours of an image, their pixel counts, and the image itself.

    Build it once per image (``ColorHistogram.from_image``) and pass it to
    :func:`kseg.segment` or :func:`kseg.elbow` as often as you like: a new k, seed
    or colour space reuses it and never touches the pixels again until labels are
    asked for. Everything is computed when it is made and nothing changes after:
    every array is read-only, so one histogram can be shared between threads and
    kept in a cache at the size it had when it was stored.

    Attributes
    ----------
    rgb : (H, W, 3) uint8 ndarray
        The image's pixels.
    alpha : (H, W) bool ndarray or None
        True where a pixel is opaque; None when every pixel is.
    colors : (M, 3) uint8 ndarray
        The distinct colours of the opaque pixels, in key order.
    counts : (M,) int64 ndarray
        How many opaque pixels have each colour.
    weights : (M,) float64 ndarray
        ``counts`` as floats: the k-means weight of each distinct colour.
    keys : (M,) int64 ndarray
        Each colour packed as ``R << 16 | G << 8 | B`` (sorted ascending).

    Raises
    ------
    ImageError
        If the pixels are not (H, W, 3) uint8 or ``alpha`` does not match them.
    TypeError
        If ``rgb`` is not an array.
    """

    def __init__(self, rgb: np.ndarray, alpha: np.ndarray | None = None):
        rgb, alpha = as_rgb_alpha(rgb, alpha)
        self.rgb = _read_only(rgb)
        self.alpha = None if alpha is None else _read_only(alpha)
        keys, counts = _count_colors(rgb, alpha)
        self.keys = _read_only(keys)
        self.counts = _read_only(counts)
        self.colors = _read_only(unpack_keys(keys))
        self.weights = _read_only(counts.astype(np.float64))

    @classmethod
    def from_image(cls, image: Any) -> ColorHistogram:
        """Histogram of a kseg ``Image``, an (H, W, 3) uint8 array or an existing histogram."""
        if isinstance(image, ColorHistogram):
            return image
        if isinstance(image, np.ndarray):
            return cls(image)
        return cls(getattr(image, "rgb", image), getattr(image, "alpha", None))

    @classmethod
    def from_counts(cls, keys: Any, counts: Any) -> ColorHistogram:
        """A histogram of colours and counts alone, with no pixel grid (a collection's).

        The sum of several images' histograms: :func:`kseg.segment` of it gives
        exactly the segmentation of one image holding all their pixels (the same
        seed and options), but there are no pixels to label, so its result has
        no labels or images and asking for them raises ValueError.

        Parameters
        ----------
        keys : (M,) int ndarray
            Colours packed as ``R << 16 | G << 8 | B``; a colour listed twice has
            its counts added.
        counts : (M,) int ndarray
            How many pixels have each colour (at least 1 each).

        Raises
        ------
        ValueError
            If the arrays differ in length, a key is outside 0..2^24 - 1 or a count
            is not a whole number of at least 1.

        Examples
        --------
        >>> import numpy as np, kseg
        >>> hist = kseg.ColorHistogram.from_counts([0xFF0000, 0x0000FF, 0xFF0000], [2, 1, 3])
        >>> hist.keys.tolist(), hist.counts.tolist()
        ([255, 16711680], [1, 5])
        """
        keys = np.asarray(keys)
        counts = np.asarray(counts)
        if keys.ndim != 1 or counts.shape != keys.shape:
            raise ValueError(
                f"keys and counts must be two 1-D arrays of one length, got shapes "
                f"{keys.shape} and {counts.shape}."
            )
        if keys.size and (
            not np.issubdtype(keys.dtype, np.integer) or keys.min() < 0 or keys.max() >= _N_KEYS
        ):
            raise ValueError("keys must be whole numbers in 0..2^24 - 1 (R << 16 | G << 8 | B).")
        if counts.size and (not np.issubdtype(counts.dtype, np.integer) or counts.min() < 1):
            raise ValueError("counts must be whole numbers of at least 1.")
        keys, counts = add_counts([(keys, counts)])
        return _PixelFreeHistogram(keys.astype(np.int64), counts)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the image."""
        return self.rgb.shape[0], self.rgb.shape[1]

    @property
    def n_colors(self) -> int:
        """Number of distinct opaque colours."""
        return int(self.keys.size)

    @property
    def n_opaque(self) -> int:
        """Number of opaque pixels (the pixels that are clustered)."""
        return int(self.counts.sum())

    def features(self, color_space: str) -> np.ndarray:
        """The distinct colours in ``color_space`` as (M, 3) float64 (computed each call)."""
        return _read_only(_spaces.to_features(self.colors, color_space))

    def in_space(self, color_space: str) -> ColorFeatures:
        """The distinct colours in ``color_space`` with the summaries k-means starts on.

        Made anew on each call (tens of milliseconds for 10^5 colours): keep it and
        pass it to :func:`kseg.segment` as ``features=`` to reuse it across calls.
        """
        space = _spaces.check_space(color_space)
        points = self.features(space)
        summaries: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
        if self.n_colors >= COARSE_MIN_COLORS:
            summaries = tuple(
                _coarse_summary(self.colors, self.weights, points, bits) for bits in COARSE_LEVELS
            )
        return ColorFeatures(space, self.n_colors, points, self.weights, summaries)

    def label_pixels(self, color_labels: np.ndarray) -> np.ndarray:
        """Give every pixel the label of its colour.

        Parameters
        ----------
        color_labels : (M,) int ndarray
            A label in 0..32766 for each distinct colour.

        Returns
        -------
        (h, w) int16 ndarray
            The labels; -1 where a pixel is transparent.
        """
        color_labels = np.asarray(color_labels)
        # A table over all 2^24 colours, gathered by packed key: one pass over the pixels.
        # uint8 keeps the table at 16 MB and in cache far better than int16 would.
        table_dtype = np.uint8 if color_labels.size == 0 or color_labels.max() < 255 else np.int16
        # np.empty: only entries of colours present are ever read, so none need clearing,
        # and the pages of the table that no colour touches are never even mapped.
        table = np.empty(_N_KEYS, dtype=table_dtype)
        table[self.keys] = color_labels
        labels = table[pack_rgb(self.rgb)].astype(np.int16, copy=False)
        if self.alpha is not None:
            labels[~self.alpha] = -1
        return labels

    def preview_index(self, max_side: int) -> np.ndarray:
        """(h, w) int32 index into ``colors`` of each pixel of a nearest-neighbour preview.

        The longer side of the preview is at most ``max_side``; -1 marks transparent
        pixels. Labelling a preview for a segmentation is then a single gather,
        ``color_labels[index]``: keep the index and pass it as ``index=`` to
        :meth:`Segmentation.preview_labels` to relabel previews for many results.
        """
        rows, cols = preview_grid(self.shape, max_side)
        rgb = self.rgb[rows][:, cols]
        table = np.empty(_N_KEYS + 1, dtype=np.int32)  # only present colours are read
        table[self.keys] = np.arange(self.keys.size, dtype=np.int32)
        table[_N_KEYS] = -1
        alpha = None if self.alpha is None else self.alpha[rows][:, cols]
        return _read_only(table[pack_rgb(rgb, alpha)])


class _PixelFreeHistogram(ColorHistogram):
    """Colours and counts without an image (:meth:`ColorHistogram.from_counts`)."""

    _NO_PIXELS = (
        "This histogram holds colours and counts only (a collection's, from "
        "ColorHistogram.from_counts), so it has no pixels: there are no labels, images, "
        "regions or image size to give; segment each image to get those."
    )

    def __init__(self, keys: np.ndarray, counts: np.ndarray):  # noqa: D107 - see from_counts
        self.keys = _read_only(keys)
        self.counts = _read_only(counts)
        self.colors = _read_only(unpack_keys(keys))
        self.weights = _read_only(counts.astype(np.float64))

    @property
    def rgb(self) -> np.ndarray:
        raise ValueError(self._NO_PIXELS)

    @property
    def alpha(self) -> np.ndarray | None:
        raise ValueError(self._NO_PIXELS)

    @property
    def shape(self) -> tuple[int, int]:
        raise ValueError(self._NO_PIXELS)


def add_counts(parts) -> tuple[np.ndarray, np.ndarray]:
    """The sum of sparse histograms: sorted distinct keys (uint32) and their counts (int64).

    ``parts`` is an iterable of (keys, counts) pairs, each as
    :meth:`ColorHistogram.from_counts` takes them; the sum never builds a 2^24 table.
    """
    parts = list(parts)
    keys = np.concatenate([np.asarray(k, dtype=np.uint32).reshape(-1) for k, _ in parts] or [[]])
    counts = np.concatenate([np.asarray(c, dtype=np.int64).reshape(-1) for _, c in parts] or [[]])
    keys = keys.astype(np.uint32, copy=False)
    counts = counts.astype(np.int64, copy=False)
    if keys.size == 0:
        return keys, counts
    # Sorted runs (each image's keys come sorted) merge quickly in a stable sort.
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.add.reduceat(counts[order], starts)


@dataclass(frozen=True, eq=False)
class ColorFeatures:
    """A histogram's distinct colours in one colour space: what k-means runs on.

    Made by :meth:`ColorHistogram.in_space`; complete when made, read-only after.

    Attributes
    ----------
    color_space : str
    n_colors : int
        Distinct colours of the histogram it was made from.
    points : (M, 3) float64 ndarray
        Each distinct colour in ``color_space``.
    weights : (M,) float64 ndarray
        Each colour's pixel count.
    summaries : tuple of ((C, 3) ndarray, (C,) ndarray)
        For histograms of at least 20,000 colours: the colours averaged in RGB cells
        of 16, 32 and 64 levels a side (points in ``color_space``, weights), coarsest
        first; empty for fewer colours, which k-means runs on directly.
    """

    color_space: str
    n_colors: int
    points: np.ndarray
    weights: np.ndarray
    summaries: tuple[tuple[np.ndarray, np.ndarray], ...]


def _coarse_summary(colors, weights, points, bits):
    """The distinct colours averaged within RGB cells of 2^(8-bits) levels a side.

    Returns (C, 3) points (the weighted mean of each non-empty cell) and (C,)
    weights (the cell's pixel count).
    """
    c = (colors >> (8 - bits)).astype(np.intp)
    cell = (c[:, 0] << (2 * bits)) | (c[:, 1] << bits) | c[:, 2]
    size = 1 << (3 * bits)
    wsum = np.bincount(cell, weights=weights, minlength=size)
    used = np.flatnonzero(wsum)
    out = np.empty((used.size, 3))
    for j in range(3):
        out[:, j] = np.bincount(cell, weights=weights * points[:, j], minlength=size)[used]
    out /= wsum[used, None]
    return _read_only(np.ascontiguousarray(out)), _read_only(np.ascontiguousarray(wsum[used]))


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view: the caller's own array keeps its flags."""
    view = array.view()
    view.flags.writeable = False
    return view


def preview_grid(shape: tuple[int, int], max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of a nearest-neighbour downscale to at most ``max_side``."""
    height, width = shape
    scale = min(1.0, max_side / max(height, width))
    out_h, out_w = max(1, round(height * scale)), max(1, round(width * scale))
    rows = np.minimum(((np.arange(out_h) + 0.5) * (height / out_h)).astype(np.intp), height - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * (width / out_w)).astype(np.intp), width - 1)
    return rows, cols


def pack_rgb(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Pack (H, W, 3) uint8 RGB into (H, W) uint32 keys ``R << 16 | G << 8 | B``.

    Pixels where ``alpha`` is False get the key ``1 << 24``, outside the colour range.
    """
    # One pass in OpenCV: BGRA bytes read as a little-endian uint32 are B | G<<8 | R<<16 | A<<24.
    keys = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA).view(np.uint32)[..., 0]
    keys &= 0xFFFFFF
    if alpha is not None:
        keys[~alpha] = _N_KEYS
    return keys


def _count_colors(rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys of the opaque pixels, and how many pixels have each.

    One compiled pass over the pixels into a 2^24-entry count table that is
    borrowed from a pool and handed back cleared: no 128 MB ``np.bincount``
    array to allocate, zero and scan for every image (in a busy server that
    allocation alone took most of a second).
    """
    flat = np.ascontiguousarray(rgb).reshape(-1, 3)
    opaque = (
        np.ones(0, dtype=np.bool_) if alpha is None else np.ascontiguousarray(alpha).reshape(-1)
    )
    table = _borrow_table()
    try:
        found = np.empty(min(flat.shape[0], _N_KEYS), dtype=np.int64)
        n_found = count_colors(flat, opaque, table, found)
        keys = np.sort(found[:n_found])
        counts = table[keys].astype(np.int64)
        table[keys] = 0  # hand the table back cleared
    except BaseException:
        table = None  # not known to be clear: let it go
        raise
    finally:
        if table is not None:
            _return_table(table)
    return keys, counts


_TABLES: list[np.ndarray] = []
_TABLES_LOCK = threading.Lock()
_MAX_SPARE_TABLES = 2  # 64 MB each


def _borrow_table() -> np.ndarray:
    with _TABLES_LOCK:
        if _TABLES:
            return _TABLES.pop()
    return np.zeros(_N_KEYS, dtype=np.uint32)


def _return_table(table: np.ndarray) -> None:
    with _TABLES_LOCK:
        if len(_TABLES) < _MAX_SPARE_TABLES:
            _TABLES.append(table)


def unpack_keys(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb` for 1-D keys: (M,) -> (M, 3) uint8."""
    keys = np.asarray(keys, dtype=np.int64)
    colors = np.empty((keys.size, 3), dtype=np.uint8)
    colors[:, 0] = keys >> 16
    colors[:, 1] = (keys >> 8) & 0xFF
    colors[:, 2] = keys & 0xFF
    return colors
