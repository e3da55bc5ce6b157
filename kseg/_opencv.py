"""The reference engine: OpenCV's recipe, cv2.kmeans on every opaque pixel.

Slow (every pixel, every iteration) and kept for comparison: the histogram engine
gives the same objective over the distinct colours.
"""

from __future__ import annotations

import cv2
import numpy as np

from kseg import _spaces
from kseg._errors import ImageError

__all__ = ["opencv_kmeans"]


def opencv_kmeans(hist, k, init, attempts, max_iter, eps, criteria, space, seed):
    """The classic recipe: cv2.kmeans on every opaque pixel, as float32.

    Returns the centres (k, 3) in ``space``'s features, the (H, W) int16 pixel labels
    (-1 where transparent) and the compactness, in float64 from cv2's own labels.
    """
    rgb = hist.rgb.reshape(-1, 3)
    opaque = None if hist.alpha is None else hist.alpha.reshape(-1)
    pixels = rgb if opaque is None else rgb[opaque]
    data = _spaces.to_features(pixels, space).astype(np.float32)
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
    return centers, pixel_labels.reshape(hist.shape), compactness


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
