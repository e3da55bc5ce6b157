"""Synthetic test images with known answers, made in memory: one builder for every test file.

Each test file that needs four coloured quadrants calls `quadrants` with its own size,
cuts, colours and noise:

    from images import quadrants
    rgb = quadrants(120, 80)                       # four flat colours over unequal areas
    rgb, truth = quadrants(120, 100, split=(37, 61), noise=3.0, truth=True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["QUAD_COLORS", "quadrants"]

# Red, green, blue and near-white: four colours far apart in every colour space.
QUAD_COLORS = ((200, 30, 30), (30, 160, 40), (20, 40, 220), (240, 240, 240))


def quadrants(
    width: int = 120,
    height: int = 80,
    *,
    split: Sequence[int] | None = None,
    colours: Sequence[Sequence[int]] = QUAD_COLORS,
    noise: float = 0.0,
    jitter: int = 0,
    seed: int = 0,
    tweak: int = 0,
    truth: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Four flat colours, ``colours[i]`` where the true label map holds ``i``.

    Parameters
    ----------
    width, height : int
        Size in pixels.
    split : (row, col) or (row, col, col2), optional
        Where the areas meet. Two numbers: four quadrants cut at that row and column,
        labelled 0 top left, 1 top right, 2 bottom left, 3 bottom right. Three numbers:
        unequal areas, label 0 left of `col` over the whole height; right of it, 1 above
        `row` and, below, 2 left of `col2` and 3 right of it. The default is the unequal
        ``(height * 3 // 5, width // 2, width * 5 // 6)``: 50, 30, 13.3 and 6.7 % of the
        pixels, so the palette's order by share is known. Cuts past the edge leave areas
        empty (a 6 x 4 image with the cuts of a 60 x 40 one is all colour 0).
    colours : four (r, g, b)
        The colour of each label.
    noise : float
        Standard deviation of Gaussian noise added to every channel (then clipped to
        0..255 and truncated to uint8). Drawn from ``default_rng(seed)`` first.
    jitter : int
        Uniform integer noise in ``-jitter..jitter`` added to every channel (clipped),
        drawn from ``default_rng(seed)`` after any Gaussian noise.
    seed : int
        Seed of the noise.
    tweak : int
        Adds `tweak` (mod 256) to the blue of the top-left pixel, so the file's bytes, and
        the page's cache keys, differ from every other image's.
    truth : bool
        Also return the true label map, ``(height, width)`` int32.

    Returns
    -------
    (height, width, 3) uint8 ndarray, or it and the label map when `truth`.
    """
    rows, cols = np.mgrid[0:height, 0:width]
    if split is None:
        split = (height * 3 // 5, width // 2, width * 5 // 6)
    if len(split) == 2:
        row, col = split
        labels = (rows >= row).astype(np.int32) * 2 + (cols >= col)
    elif len(split) == 3:
        row, col, col2 = split
        right = np.where(rows < row, 1, np.where(cols < col2, 2, 3))
        labels = np.where(cols < col, 0, right).astype(np.int32)
    else:
        raise ValueError(f"split must be (row, col) or (row, col, col2), got {split!r}.")
    palette = np.asarray(colours, np.int64)
    if palette.shape != (4, 3):
        raise ValueError(f"colours must be four (r, g, b), got shape {palette.shape}.")
    pixels = palette[labels]
    rng = np.random.default_rng(seed)
    if noise:
        pixels = pixels + rng.normal(0, noise, pixels.shape)
    if jitter:
        pixels = pixels + rng.integers(-jitter, jitter + 1, pixels.shape)
    rgb = np.clip(pixels, 0, 255).astype(np.uint8)
    if tweak:
        rgb[0, 0, 2] = (int(rgb[0, 0, 2]) + tweak) % 256
    return (rgb, labels) if truth else rgb
