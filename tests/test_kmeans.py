"""kseg.kmeans: weighted Lloyd with OpenCV's criteria, checked against known answers."""

import cv2
import numpy as np
import pytest

import kseg
from kseg import kmeans


def reference_lloyd(X, w, centers, max_iter, eps):
    """Plain weighted Lloyd in numpy: assign, update, stop on max_iter or shift <= eps."""
    C = centers.astype(np.float64).copy()
    n_iter = 0
    labels = ((X[:, None] - C[None]) ** 2).sum(2).argmin(1)
    while n_iter < max_iter:
        new = C.copy()
        for j in range(len(C)):
            inside = labels == j
            if w[inside].sum() > 0:
                new[j] = (w[inside, None] * X[inside]).sum(0) / w[inside].sum()
        shift = np.sqrt(((new - C) ** 2).sum(1)).max()
        C = new
        n_iter += 1
        if shift <= eps or n_iter >= max_iter:
            break
        labels = ((X[:, None] - C[None]) ** 2).sum(2).argmin(1)
    labels = ((X[:, None] - C[None]) ** 2).sum(2).argmin(1)
    compactness = float((w * ((X - C[labels]) ** 2).sum(1)).sum())
    return C, labels, n_iter, compactness


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("eps", [0.0, 0.5])
def test_equals_reference_lloyd_from_same_centres(k, eps):
    rng = np.random.default_rng(k)
    X = rng.normal(size=(3000, 3)) * 40 + rng.integers(0, 4, (3000, 1)) * 60
    w = rng.integers(1, 50, 3000).astype(float)
    start = X[rng.choice(3000, k, replace=False)]
    C, labels, n_iter, compactness = reference_lloyd(X, w, start, 30, eps)
    res = kmeans(X, k, weights=w, init=start, max_iter=30, eps=eps)
    np.testing.assert_array_equal(res.labels, labels)
    np.testing.assert_allclose(res.centers, C, rtol=1e-9, atol=1e-9)
    assert res.n_iter == n_iter
    assert res.compactness == pytest.approx(compactness, rel=1e-9)


def test_weights_equal_repeated_points():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (400, 3)).astype(float)
    counts = rng.integers(1, 6, 400)
    start = X[:5]
    weighted = kmeans(X, 5, weights=counts, init=start, max_iter=50, eps=0)
    repeated = kmeans(np.repeat(X, counts, axis=0), 5, init=start, max_iter=50, eps=0)
    np.testing.assert_allclose(weighted.centers, repeated.centers, atol=1e-9)
    assert weighted.compactness == pytest.approx(repeated.compactness, rel=1e-9)


def test_two_obvious_groups():
    res = kmeans([[0.0, 0], [0, 1], [10, 10], [10, 11]], 2, seed=3)
    assert sorted(map(tuple, res.centers.round(6))) == [(0.0, 0.5), (10.0, 10.5)]
    assert res.compactness == pytest.approx(4 * 0.25)
    assert res.labels[0] == res.labels[1] != res.labels[2] == res.labels[3]


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_deterministic_for_a_seed(init):
    X = np.random.default_rng(1).normal(size=(2000, 3))
    a = kmeans(X, 6, init=init, seed=11)
    b = kmeans(X, 6, init=init, seed=11)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centers, b.centers)
    assert len(a.attempt_compactness) == 10
    assert a.compactness == min(a.attempt_compactness)


def test_max_iter_zero_only_assigns():
    X = np.array([[0.0], [1.0], [9.0]])
    res = kmeans(X, 2, init=[[0.0], [10.0]], max_iter=0)
    assert res.n_iter == 0
    np.testing.assert_array_equal(res.centers, [[0.0], [10.0]])
    np.testing.assert_array_equal(res.labels, [0, 0, 1])
    assert res.compactness == pytest.approx(0 + 1 + 1)


def test_criteria_max_iter_counts_updates():
    X = np.random.default_rng(2).normal(size=(5000, 2))
    res = kmeans(X, 8, max_iter=3, eps=1e9, criteria="max_iter", attempts=1)
    assert res.n_iter == 3  # eps is ignored under "max_iter"
    res = kmeans(X, 8, max_iter=3, eps=1e9, criteria="eps+max_iter", attempts=1)
    assert res.n_iter == 1  # the first update moves less than a huge eps


def test_eps_only_runs_to_convergence():
    X = np.random.default_rng(4).normal(size=(3000, 2))
    res = kmeans(X, 5, max_iter=1, eps=0.0, criteria="eps", attempts=1)
    assert res.n_iter > 1  # max_iter is ignored under "eps"


def test_empty_cluster_is_refilled_without_nan():
    X = np.array([[0.0], [0.1], [5.0], [5.1], [9.0]])
    res = kmeans(X, 3, init=[[0.0], [100.0], [200.0]], max_iter=10)
    assert np.isfinite(res.centers).all()
    assert len(set(res.labels.tolist())) == 3


def test_empty_cluster_donor_gives_up_the_moved_point():
    """Regression (issue 10): the farthest point moved onto an empty cluster stayed in its
    old cluster's mean, so with max_iter=1 the donor's centre came back as -1.65, the mean
    of all ten points. OpenCV's kmeans.cpp takes it out: the donor keeps the other eight."""
    X = np.array([[-10], [-9.5], [-9], [-8.5], [-8], [-1], [1], [9], [9.5], [10.0]])
    res = kmeans(X, 3, init=[[-10.0]] * 3, attempts=1, max_iter=1)
    # All ten start in cluster 0 (mean -1.65); 10 then 9.5 are the farthest from it.
    np.testing.assert_allclose(res.centers.ravel(), [-36 / 8, 10.0, 9.5], atol=1e-12)


def test_empty_cluster_donor_moves_the_whole_weight_and_is_recomputed():
    """Regression (issue 10): a moved colour left its weight in the donor's mean. The donor's
    mean is recomputed after each move, as OpenCV does, so the second empty cluster takes
    7.5 (8.37 from the donor's new mean -20/23), not -8 (8 from the stale mean 0)."""
    X = np.array([[-8.0], [-1.0], [7.5], [10.0]])
    w = np.array([2.0, 19.0, 2.0, 2.0])  # weighted mean exactly 0
    res = kmeans(X, 3, weights=w, init=[[-8.0]] * 3, attempts=1, max_iter=1)
    np.testing.assert_allclose(res.centers.ravel(), [-35 / 21, 10.0, 7.5], atol=1e-12)
    np.testing.assert_array_equal(res.labels, [0, 0, 2, 1])
    assert res.compactness == pytest.approx(2 * (-8 + 35 / 21) ** 2 + 19 * (-1 + 35 / 21) ** 2)


def test_empty_clusters_do_not_empty_their_donors():
    """Regression (issue 10): with stale distances two empty clusters took both colours of
    cluster 0 (0 and 10, each 5 from the mean 5), emptying it. Once 0 leaves, 10 sits on
    its cluster's recomputed mean, so the second empty cluster takes 50 from cluster 1."""
    X = np.array([[0.0], [10.0], [50.0], [51.0]])
    res = kmeans(X, 4, init=[[5.0], [50.5], [1000.0], [2000.0]], attempts=1, max_iter=1)
    np.testing.assert_allclose(res.centers.ravel(), [10.0, 51.0, 0.0, 50.0], atol=1e-12)
    assert res.compactness == 0.0


def test_segment_histogram_and_regions_refill_empty_clusters_the_same_way():
    """Regression (issue 10): kseg.segment runs the same kernel over distinct colours weighted
    by pixel count (and over region means), so its donor kept the moved colour too: 118.33."""
    grey = np.array([0, 0, 10, 200, 250, 250], np.uint8)
    image = np.repeat(grey[None, :, None], 3, axis=2)  # one row of six grey pixels
    start = {"init": [[0, 0, 0]] * 3, "max_iter": 1, "attempts": 1}
    seg = kseg.segment(image, 3, **start)
    # Mean 710 / 6; 250 (two pixels) leaves, then 200 (147.5 from the donor's new mean 52.5).
    np.testing.assert_allclose(seg.centers[:, 0], [10 / 3, 250.0, 200.0], atol=1e-9)
    assert seg.compactness == pytest.approx(3 * (2 * (10 / 3) ** 2 + (10 - 10 / 3) ** 2))
    # Over six one-pixel regions the two 250s are two points: each leaves on its own.
    regions = kseg.segment(image, 3, regions=kseg.superpixels(image, 6), **start)
    np.testing.assert_allclose(regions.centers[:, 0], [52.5, 250.0], atol=1e-9)  # 3rd empty


def test_duplicate_points_fewer_than_k_distinct():
    X = np.array([[1.0, 1.0]] * 5 + [[2.0, 2.0]] * 5)
    res = kmeans(X, 3, seed=0)
    assert np.isfinite(res.centers).all()
    assert res.compactness == pytest.approx(0.0)


def test_comparable_with_cv2_kmeans():
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(20000, 3)) * 30 + rng.integers(0, 5, (20000, 1)) * 50).astype(np.float32)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    cv2.setRNGSeed(0)
    _, labels, centers = cv2.kmeans(X, 6, None, crit, 10, cv2.KMEANS_PP_CENTERS)
    cv_compactness = float(((X.astype(float) - centers[labels.ravel()]) ** 2).sum())
    ours = kmeans(X, 6, seed=0)
    assert ours.compactness <= cv_compactness * 1.001


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be at least 1"),
        ({"k": 50}, "need at least 50 points"),
        ({"k": 2, "init": "nope"}, "init must be one of"),
        ({"k": 2, "init": [[1, 2, 3]]}, r"shape \(2, 3\)"),
        ({"k": 2, "criteria": "sometimes"}, "criteria must be one of"),
        ({"k": 2, "eps": -1}, "eps must be"),
        ({"k": 2, "max_iter": -1}, "max_iter must be at least 0"),
        ({"k": 2, "attempts": 0}, "attempts must be at least 1"),
        ({"k": 2, "weights": np.ones(3)}, "weights has 3 values"),
        ({"k": 2, "weights": -np.ones(10)}, "weights must be finite and >= 0"),
    ],
)
def test_bad_parameters_are_explained(kwargs, match):
    X = np.random.default_rng(0).normal(size=(10, 3))
    k = kwargs.pop("k")
    with pytest.raises(ValueError, match=match):
        kmeans(X, k, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 2.5}, "k must be a whole number"),
        ({"k": 2, "attempts": "3"}, "attempts must be a whole number"),
        ({"k": 2, "eps": "0.1"}, "eps must be a number"),
        ({"k": 2, "criteria": 3}, "criteria must be one of"),
        ({"k": 2, "init": object()}, "init must be one of"),
    ],
)
def test_wrong_types_are_type_errors(kwargs, match):
    X = np.random.default_rng(0).normal(size=(10, 3))
    k = kwargs.pop("k")
    with pytest.raises(TypeError, match=match):
        kmeans(X, k, **kwargs)


def test_nan_points_rejected():
    with pytest.raises(ValueError, match="finite"):
        kmeans([[np.nan, 0.0], [1.0, 1.0]], 1)
