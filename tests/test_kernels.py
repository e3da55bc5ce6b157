"""The numpy twins of the compiled kernels give bit for bit the compiled results.

``kseg._jit`` answers with the numpy twin while numba compiles, then with the compiled
kernel: a visitor must not see a result change when the switch happens, and a command
line must reproduce a page's result whichever path either took. So every comparison
here is exact (``np.array_equal``, ``==`` on floats), never approximate.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util

import numpy as np
import pytest

import kseg
from kseg import _counting, _counting_np, _jit, _kernels, _lloyd, _lloyd_np


@contextlib.contextmanager
def only(path: str):
    """Make every group answer with its compiled module ("numba") or its twin ("numpy")."""
    saved = _jit.kernels

    def pick(group: str):
        compiled, twin = _jit.GROUPS[group]
        if path == "numpy" and importlib.util.find_spec(twin) is not None:
            return importlib.import_module(twin)
        return importlib.import_module(compiled)  # a group without a twin: always compiled

    _jit.kernels = pick
    try:
        yield
    finally:
        _jit.kernels = saved


def ro(a):
    return _kernels.read_only(np.ascontiguousarray(a))


def assert_same_runs(a, b):
    centers_a, labels_a, n_a, comp_a = a
    centers_b, labels_b, n_b, comp_b = b
    assert np.array_equal(centers_a, centers_b)
    assert np.array_equal(labels_a, labels_b)
    assert labels_a.dtype == labels_b.dtype == np.int32
    assert n_a == n_b
    assert comp_a == comp_b


def _points(rng, n, d, kind):
    if kind == "integer":  # RGB colours: sums are exact
        return rng.integers(0, 256, (n, d)).astype(np.float64)
    if kind == "blobs":  # Lab-like floats in a few clumps
        centres = rng.normal(0, 40, (5, d))
        return centres[rng.integers(0, 5, n)] + rng.normal(0, 3, (n, d))
    return rng.normal(0, 1, (n, d)) * 10.0 ** rng.integers(-3, 3)


CASES = [
    (seed, n, d, k, kind)
    for seed, (n, d, k, kind) in enumerate(
        [
            (50, 3, 3, "integer"),
            (400, 3, 8, "integer"),
            (2000, 3, 16, "blobs"),
            (1500, 3, 5, "floats"),
            (300, 1, 4, "floats"),
            (600, 5, 7, "blobs"),
            (8, 3, 8, "integer"),  # as many clusters as points
            (3000, 3, 32, "integer"),
        ]
    )
]


@pytest.mark.parametrize(("seed", "n", "d", "k", "kind"), CASES)
def test_seeding_and_lloyd_are_identical(seed, n, d, k, kind):
    rng = np.random.default_rng(seed)
    X = _points(rng, n, d, kind)
    w = rng.integers(0, 50, n).astype(np.float64)
    w[: k + 1] += 1  # at least k points of positive weight
    trials = 2 + int(np.log(k))
    uniform = rng.random(1 + (k - 1) * trials)
    start_c = _lloyd.kmeans_plusplus(ro(X), ro(w), k, trials, ro(uniform))
    start_n = _lloyd_np.kmeans_plusplus(ro(X), ro(w), k, trials, ro(uniform))
    assert np.array_equal(start_c, start_n)
    for max_iter, eps2 in [(0, 0.0), (1, 0.0), (7, 0.0), (100, 1e-4), (300, 0.0)]:
        assert_same_runs(
            _lloyd.lloyd(ro(X), ro(w), ro(start_c), max_iter, eps2),
            _lloyd_np.lloyd(ro(X), ro(w), ro(start_c), max_iter, eps2),
        )
    labels = np.asarray(_lloyd.lloyd(ro(X), ro(w), ro(start_c), 5, 0.0)[1])
    for given in (labels, np.empty(0, np.int32)):
        assert _lloyd.mean_distance(ro(X), ro(w), ro(start_c), ro(given)) == (
            _lloyd_np.mean_distance(ro(X), ro(w), ro(start_c), ro(given))
        )


@pytest.mark.parametrize("seed", range(6))
def test_empty_clusters_are_refilled_identically(seed):
    """Centres far from every point start empty: both take the same farthest points."""
    rng = np.random.default_rng(100 + seed)
    X = np.concatenate([rng.normal(0, 2, (200, 3)), rng.normal(30, 2, (50, 3))])
    w = rng.integers(1, 9, X.shape[0]).astype(np.float64)
    w[::17] = 0.0  # weightless points never move to an empty centre
    start = np.concatenate([X[:2], np.full((4, 3), 1e4) + np.arange(4)[:, None]])
    for max_iter in (1, 2, 30):
        assert_same_runs(
            _lloyd.lloyd(ro(X), ro(w), ro(start), max_iter, 0.0),
            _lloyd_np.lloyd(ro(X), ro(w), ro(start), max_iter, 0.0),
        )


def test_ties_go_the_same_way():
    """Points exactly between two centres: both paths keep the lowest index."""
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [2.0]])
    w = np.ones(6)
    start = np.array([[1.0], [3.0]])
    for max_iter in (0, 1, 10):
        assert_same_runs(
            _lloyd.lloyd(ro(X), ro(w), ro(start), max_iter, 0.0),
            _lloyd_np.lloyd(ro(X), ro(w), ro(start), max_iter, 0.0),
        )


@pytest.mark.parametrize("with_alpha", [False, True])
def test_colour_counts_are_identical(with_alpha):
    rng = np.random.default_rng(7)
    flat = rng.integers(0, 40, (5000, 3), dtype=np.uint8)
    flat[:10] = 255
    opaque = rng.random(5000) < 0.7 if with_alpha else np.ones(0, dtype=bool)
    results = []
    for module in (_counting, _counting_np):
        table = np.zeros(1 << 24, dtype=np.uint32)
        table[0x010203] = 5  # a count already there is added to, not replaced
        found = np.empty(5000, dtype=np.int64)
        n_found = module.count_colors(ro(flat), ro(opaque), table, found)
        keys = np.sort(found[:n_found])
        results.append((keys, table[keys].copy(), int(table.sum())))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2]


def _photo(seed: int, alpha: bool = False):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (6, 3))
    picture = base[rng.integers(0, 6, (60, 80))] + rng.integers(-12, 13, (60, 80, 3))
    rgb = np.clip(picture, 0, 255).astype(np.uint8)
    if not alpha:
        return rgb
    opaque = np.ones(rgb.shape[:2], dtype=bool)
    opaque[:20, :30] = False
    return kseg.ColorHistogram(rgb, opaque)


def _summary(seg: kseg.Segmentation):
    return (
        seg.centers.tobytes(),
        seg.labels.tobytes(),
        seg.compactness,
        seg.mean_error,
        seg.n_iter,
        seg.n_iter_total,
        seg.segmented_image().tobytes(),
    )


@pytest.mark.parametrize("space", kseg.COLOR_SPACES)
@pytest.mark.parametrize(
    "options",
    [
        {"k": 5},
        {"k": 3, "init": "random", "attempts": 4},
        {"k": 3, "init": ["#000000", "#808080", "#ffffff"]},
        {"k": 3, "init": ["#000000", "#808080", "#ffffff"], "max_iter": 0},
        {"k": 12, "attempts": 2},
    ],
)
def test_segment_is_the_same_on_either_path(space, options):
    for photo in (_photo(1), _photo(2, alpha=True)):
        runs = []
        for path in ("numba", "numpy"):
            with only(path):
                runs.append(_summary(kseg.segment(photo, color_space=space, **options)))
        assert runs[0] == runs[1]


def test_segment_of_a_large_histogram_is_the_same_on_either_path():
    """Enough colours (> 20,000) that segment() starts from its coarse summaries."""
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    runs = []
    for path in ("numba", "numpy"):
        with only(path):
            runs.append(_summary(kseg.segment(photo, 8, attempts=3, color_space="lab")))
    assert runs[0] == runs[1]


def test_regions_then_colours_is_the_same_on_either_path():
    photo = _photo(4)
    regions = kseg.superpixels(photo, 30)
    runs = []
    for path in ("numba", "numpy"):
        with only(path):
            runs.append(_summary(kseg.segment(photo, 4, attempts=2, regions=regions)))
    assert runs[0] == runs[1]
