"""Regions of interest: region_at, pick_regions, region_figures and segment(min_region=)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.measure import label as skimage_label

import kseg
from kseg import _components, _spaces

BACKGROUND = (30, 90, 40)
DISC = (230, 200, 60)
SPOT = (20, 20, 200)


def _discs(hole: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two discs of one colour on a background; returns the image and each disc's mask."""
    rgb = np.full((90, 160, 3), BACKGROUND, np.uint8)
    left = np.zeros(rgb.shape[:2], np.uint8)
    right = np.zeros(rgb.shape[:2], np.uint8)
    cv2.circle(left, (40, 45), 30, 1, -1)
    cv2.circle(right, (120, 45), 25, 1, -1)
    rgb[left.astype(bool)] = DISC
    rgb[right.astype(bool)] = DISC
    if hole:
        rgb[38:53, 33:48] = SPOT  # a square hole of another colour in the left disc
    return rgb, left.astype(bool), right.astype(bool)


def test_a_pick_in_one_disc_gives_exactly_that_disc():
    rgb, left, right = _discs()
    seg = kseg.segment(rgb, 2)
    np.testing.assert_array_equal(seg.region_at(40, 45), left)
    np.testing.assert_array_equal(seg.region_at(120, 45), right)
    background = seg.region_at(0, 0)  # the discs are holes in it: filled, it is everything
    assert background.all()
    np.testing.assert_array_equal(seg.region_at(0, 0, fill_holes=False), ~(left | right))


def test_holes_are_filled_or_kept():
    rgb, left, _ = _discs(hole=True)
    seg = kseg.segment(rgb, 3)
    hole = np.zeros_like(left)
    hole[38:53, 33:48] = True
    np.testing.assert_array_equal(seg.region_at(20, 45), left)
    np.testing.assert_array_equal(seg.region_at(20, 45, fill_holes=False), left & ~hole)
    np.testing.assert_array_equal(seg.region_at(40, 45), hole)  # the hole itself


def test_connectivity_decides_whether_corners_join():
    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[1:3, 1:3] = 255
    rgb[3:5, 3:5] = 255  # touches the first square at one corner
    seg = kseg.segment(rgb, 2)
    assert seg.region_at(1, 1).sum() == 8
    assert seg.region_at(1, 1, connectivity=4).sum() == 4
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        seg.region_at(1, 1, connectivity=6)


def test_a_hole_closed_only_at_a_corner_is_a_hole_of_an_8_connected_ring():
    rgb = np.zeros((5, 5, 3), np.uint8)
    ring = np.array(
        [[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool
    )  # a diamond: its centre is enclosed for 8-connectivity
    rgb[1:4, 1:4][ring] = 255
    seg = kseg.segment(rgb, 2)
    assert seg.region_at(2, 1).sum() == 5  # the diamond and its centre
    assert seg.region_at(2, 1, fill_holes=False).sum() == 4
    # With 4-connectivity the diamond is four separate pixels.
    assert seg.region_at(2, 1, connectivity=4).sum() == 1


def test_points_outside_or_transparent_are_refused_in_plain_words():
    rgb, _left, _ = _discs()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :10] = 0
    seg = kseg.segment(kseg.ColorHistogram(rgb, alpha > 0), 2)
    with pytest.raises(ValueError, match=r"\(160, 5\) is outside the image, which is 160 x 90"):
        seg.region_at(160, 5)
    with pytest.raises(ValueError, match="outside the image"):
        seg.region_at(-1, 5)
    with pytest.raises(ValueError, match=r"\(3, 4\) is on a transparent pixel"):
        seg.region_at(3, 4)
    with pytest.raises(ValueError, match="two whole numbers"):
        seg.region_at(2.5, 4)
    # Transparent pixels never join a region, filled or not.
    for fill in (True, False):
        assert not seg.region_at(100, 2, fill_holes=fill)[:, :10].any()


def test_a_transparent_hole_stays_out_of_a_filled_region():
    rgb, left, _ = _discs()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[40:50, 35:45] = 0
    seg = kseg.segment(kseg.ColorHistogram(rgb, alpha > 0), 2)
    region = seg.region_at(20, 45)
    np.testing.assert_array_equal(region, left & (alpha > 0))


def test_one_row_images():
    rgb = np.zeros((1, 12, 3), np.uint8)
    rgb[0, 3:7] = 255
    seg = kseg.segment(rgb, 2)
    np.testing.assert_array_equal(np.flatnonzero(seg.region_at(4, 0)), [3, 4, 5, 6])
    np.testing.assert_array_equal(np.flatnonzero(seg.region_at(0, 0)), [0, 1, 2])
    assert seg.region_at(0, 0).sum() == 3  # nothing to fill along one row
    column = kseg.segment(np.ascontiguousarray(rgb.transpose(1, 0, 2)), 2)
    np.testing.assert_array_equal(np.flatnonzero(column.region_at(0, 5)), [3, 4, 5, 6])


def test_picks_add_up_and_a_pick_inside_takes_a_region_away():
    rgb, left, right = _discs()
    seg = kseg.segment(rgb, 2)
    picked = kseg.pick_regions(seg, [(40, 45), (120, 45)])
    assert [r.point for r in picked] == [(40, 45), (120, 45)]
    assert picked[0].cluster == picked[1].cluster == int(seg.labels[45, 40])
    np.testing.assert_array_equal(np.logical_or.reduce([r.mask for r in picked]), left | right)
    again = kseg.pick_regions(seg, [(40, 45), (120, 45), (30, 40)])  # (30, 40) is in the left
    assert [r.point for r in again] == [(120, 45)]
    np.testing.assert_array_equal(again[0].mask, right)
    assert kseg.pick_regions(seg, []) == []
    with pytest.raises(ValueError, match="outside the image"):
        kseg.pick_regions(seg, [(40, 45), (500, 45)])
    with pytest.raises(ValueError, match="two whole numbers"):
        kseg.pick_regions(seg, [(40,)])


def test_region_figures_of_a_square_with_a_hole():
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb[10:30, 5:25] = (200, 100, 50)  # 20 x 20 square ...
    rgb[15:20, 10:15] = (10, 10, 10)  # ... with a 5 x 5 hole
    seg = kseg.segment(rgb, 2)
    mask = seg.region_at(6, 11, fill_holes=False)
    figures = kseg.region_figures(seg, mask)
    assert figures.area == 400 - 25
    assert figures.share == pytest.approx(375 / 2000)
    assert figures.bbox == (5, 10, 20, 20)
    assert figures.perimeter == 4 * 20 + 4 * 5
    ys, xs = np.nonzero(mask)
    assert figures.centroid == pytest.approx((xs.mean(), ys.mean()))
    assert figures.mean_rgb == (200, 100, 50) and figures.hex == "#c86432"
    filled = kseg.region_figures(seg, seg.region_at(6, 11))
    assert (filled.area, filled.perimeter, filled.centroid) == (400, 80, (14.5, 19.5))
    assert filled.mean_rgb == tuple(round((375 * v + 25 * 10) / 400) for v in (200, 100, 50))
    data = filled.to_dict()
    assert data["bbox"] == {"x": 5, "y": 10, "width": 20, "height": 20}
    assert data["centroid"] == {"x": 14.5, "y": 19.5} and data["area"] == 400
    edge = kseg.region_figures(seg, seg.region_at(0, 0, fill_holes=False))
    assert edge.perimeter == 2 * (40 + 50) + 80  # the image border counts
    with pytest.raises(ValueError, match="empty"):
        kseg.region_figures(seg, np.zeros((40, 50), bool))
    with pytest.raises(ValueError, match="the image is"):
        kseg.region_figures(seg, np.ones((4, 5), bool))


def test_region_figures_share_is_of_the_opaque_pixels():
    rgb, left, _ = _discs()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, 150:] = 0
    seg = kseg.segment(kseg.ColorHistogram(rgb, alpha > 0), 2)
    figures = kseg.region_figures(seg, seg.region_at(40, 45))
    assert figures.share == pytest.approx(left.sum() / (alpha > 0).sum())


# --- min_region -------------------------------------------------------------------------


def _speckled(seed: int = 0, shape=(120, 160)) -> tuple[np.ndarray, np.ndarray]:
    """Three large areas plus specks of one to four pixels; returns the image and where
    the specks are."""
    rgb = np.zeros((*shape, 3), np.uint8)
    rgb[:, : shape[1] // 2] = (200, 40, 40)
    rgb[: shape[0] // 2, shape[1] // 2 :] = (40, 200, 40)
    rgb[shape[0] // 2 :, shape[1] // 2 :] = (40, 40, 200)
    rng = np.random.default_rng(seed)
    specks = np.zeros(shape, bool)
    for _ in range(60):
        r, c = rng.integers(2, shape[0] - 3), rng.integers(2, shape[1] - 3)
        h, w = rng.integers(1, 3, size=2)
        specks[r : r + h, c : c + w] = True
    rgb[specks] = (240, 240, 240)
    return rgb, specks


def _regions(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected regions by scikit-image (an implementation independent of kseg's)."""
    regions = skimage_label(labels + 1, background=0, connectivity=2)
    return regions, np.bincount(regions.ravel())[1:]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_region_removes_every_small_region_and_keeps_the_large_ones(seed):
    rgb, specks = _speckled(seed)
    plain = kseg.segment(rgb, 4)
    assert _regions(plain.labels)[1].min() < 5  # the specks are there ...
    clean = kseg.segment(rgb, 4, min_region=10)
    _, sizes = _regions(clean.labels)
    assert sizes.min() >= 10  # ... and gone
    assert clean.k == 3 and "merged every region of 1 of the 4 clusters" in clean.warnings[0]
    # Outside the specks every pixel keeps its colour.
    np.testing.assert_array_equal(
        clean.segmented_image()[~specks], plain.segmented_image()[~specks]
    )
    assert clean.params["min_region"] == 10 and "min_region" not in plain.params


def test_min_region_recomputes_counts_shares_compactness_and_error():
    rgb, _ = _speckled(3)
    rgb = np.clip(
        rgb.astype(np.int16) + np.random.default_rng(3).integers(-9, 10, rgb.shape), 0, 255
    )
    rgb = rgb.astype(np.uint8)
    for space in ("rgb", "lab", "hsv"):
        seg = kseg.segment(rgb, 5, min_region=12, color_space=space)
        labels = seg.labels
        counts = np.bincount(labels.ravel(), minlength=seg.k)
        np.testing.assert_array_equal(seg.counts, counts)
        assert np.all(np.diff(seg.counts) <= 0)  # still largest first
        np.testing.assert_allclose(seg.shares, counts / labels.size)
        # Over every pixel, to the centres the result reports (k-means's, kept).
        points = _spaces.to_features(rgb.reshape(-1, 3), space)
        exact = _feature_centers(seg)
        d2 = np.square(points - exact[labels.ravel()]).sum(axis=1)
        assert seg.compactness == pytest.approx(d2.sum(), rel=1e-9)
        assert seg.mean_error == pytest.approx(np.sqrt(d2).mean(), rel=1e-9)


def _feature_centers(seg) -> np.ndarray:
    """The result's centres as k-means points (HSV: back to the cylinder)."""
    centers = np.asarray(seg.centers, dtype=np.float64)
    if seg.color_space != "hsv":
        return centers
    angle = np.deg2rad(centers[:, 0])
    return np.stack(
        [centers[:, 1] * np.cos(angle), centers[:, 1] * np.sin(angle), centers[:, 2]], axis=1
    )


def test_a_small_region_joins_the_cluster_it_shares_the_longest_border_with():
    labels = np.zeros((7, 7), np.int16)
    labels[:, 4:] = 1
    labels[3, 3] = 2  # one pixel: 3 edges with cluster 0, 1 edge with cluster 1
    labels[5, 4] = 2  # one pixel: 1 edge with cluster 0, 3 edges with cluster 1
    out, merged, moved, counts = _components.merge_small_regions(labels, 2, 3)
    assert out[3, 3] == 0 and out[5, 4] == 1 and merged == 2
    np.testing.assert_array_equal(np.sort(moved), [3 * 7 + 3, 5 * 7 + 4])
    np.testing.assert_array_equal(counts, np.bincount(out.ravel(), minlength=3))


def test_a_region_with_no_opaque_neighbour_stays():
    labels = np.full((5, 5), -1, np.int16)
    labels[2, 2] = 0
    labels[0, :] = 1
    out, merged, moved, _ = _components.merge_small_regions(labels, 3, 2)
    np.testing.assert_array_equal(out, labels)
    assert merged == 0 and moved.size == 0


def test_a_speck_between_two_same_cluster_regions_joins_them():
    labels = np.zeros((3, 9), np.int16)
    labels[:, 4] = 1  # a column of cluster 1 splits cluster 0 in two ...
    labels[:, 5:] = 0
    out, merged, _, _ = _components.merge_small_regions(labels, 4, 2)
    assert merged == 1 and (out == 0).all()  # ... and joins it: one region


def test_min_region_on_one_row_and_transparent_images():
    rgb = np.zeros((1, 20, 3), np.uint8)
    rgb[0, 5] = 255
    rgb[0, 10:20] = 255
    seg = kseg.segment(rgb, 2, min_region=3)
    assert seg.labels[0, 5] == seg.labels[0, 0]
    assert (seg.labels[0, 10:] != seg.labels[0, 0]).all()
    alpha = np.full((1, 20), 255, np.uint8)
    alpha[0, 4] = alpha[0, 6] = 0  # the speck is now alone between transparent pixels
    isolated = kseg.segment(kseg.ColorHistogram(rgb, alpha > 0), 2, min_region=3)
    assert isolated.labels[0, 5] == isolated.labels[0, 12] != isolated.labels[0, 0]
    assert (isolated.labels[0, [4, 6]] == -1).all()


def test_min_region_zero_or_one_changes_nothing_and_bad_values_are_refused():
    rgb, _ = _speckled(4)
    plain = kseg.segment(rgb, 4)
    for size in (0, 1):
        same = kseg.segment(rgb, 4, min_region=size)
        np.testing.assert_array_equal(same.labels, plain.labels)
        assert same.compactness == plain.compactness
    with pytest.raises(ValueError, match="min_region"):
        kseg.segment(rgb, 4, min_region=-1)
    with pytest.raises(TypeError, match="min_region"):
        kseg.segment(rgb, 4, min_region=2.5)


def test_min_region_with_the_opencv_engine_and_with_regions():
    rgb, _ = _speckled(5, shape=(60, 80))
    for seg in (
        kseg.segment(rgb, 4, engine="opencv", attempts=2, min_region=8),
        kseg.segment(rgb, 4, regions=kseg.superpixels(rgb, 40), min_region=8),
    ):
        assert _regions(seg.labels)[1].min() >= 8
        np.testing.assert_array_equal(seg.counts, np.bincount(seg.labels.ravel(), minlength=seg.k))


def test_label_regions_matches_scikit_image():
    rng = np.random.default_rng(7)
    for shape in [(1, 30), (30, 1), (17, 23), (40, 40)]:
        labels = rng.integers(-1, 3, size=shape).astype(np.int16)
        ids, n, size, label_of, first = _components.label_regions(labels)
        theirs, their_sizes = _regions(labels)
        assert n == their_sizes.size
        # The same partition: a one-to-one map between the two labellings.
        pairs = np.unique(np.stack([ids[labels >= 0], theirs[labels >= 0]]), axis=1)
        assert pairs.shape[1] == n
        assert sorted(size.tolist()) == sorted(their_sizes.tolist())
        np.testing.assert_array_equal(label_of[ids[labels >= 0]], labels[labels >= 0])
        firsts = [int(np.flatnonzero(ids.ravel() == i)[0]) for i in range(n)]
        assert firsts == sorted(firsts)  # ids follow the first pixel in raster order
        np.testing.assert_array_equal(first, firsts)
