"""Tests for kseg.superpixels: SLIC superpixels on small images with known answers."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import cv2
import images
import numpy as np
import pytest

from kseg import ImageError, _slic_np
from kseg._superpixels import Superpixels, _color_planes, _Grid, _grid_centers, superpixels
from kseg.samples import sample_path


# ----------------------------------------------------------------------------- images
def textured(height: int = 300, width: int = 400) -> np.ndarray:
    """A bundled photo (coffee) resized to (height, width): real texture and edges."""
    bgr = cv2.imread(str(sample_path("coffee")), cv2.IMREAD_COLOR)
    return cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (width, height), cv2.INTER_AREA)


QUADRANT_COLORS = np.array([[200, 30, 30], [30, 180, 40], [40, 60, 200], [230, 220, 60]])


def quadrants(seed=0):
    """Four flat quadrants (split off the superpixel grid) plus mild noise, and their truth."""
    return images.quadrants(
        120, 100, split=(37, 61), colours=QUADRANT_COLORS, noise=3.0, seed=seed, truth=True
    )


def n_pieces(mask: np.ndarray) -> int:
    """Number of 4-connected pieces of a boolean mask."""
    n, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    return n - 1


def assert_connected_regions(sp: Superpixels) -> None:
    for k in range(sp.n_regions):
        assert n_pieces(sp.labels == k) == 1, f"label {k} is not one 4-connected region"


# ----------------------------------------------------------------------------- labels
@pytest.mark.parametrize("n_segments", [20, 150])
def test_each_label_is_one_4_connected_region(n_segments):
    sp = superpixels(textured(120, 160), n_segments)
    assert_connected_regions(sp)


def test_labels_cover_every_pixel_and_are_numbered_from_zero():
    sp = superpixels(textured(120, 160), 60)
    assert sp.labels.shape == (120, 160)
    assert sp.labels.dtype == np.int32
    assert sp.labels.min() == 0
    assert set(np.unique(sp.labels)) == set(range(sp.n_regions))


@pytest.mark.parametrize("n_segments", [100, 400])
def test_region_count_is_within_15_percent_of_n_segments(n_segments):
    sp = superpixels(textured(300, 400), n_segments)
    assert abs(sp.n_regions - n_segments) <= 0.15 * n_segments


def test_four_quadrants_are_recovered_exactly():
    """Every superpixel lies inside one quadrant: under-segmentation error is zero."""
    rgb, truth = quadrants()
    sp = superpixels(rgb, 20)
    for k in range(sp.n_regions):
        assert len(np.unique(truth[sp.labels == k])) == 1, f"superpixel {k} straddles quadrants"
    assert_connected_regions(sp)


def test_quadrants_in_rgb_space_too():
    rgb, truth = quadrants(seed=1)
    sp = superpixels(rgb, 20, color_space="rgb", compactness=20.0)
    for k in range(sp.n_regions):
        assert len(np.unique(truth[sp.labels == k])) == 1


def test_flat_image_gives_a_regular_grid():
    sp = superpixels(np.full((60, 80, 3), 128, np.uint8), 12)
    assert sp.n_regions == 12
    np.testing.assert_array_equal(sp.sizes, np.full(12, 400))


def test_without_connectivity_labels_are_still_numbered_from_zero():
    sp = superpixels(textured(120, 160), 60, enforce_connectivity=False)
    assert set(np.unique(sp.labels)) == set(range(sp.n_regions))
    assert sp.sizes.sum() == 120 * 160


def test_same_input_gives_same_labels():
    rgb = textured(150, 200)
    first = superpixels(rgb, 80)
    second = superpixels(rgb.copy(), 80)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.mean_colors, second.mean_colors)


def test_labels_do_not_depend_on_the_number_of_cores(monkeypatch):
    from kseg import _superpixels as module

    rgb = textured(150, 200)
    monkeypatch.setattr(module, "_n_workers", lambda: 1)
    one = superpixels(rgb, 80)
    monkeypatch.setattr(module, "_n_workers", lambda: 3)
    three = superpixels(rgb, 80)
    np.testing.assert_array_equal(one.labels, three.labels)
    np.testing.assert_array_equal(one.mean_colors, three.mean_colors)


def test_input_is_not_modified():
    rgb = textured(60, 80)
    before = rgb.copy()
    superpixels(rgb, 10)
    np.testing.assert_array_equal(rgb, before)


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (3, 500), (7, 9)])
def test_tiny_and_thin_images(shape):
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    sp = superpixels(rgb, min(4, shape[0] * shape[1]))
    assert sp.labels.shape == shape
    assert sp.labels.min() == 0
    assert_connected_regions(sp)


def test_one_segment_is_the_whole_image():
    sp = superpixels(quadrants()[0], 1)
    assert sp.n_regions == 1
    assert (sp.labels == 0).all()


def test_more_segments_than_pixels_says_so_in_the_result():
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one way to report it: the result's warnings
        sp = superpixels(rgb, 100)
    assert len(sp.warnings) == 1 and "more than the image's 20 pixels" in sp.warnings[0]
    assert 1 <= sp.n_regions <= 20
    assert superpixels(rgb, 4).warnings == ()


def test_as_many_segments_as_pixels_gives_one_region_per_pixel():
    """Regression (issue 10): on a flat image every gradient ties, and the nudge moved every
    centre up-left, so the first row's and column's centres met: 382 regions of 420."""
    sp = superpixels(np.zeros((20, 21, 3), np.uint8), 420)
    assert sp.n_regions == 420
    np.testing.assert_array_equal(np.sort(sp.labels.ravel()), np.arange(420))


def test_as_many_segments_as_pixels_on_noise_gives_one_region_per_pixel():
    """Regression (issue 10): on noise the nudge put neighbouring centres on one pixel, so
    only 288 of 420 regions came back."""
    rgb = np.random.default_rng(0).integers(0, 256, (20, 21, 3), dtype=np.uint8)
    assert superpixels(rgb, 420).n_regions == 420


def starting_centres(rgb: np.ndarray, n_segments: int) -> np.ndarray:
    grid = _Grid.for_image(rgb.shape[0], rgb.shape[1], n_segments)
    planes = _color_planes(_slic_np, rgb, "lab", grid.step / 10.0, [(0, rgb.shape[0])], None)
    return _grid_centers(planes, None, grid)


def test_centres_on_a_flat_image_stay_on_the_grid():
    """Regression (issue 10): tied gradients sent every centre to its up-left neighbour."""
    centres = starting_centres(np.full((9, 12, 3), 77, np.uint8), 12)
    rows, cols = np.meshgrid([1, 4, 7], [1, 4, 7, 10], indexing="ij")
    np.testing.assert_array_equal(centres[:, 0], rows.ravel())
    np.testing.assert_array_equal(centres[:, 1], cols.ravel())


def test_a_centre_on_an_edge_moves_to_the_lower_gradient_beside_it():
    rgb = np.zeros((9, 9, 3), np.uint8)
    rgb[:, 5:] = 255  # the edge runs between columns 4 and 5; grid points are at 1, 4, 7
    centres = starting_centres(rgb, 9)
    np.testing.assert_array_equal(centres[:, 0], [1, 1, 1, 4, 4, 4, 7, 7, 7])
    np.testing.assert_array_equal(centres[:, 1], [1, 3, 7] * 3)


@pytest.mark.parametrize("n_segments", [200, 300, 450, 900])
def test_no_two_centres_start_on_one_pixel(n_segments):
    rgb = np.random.default_rng(n_segments).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    centres = starting_centres(rgb, n_segments)
    assert len(np.unique(centres[:, :2], axis=0)) == len(centres)


# ----------------------------------------------------------------------------- alpha
def with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> SimpleNamespace:
    """A stand-in for kseg's Image: anything with .rgb and .alpha."""
    return SimpleNamespace(rgb=rgb, alpha=alpha)


def test_transparent_pixels_get_minus_one_and_opaque_ones_a_region():
    rgb = textured(120, 160)
    alpha = np.ones((120, 160), bool)
    alpha[:, :70] = False  # a fully transparent left part, many grid cells wide
    alpha[90:, 100:130] = False
    sp = superpixels(with_alpha(rgb, alpha), 60)
    np.testing.assert_array_equal(sp.labels < 0, ~alpha)
    assert (sp.labels[~alpha] == -1).all()
    assert sp.sizes.sum() == alpha.sum()
    assert_connected_regions(sp)
    # The opaque part holds about its share of the 60 superpixels, not all of them.
    assert 15 <= sp.n_regions <= 45


def test_a_transparent_pixel_of_its_own_disables_its_centre():
    """With one-pixel cells every neighbour of a transparent grid point is another centre's,
    so its centre cannot move off it: the transparent cell's centre is disabled."""
    rgb = np.random.default_rng(0).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    alpha = np.ones((5, 5), bool)
    alpha[2, 2] = False
    grid = _Grid.for_image(5, 5, 25)
    planes = _color_planes(_slic_np, rgb, "lab", grid.step / 10.0, [(0, 5)], None)
    centres = _grid_centers(planes, alpha, grid)
    assert np.isinf(centres[12, 0]) and np.isfinite(np.delete(centres[:, 0], 12)).all()
    sp = superpixels(with_alpha(rgb, alpha), 25)
    assert sp.n_regions == 24 and sp.labels[2, 2] == -1


def test_alpha_none_means_fully_opaque():
    rgb = textured(80, 100)
    np.testing.assert_array_equal(
        superpixels(with_alpha(rgb, None), 30).labels, superpixels(rgb, 30).labels
    )


def test_scattered_transparency_still_gives_connected_regions():
    rgb = textured(100, 120)
    alpha = np.random.default_rng(3).random((100, 120)) > 0.3
    sp = superpixels(with_alpha(rgb, alpha), 40)
    np.testing.assert_array_equal(sp.labels >= 0, alpha)
    assert_connected_regions(sp)


def test_read_only_inputs_reuse_the_compiled_kernels(monkeypatch):
    """Regression: a read-only image (kseg's Image holds read-only arrays) made numba
    compile a second version of two kernels, seconds more on a cold start."""
    from kseg import _slic

    monkeypatch.setenv("KSEG_KERNELS", "numba")

    rgb = textured(40, 50)
    alpha = np.ones((40, 50), bool)
    alpha[:3] = False
    superpixels(with_alpha(rgb, alpha), 6)
    rgb_ro, alpha_ro = rgb.copy(), alpha.copy()
    rgb_ro.flags.writeable = alpha_ro.flags.writeable = False
    sp = superpixels(with_alpha(rgb_ro, alpha_ro), 6)
    superpixels(rgb_ro, 6)
    assert (sp.labels[:3] == -1).all()
    for kernel in (_slic._to_planes, _slic._assign_strip, _slic._region_sums):
        assert len(kernel.signatures) == 1, kernel


def test_pixels_no_window_reaches_go_to_a_nearby_centre():
    """Centres can drift apart and leave pixels outside every 2S x 2S window; those
    pixels must still get a label and count in their centre's sums."""
    from kseg import _slic

    height = width = 20
    planes = [np.zeros((height, width), np.float32) for _ in range(3)]
    # A 2 x 2 grid whose centres all drifted into the top-left corner.
    centers = np.array([[1, 1, 0, 0, 0], [1, 2, 0, 0, 0], [2, 1, 0, 0, 0], [2, 2, 0, 0, 0]])
    centers = centers.astype(np.float32)
    ids = np.arange(4, dtype=np.int32)
    labels = np.full((height, width), -7, np.int32)
    sums = np.zeros((4, 6))
    no_alpha = np.zeros((0, 0), np.uint8)
    no_alpha.flags.writeable = False
    window = np.float32(3.0)
    _slic._assign_strip(
        *planes, no_alpha, 0, height, window, centers, ids, centers, 2, 2, labels, sums
    )
    assert labels.min() >= 0
    np.testing.assert_array_equal(sums[:, 5], np.bincount(labels.ravel(), minlength=4))
    assert labels[-1, -1] == 3  # the far corner goes to its own cell's centre


# ----------------------------------------------------------------------------- results
def test_statistics_match_the_labels():
    rgb = textured(90, 120)
    sp = superpixels(rgb, 30)
    assert sp.mean_colors.shape == (sp.n_regions, 3) and sp.mean_colors.dtype == np.float64
    assert sp.sizes.dtype == np.int64 and sp.centroids.shape == (sp.n_regions, 2)
    np.testing.assert_array_equal(sp.sizes, np.bincount(sp.labels.ravel()))
    rows, cols = np.nonzero(sp.labels == 7)
    np.testing.assert_allclose(sp.centroids[7], [rows.mean(), cols.mean()])
    np.testing.assert_allclose(sp.mean_colors[7], rgb[rows, cols].mean(axis=0))
    assert sp.seconds > 0


def test_mean_color_image_paints_regions_and_leaves_transparent_black():
    rgb, _ = quadrants()
    alpha = np.ones(rgb.shape[:2], bool)
    alpha[:5] = False
    sp = superpixels(with_alpha(rgb, alpha), 20)
    painted = sp.mean_color_image()
    assert painted.shape == rgb.shape and painted.dtype == np.uint8
    assert (painted[:5] == 0).all()
    k = sp.labels[50, 100]
    np.testing.assert_array_equal(painted[sp.labels == k][0], np.rint(sp.mean_colors[k]))


def hand_made(labels) -> Superpixels:
    labels = np.asarray(labels, np.int32)
    n = int(labels.max()) + 1
    return Superpixels(
        labels=labels,
        n_regions=n,
        mean_colors=np.zeros((n, 3)),
        sizes=np.bincount(labels[labels >= 0], minlength=n).astype(np.int64),
        centroids=np.zeros((n, 2)),
        seconds=0.0,
        rgb=np.full((*labels.shape, 3), 9, np.uint8),
    )


def test_boundaries_mark_pixels_whose_right_or_lower_neighbour_differs():
    sp = hand_made([[0, 0, 1], [0, 0, 1], [2, 2, 2]])
    expected = [[0, 1, 0], [1, 1, 1], [0, 0, 0]]
    np.testing.assert_array_equal(sp.boundaries(), np.array(expected, bool))


def test_boundaries_skip_transparent_pixels():
    sp = hand_made([[0, -1], [0, 0]])
    np.testing.assert_array_equal(sp.boundaries(), [[True, False], [False, False]])


def test_boundaries_are_thin_lines_between_real_superpixels():
    sp = superpixels(quadrants()[0], 20)
    edges = sp.boundaries()
    assert edges.dtype == bool and edges.shape == sp.labels.shape
    # One pixel thick: no 2 x 2 block is all boundary.
    blocks = edges[:-1, :-1] & edges[1:, :-1] & edges[:-1, 1:] & edges[1:, 1:]
    assert blocks.sum() < 0.01 * edges.sum()
    assert 0.02 < edges.mean() < 0.3


def test_overlay_draws_boundaries_on_a_copy():
    rgb, _ = quadrants()
    sp = superpixels(rgb, 20)
    drawn = sp.overlay((255, 0, 255))
    edges = sp.boundaries()
    assert drawn.shape == rgb.shape and drawn.dtype == np.uint8
    assert (drawn[edges] == [255, 0, 255]).all()
    np.testing.assert_array_equal(drawn[~edges], rgb[~edges])
    assert (sp.overlay()[edges] == [255, 255, 0]).all()
    assert not np.shares_memory(drawn, rgb)


@pytest.mark.parametrize("color", [(255, 0), (0, 0, 300), (0.5, 0, 0), "red"])
def test_overlay_rejects_bad_colors(color):
    with pytest.raises(ValueError, match="three integers in 0..255"):
        hand_made([[0, 1]]).overlay(color)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_segments": 0}, ValueError, "n_segments must be at least 1"),
        ({"n_segments": 2.5}, TypeError, "n_segments must be a whole number"),
        ({"compactness": 0}, ValueError, "compactness must be a finite number > 0"),
        ({"compactness": -3.0}, ValueError, "compactness must be a finite number > 0"),
        ({"compactness": float("nan")}, ValueError, "compactness must be a finite number > 0"),
        ({"compactness": "10"}, TypeError, "compactness must be a number"),
        ({"max_iter": 0}, ValueError, "max_iter must be at least 1"),
        ({"color_space": "hsv"}, ValueError, "color_space must be one of lab, rgb"),
        ({"seed": 0}, TypeError, "unexpected keyword argument 'seed'"),  # SLIC has no seed
    ],
)
def test_bad_parameters_are_explained(kwargs, error, match):
    with pytest.raises(error, match=match):
        superpixels(np.zeros((10, 10, 3), np.uint8), **kwargs)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((10, 10), np.uint8), r"shape \(height, width, 3\)"),
        (np.zeros((10, 10, 4), np.uint8), r"rgba\[\.\.\., :3\]"),
        (np.zeros((10, 10, 3), np.float64), "dtype uint8"),
        (np.zeros((0, 10, 3), np.uint8), "no pixels"),
        (with_alpha(np.zeros((4, 4, 3), np.uint8), np.ones((4, 5), bool)), "alpha mask"),
        (with_alpha(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.uint8)), "alpha mask"),
        (with_alpha(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), bool)), "transparent"),
    ],
)
def test_bad_images_raise_image_error(image, match):
    with pytest.raises(ImageError, match=match):
        superpixels(image)


def test_an_image_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="NumPy array"):
        superpixels([[[0, 0, 0]]])


def test_parameters_are_checked_before_the_image():
    with pytest.raises(ValueError, match="n_segments"):
        superpixels(None, 0)
