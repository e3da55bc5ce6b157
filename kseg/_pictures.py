"""Pictures for people, made from pixels: display-size copies and isolated clusters."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from kseg._histogram import preview_grid
from kseg._segment import Segmentation

__all__ = ["downscale", "isolate"]


def downscale(rgb: np.ndarray, alpha: np.ndarray | None = None, max_side: int = 1200) -> np.ndarray:
    """An image shrunk so its longer side is at most `max_side`, by area averaging.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
        The pixels (e.g. ``Image.rgb``); never modified.
    alpha : (H, W) bool ndarray, optional
        Opaque pixels; when given the result is RGBA with alpha 255 where opaque.
        Colours stored under transparent pixels are not part of the picture: they
        come out black and fully transparent, and never blend into opaque
        neighbours (each area averages the colours of its opaque pixels only).
    max_side : int
        Largest width or height of the result. Images already that small are
        returned at their size (a copy, or an RGBA version).

    Returns
    -------
    (h, w, 3) or (h, w, 4) uint8 ndarray
    """
    if alpha is None:
        pixels = rgb
    else:
        opaque = alpha.astype(np.uint8)
        # Premultiplied: transparent pixels weigh nothing in the averages below.
        pixels = np.dstack([rgb * opaque[:, :, None], opaque * 255])
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return np.array(pixels, copy=True)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA)
    if alpha is not None:
        coverage = small[:, :, 3:].astype(np.float32)
        colour = small[:, :, :3] * (255 / np.maximum(coverage, 1))
        small[:, :, :3] = np.clip(np.rint(colour), 0, 255)
    return small


def isolate(
    seg: Segmentation,
    clusters: Iterable[int],
    *,
    max_side: int | None = 1200,
    dim: float = 0.2,
    paint: bool = False,
    index: np.ndarray | None = None,
) -> np.ndarray:
    """The chosen clusters at full strength over a dimmed grey rest of the image.

    Parameters
    ----------
    seg : Segmentation
    clusters : iterable of int
        Cluster indices (palette order, 0 is the largest) to keep.
    max_side : int or None
        Nearest-neighbour preview size, as for ``Segmentation.mask``; None for
        full resolution.
    dim : float
        Brightness of the rest, 0 (black) to 1 (unchanged grey).
    paint : bool
        Paint kept pixels with their cluster's colour instead of their own.
    index : (h, w) int32 ndarray, optional
        The histogram's ``preview_index(max_side)``, when kept (see
        ``Segmentation.preview_labels``).

    Returns
    -------
    (h, w, 3) or (h, w, 4) uint8 ndarray
        RGB for an image without transparent pixels. Otherwise RGBA: transparent
        pixels stay transparent (alpha 0, colour black: the colours stored under
        them are not part of the picture) and count as not chosen; the rest have
        alpha 255.
    """
    if not 0 <= dim <= 1:
        raise ValueError(f"dim must be within 0..1; got {dim}.")
    chosen = list(clusters)
    labels = seg.preview_labels(max_side, index=index)
    keep = seg.mask(chosen, max_side, index=index) if chosen else np.zeros(labels.shape, bool)
    if paint:
        table = np.zeros((seg.k + 1, 3), np.uint8)  # the extra row is label -1 (transparent)
        table[:-1] = seg.centers_rgb
        pixels = table[labels]
    elif max_side is None or max(seg.shape) <= max_side:
        pixels = np.array(seg.histogram.rgb, copy=True)
    else:
        rows, cols = preview_grid(seg.shape, max_side)
        pixels = seg.histogram.rgb[rows][:, cols]
    hidden = labels < 0
    if seg.histogram.alpha is not None:
        pixels = np.where(hidden[:, :, None], np.uint8(0), pixels)
    gray = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    rest = cv2.cvtColor(cv2.convertScaleAbs(gray, alpha=dim), cv2.COLOR_GRAY2RGB)
    out = np.where(keep[:, :, None], pixels, rest)
    if seg.histogram.alpha is None:
        return out
    return np.dstack([out, np.where(hidden, np.uint8(0), np.uint8(255))])
