"""Property-based tests (hypothesis) for kseg.kmeans and kseg.segment.

Random points, weights, images, opacity, k and parameters; for every draw:

- labels are in range (and -1 exactly where a pixel is transparent);
- every point's label is its nearest centre, so labels, centres and compactness agree;
- compactness equals its recomputation from the points and centres, and is the best
  of the attempts;
- nothing is NaN or infinite;
- the same seed gives the same labels and centres (determinism), whatever the threads;
- weights behave as repeated points; given centres with max_iter=0 stay where they are.

``max_examples`` is moderate and ``deadline`` off (compiled kernels, shared machine): the
whole file runs in well under a minute.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kseg
from kseg import CRITERIA
from kseg import _spaces as spaces

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: CI failures reproduce
)


# ----------------------------------------------------------------------------- strategies
@st.composite
def point_sets(draw):
    """(points, weights or None, k): up to 120 points in 1-4 dimensions, some duplicated."""
    n = draw(st.integers(1, 120))
    d = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 255.0, 1e4]))
    n_distinct = draw(st.integers(1, n))
    distinct = rng.normal(0, scale, (n_distinct, d))
    if draw(st.booleans()):
        distinct = np.round(distinct)  # integer coordinates: ties between centres happen
    points = distinct[rng.integers(0, n_distinct, n)]
    weights = None
    if draw(st.booleans()):
        weights = rng.integers(0, 5, n).astype(np.float64)
        if draw(st.booleans()):
            weights = weights * rng.random(n)  # fractional weights
        weights[rng.integers(0, n)] = 1.0  # at least one point counts
    n_positive = n if weights is None else int(np.count_nonzero(weights > 0))
    k = draw(st.integers(1, min(8, n_positive)))
    return points, weights, k


kmeans_options = st.fixed_dictionaries(
    {
        "init": st.sampled_from(["k-means++", "random"]),
        "attempts": st.integers(1, 4),
        "max_iter": st.integers(0, 30),
        "eps": st.sampled_from([0.0, 1e-3, 0.1, 1.0]),
        "criteria": st.sampled_from(CRITERIA),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@st.composite
def images(draw):
    """A small RGB image from a random palette (optionally noisy) and its opacity."""
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_colours = draw(st.integers(1, 16))
    palette = rng.integers(0, 256, (n_colours, 3))
    rgb = palette[rng.integers(0, n_colours, (height, width))]
    if draw(st.booleans()):
        rgb = rgb + rng.integers(-6, 7, rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    alpha = None
    if draw(st.booleans()):
        alpha = rng.random((height, width)) < draw(st.sampled_from([0.3, 0.7, 0.95]))
        alpha[rng.integers(0, height), rng.integers(0, width)] = True  # one opaque pixel
        # Colours under transparent pixels are arbitrary; they must not matter.
        rgb[~alpha] = rng.integers(0, 256, (int((~alpha).sum()), 3))
    return kseg.Image.from_array(rgb, alpha=alpha)


segment_options = st.fixed_dictionaries(
    {
        "k": st.integers(1, 12),
        "init": st.sampled_from(["k-means++", "random"]),
        "attempts": st.integers(1, 3),
        "max_iter": st.integers(0, 25),
        "eps": st.sampled_from([0.0, 0.1, 1.0]),
        "criteria": st.sampled_from(CRITERIA),
        "color_space": st.sampled_from(spaces.COLOR_SPACES),
        "seed": st.integers(0, 2**31 - 1),
    }
)


# ----------------------------------------------------------------------------- helpers
def squared_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)


def assert_nearest(points: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> None:
    """Each label is a nearest centre (ties may go either way, within rounding)."""
    d2 = squared_distances(points, centers)
    own = d2[np.arange(len(points)), labels]
    best = d2.min(axis=1)
    tolerance = 1e-9 * np.maximum(1.0, np.abs(points).max() ** 2)
    assert (own <= best + tolerance).all()


def feature_centres(seg: kseg.Segmentation) -> np.ndarray:
    """The centres in the space where distances were measured (HSV: the cylinder)."""
    if seg.color_space != "hsv":
        return seg.centers
    hue = np.deg2rad(seg.centers[:, 0])
    sat = seg.centers[:, 1]
    return np.stack([sat * np.cos(hue), sat * np.sin(hue), seg.centers[:, 2]], axis=1)


# ----------------------------------------------------------------------------- kmeans
@SETTINGS
@given(point_sets(), kmeans_options)
def test_kmeans_labels_compactness_and_determinism(data, options):
    points, weights, k = data
    result = kseg.kmeans(points, k, weights=weights, **options)
    n, d = points.shape
    w = np.ones(n) if weights is None else weights
    assert result.centers.shape == (k, d) and np.isfinite(result.centers).all()
    assert result.labels.shape == (n,) and result.labels.dtype == np.int32
    assert result.labels.min() >= 0 and result.labels.max() < k
    assert_nearest(points, result.centers, result.labels)
    residual = points - result.centers[result.labels]
    recomputed = float((w * (residual**2).sum(axis=1)).sum())
    assert np.isfinite(result.compactness)
    assert result.compactness == pytest.approx(recomputed, rel=1e-9, abs=1e-9)
    assert result.compactness == min(result.attempt_compactness)
    assert len(result.attempt_compactness) == options["attempts"]
    assert 0 <= result.n_iter <= max(options["max_iter"], 100)
    again = kseg.kmeans(points, k, weights=weights, **options)
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_array_equal(again.centers, result.centers)
    assert again.compactness == result.compactness


@SETTINGS
@given(point_sets(), st.integers(0, 2**31 - 1))
def test_kmeans_integer_weights_equal_repeated_points(data, seed):
    points, _, k = data
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, len(points))
    start = points[rng.choice(len(points), size=k, replace=False)]
    assume(len(np.unique(start, axis=0)) == k)
    weighted = kseg.kmeans(points, k, weights=counts, init=start, max_iter=15, eps=0.0)
    repeated = kseg.kmeans(np.repeat(points, counts, axis=0), k, init=start, max_iter=15, eps=0.0)
    np.testing.assert_allclose(weighted.centers, repeated.centers, rtol=1e-9, atol=1e-9)
    assert weighted.compactness == pytest.approx(repeated.compactness, rel=1e-9, abs=1e-9)
    np.testing.assert_array_equal(np.repeat(weighted.labels, counts), repeated.labels)


@SETTINGS
@given(point_sets())
def test_kmeans_given_centres_with_no_updates_only_assign(data):
    points, weights, k = data
    start = points[:k] + 0.5
    result = kseg.kmeans(points, k, weights=weights, init=start, max_iter=0)
    np.testing.assert_array_equal(result.centers, start)
    assert result.n_iter == 0
    assert_nearest(points, start, result.labels)


# ----------------------------------------------------------------------------- segment
@SETTINGS
@given(images(), segment_options)
def test_segment_labels_compactness_and_determinism(image, options):
    seg = kseg.segment(image, **options)
    hist = kseg.ColorHistogram.from_image(image)
    k = options["k"]
    assert 1 <= seg.k <= k
    assert seg.k == min(k, hist.n_colors)
    labels = seg.labels
    transparent = np.zeros(image.shape, bool) if image.alpha is None else ~image.alpha
    assert labels.shape == image.shape
    np.testing.assert_array_equal(labels < 0, transparent)
    opaque_labels = labels[~transparent]
    assert opaque_labels.min() >= 0 and opaque_labels.max() < seg.k
    # Counts, shares and order.
    np.testing.assert_array_equal(np.bincount(opaque_labels, minlength=seg.k), seg.counts)
    assert seg.counts.sum() == hist.n_opaque
    assert seg.shares.sum() == pytest.approx(1.0)
    assert (np.diff(seg.counts) <= 0).all()
    # Finite numbers; colours in range.
    assert np.isfinite(seg.centers).all() and np.isfinite(seg.compactness)
    assert seg.centers_rgb.dtype == np.uint8 and seg.centers_rgb.shape == (seg.k, 3)
    # Labels are the nearest centres in the colour space, and compactness is their sum.
    features = spaces.to_features(image.rgb[~transparent], seg.color_space)
    centres = feature_centres(seg)
    assert_nearest(features, centres, opaque_labels)
    residual = features - centres[opaque_labels]
    recomputed = float((residual**2).sum())
    assert seg.compactness == pytest.approx(recomputed, rel=1e-7, abs=1e-6)
    # Determinism, and colours under transparent pixels play no part.
    again = kseg.segment(image, **options)
    np.testing.assert_array_equal(again.labels, labels)
    np.testing.assert_array_equal(again.centers, seg.centers)
    if image.alpha is not None:
        other = np.array(image.rgb)
        other[transparent] = 255 - other[transparent]
        moved = kseg.segment(kseg.Image.from_array(other, alpha=image.alpha), **options)
        np.testing.assert_array_equal(moved.labels, labels)
        np.testing.assert_array_equal(moved.centers, seg.centers)


@settings(SETTINGS, max_examples=30)
@given(images(), st.integers(1, 6), st.integers(0, 1000))
def test_segment_opencv_engine_agrees_on_the_basics(image, k, seed):
    seg = kseg.segment(image, k, engine="opencv", attempts=2, seed=seed)
    transparent = np.zeros(image.shape, bool) if image.alpha is None else ~image.alpha
    labels = seg.labels
    np.testing.assert_array_equal(labels < 0, transparent)
    assert labels[~transparent].max() < seg.k
    features = image.rgb[~transparent].astype(np.float64)
    residual = features - seg.centers[labels[~transparent]]
    assert seg.compactness == pytest.approx(float((residual**2).sum()), rel=1e-6, abs=1e-3)
    again = kseg.segment(image, k, engine="opencv", attempts=2, seed=seed)
    np.testing.assert_array_equal(again.labels, labels)


@settings(SETTINGS, max_examples=30)
@given(images(), st.integers(1, 6), st.integers(1, 40), st.sampled_from(["rgb", "lab"]))
def test_segment_over_regions_keeps_compactness_over_all_pixels(image, k, n_regions, space):
    regions = kseg.superpixels(image, min(n_regions, image.n_pixels))
    seg = kseg.segment(image, k, regions=regions, attempts=2, color_space=space)
    transparent = np.zeros(image.shape, bool) if image.alpha is None else ~image.alpha
    labels = seg.labels
    np.testing.assert_array_equal(labels < 0, transparent)
    assert labels[~transparent].max() < seg.k
    features = spaces.to_features(image.rgb[~transparent], space)
    residual = features - seg.centers[labels[~transparent]]
    assert seg.compactness == pytest.approx(float((residual**2).sum()), rel=1e-7, abs=1e-5)
    assert np.isfinite(seg.centers).all()
