"""Regions of interest: the connected region under a point, picks, and their figures.

A colour cluster is every pixel of that colour anywhere in the photo; a *region* is one
connected piece of it (8-connected by default), optionally with its holes filled. This
is what a person means by "the cat" or "this cell". Transparent pixels are never part
of a region, and a hole made of them stays out of a filled region too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = ["Region", "RegionFigures", "pick_regions", "region_at", "region_figures"]


@dataclass(frozen=True, eq=False)
class Region:
    """One picked region: its full-resolution mask, the point it was picked at (x, y)
    and its cluster (0-based, as the library's labels)."""

    mask: np.ndarray
    point: tuple[int, int]
    cluster: int


@dataclass(frozen=True)
class RegionFigures:
    """Measurements of a region, in full-resolution pixels.

    Attributes
    ----------
    area : int
        Pixels in the region.
    share : float
        ``area`` as a fraction of the image's opaque pixels.
    bbox : (x, y, width, height)
        The smallest rectangle holding the region (x = column, y = row of its corner).
    centroid : (x, y)
        The mean position of its pixels.
    mean_rgb : (r, g, b)
        The rounded mean of the photo's own colours over the region.
    hex : str
        ``mean_rgb`` as ``#rrggbb``.
    perimeter : int
        Pixel edges between the region and the rest, the image border included (an
        s x s square has 4s; the edges around a hole count too).
    """

    area: int
    share: float
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    mean_rgb: tuple[int, int, int]
    hex: str
    perimeter: int

    def to_dict(self) -> dict[str, Any]:
        x, y, width, height = self.bbox
        return {
            "area": self.area,
            "share": round(self.share, 6),
            "bbox": {"x": x, "y": y, "width": width, "height": height},
            "centroid": {"x": round(self.centroid[0], 2), "y": round(self.centroid[1], 2)},
            "mean_rgb": list(self.mean_rgb),
            "hex": self.hex,
            "perimeter": self.perimeter,
        }


def region_at(
    labels: np.ndarray, x, y, *, fill_holes: bool = True, connectivity: int = 8
) -> np.ndarray:
    """The connected region of ``labels``'s cluster under pixel (x, y), as a bool mask.

    ``labels`` is a Segmentation's full-resolution labels (-1 where transparent); see
    :meth:`kseg.Segmentation.region_at`, which calls this.
    """
    connectivity = _check_connectivity(connectivity)
    x, y = check_point(x, y, labels)
    same = (labels == labels[y, x]).view(np.uint8)
    # floodFill marks the seed's connected piece in its own mask (1 px wider each side)
    # and touches only that piece: the cost follows the region, not the image.
    flags = connectivity | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    marks = np.zeros((same.shape[0] + 2, same.shape[1] + 2), np.uint8)
    cv2.floodFill(same, marks, (x, y), 0, 0, 0, flags)
    region = marks[1:-1, 1:-1].view(bool)
    if fill_holes:
        region = _fill_holes(region, connectivity)
        region &= labels >= 0  # a hole of transparent pixels stays out
    return region


def check_point(x, y, labels: np.ndarray) -> tuple[int, int]:
    """(x, y) as ints, or ValueError if the point is outside the image or transparent."""
    try:
        x_int, y_int = int(x), int(y)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("A point is two whole numbers: x (the column) and y (the row).") from None
    if x_int != x or y_int != y:
        raise ValueError("A point is two whole numbers: x (the column) and y (the row).")
    height, width = labels.shape
    if not (0 <= x_int < width and 0 <= y_int < height):
        raise ValueError(
            f"The point ({x_int}, {y_int}) is outside the image, which is {width} x {height} "
            f"pixels (x 0..{width - 1}, y 0..{height - 1})."
        )
    if labels[y_int, x_int] < 0:
        raise ValueError(
            f"The point ({x_int}, {y_int}) is on a transparent pixel; pick a point on the picture."
        )
    return x_int, y_int


def pick_regions(
    seg, points: Iterable, *, fill_holes: bool = True, connectivity: int = 8
) -> list[Region]:
    """The regions picked by clicking ``points`` in order.

    A point inside a region already picked takes that region away again; any other
    point adds the region under it. Each point is (x, y) in full-resolution pixels
    (x = column, y = row).

    Parameters
    ----------
    seg : Segmentation
    points : iterable of (x, y)
    fill_holes, connectivity
        As for :meth:`kseg.Segmentation.region_at`.

    Returns
    -------
    list of Region
        In the order they were picked; ``np.logical_or.reduce([r.mask for r in ...])``
        is everything picked.

    Raises
    ------
    ValueError
        For a point outside the image or on a transparent pixel (the message says which).
    """
    labels = seg.labels
    picked: list[Region] = []
    for point in points:
        try:
            x, y = point
        except (TypeError, ValueError):
            raise ValueError(
                "A point is two whole numbers: x (the column) and y (the row)."
            ) from None
        x, y = check_point(x, y, labels)
        inside = [r for r in picked if r.mask[y, x]]
        if inside:
            picked = [r for r in picked if not r.mask[y, x]]
            continue
        mask = region_at(labels, x, y, fill_holes=fill_holes, connectivity=connectivity)
        picked.append(Region(mask=mask, point=(x, y), cluster=int(labels[y, x])))
    return picked


def region_figures(seg, mask: np.ndarray) -> RegionFigures:
    """Area, share, bounding box, centroid, mean colour and perimeter of a region.

    Parameters
    ----------
    seg : Segmentation
        The segmentation the region comes from (its full-resolution photo is read).
    mask : (H, W) bool ndarray

    Raises
    ------
    ValueError
        If the mask is empty or not the image's size.
    """
    hist = seg.histogram
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != hist.shape:
        raise ValueError(
            f"The mask is {mask.shape}, but the image is {hist.shape} (rows, columns)."
        )
    mask8 = mask.view(np.uint8)
    x, y, width, height = cv2.boundingRect(mask8)
    if width == 0:
        raise ValueError("The region is empty: it has no pixel.")
    box = mask8[y : y + height, x : x + width]
    moments = cv2.moments(box, binaryImage=True)
    area = int(round(moments["m00"]))
    centroid = (x + moments["m10"] / moments["m00"], y + moments["m01"] / moments["m00"])
    rgb = np.ascontiguousarray(hist.rgb[y : y + height, x : x + width])
    sums = [
        float(cv2.sumElems(np.where(box, rgb[:, :, c], 0).astype(np.float64))[0]) for c in range(3)
    ]
    mean = tuple(int(round(s / area)) for s in sums)
    opaque = hist.n_opaque
    return RegionFigures(
        area=area,
        share=area / max(int(opaque), 1),
        bbox=(int(x), int(y), int(width), int(height)),
        centroid=(float(centroid[0]), float(centroid[1])),
        mean_rgb=mean,
        hex="#{:02x}{:02x}{:02x}".format(*mean),
        perimeter=_perimeter(box),
    )


def _perimeter(box: np.ndarray) -> int:
    """Pixel edges between the set pixels of ``box`` and the rest (outside counts as unset)."""
    padded = np.pad(box.view(bool), 1)
    across = np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    down = np.count_nonzero(padded[1:, :] != padded[:-1, :])
    return int(across + down)


def _fill_holes(region: np.ndarray, connectivity: int) -> np.ndarray:
    """``region`` with every unset piece that does not reach the image border set.

    The outside is flooded from a one-pixel frame with the other connectivity (4 for an
    8-connected region), so a hole closed only diagonally stays a hole of an
    8-connected region, as the region itself is connected through that diagonal.
    """
    height, width = region.shape
    outside = np.ones((height + 2, width + 2), np.uint8)
    outside[1:-1, 1:-1] = ~region
    marks = np.zeros((height + 4, width + 4), np.uint8)
    other = 4 if connectivity == 8 else 8
    cv2.floodFill(outside, marks, (0, 0), 0, 0, 0, other | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    return marks[2:-2, 2:-2] == 0


def _check_connectivity(connectivity) -> int:
    if connectivity not in (4, 8) or isinstance(connectivity, bool):
        raise ValueError(
            f"connectivity must be 4 or 8 (neighbouring pixels); got {connectivity!r}."
        )
    return int(connectivity)
