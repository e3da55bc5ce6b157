"""kseg.dashboard.compute: the page's cached calls, measured by what they return and ask for."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from images import quadrants

import kseg
from kseg.dashboard import compute, server
from kseg.dashboard.cache import MemoryCache
from kseg.dashboard.state import ELBOW_ATTEMPTS, Params


@pytest.fixture
def photo(monkeypatch):
    """A photo of many colours (the coarse path) loaded into a cache of its own."""
    cache = MemoryCache(256 * 2**20)
    monkeypatch.setattr(server, "results_cache", lambda max_mb: cache)
    rgb = quadrants(200, 160, noise=12)
    assert kseg.ColorHistogram(rgb).n_colors > 20_000
    data = kseg.export.encode_png(rgb)
    digest = compute.digest(data)
    return digest, compute.load(digest, data)


def test_elbow_curve_is_kseg_elbow_and_a_wider_range_computes_only_the_new_k(photo, monkeypatch):
    digest, loaded = photo
    asked = []
    real = kseg.elbow

    def recording(image, ks, **kwargs):
        asked.append(list(ks))
        return real(image, ks, **kwargs)

    monkeypatch.setattr(kseg, "elbow", recording)
    curve = compute.elbow_curve(digest, (2, 5), "lab", 0, loaded.hist)
    assert curve == real(loaded.hist, range(2, 6), attempts=ELBOW_ATTEMPTS, color_space="lab")
    wider = compute.elbow_curve(digest, (2, 7), "lab", 0, loaded.hist)
    assert list(wider) == list(range(2, 8))
    assert {k: wider[k] for k in range(2, 6)} == curve
    assert asked == [[2, 3, 4, 5], [6, 7]]
    assert compute.elbow_curve(digest, (3, 6), "lab", 0, loaded.hist) == {
        k: wider[k] for k in range(3, 7)
    }
    assert asked == [[2, 3, 4, 5], [6, 7]]  # every k was kept


def test_in_threads_runs_the_calls_at_once_and_keeps_their_order():
    meet = threading.Barrier(3, timeout=30)  # passes only if all three wait at once

    def call(i):
        return lambda: (meet.wait(), i)[1]

    compute.THREADS, before = 3, compute.THREADS
    try:
        assert compute.in_threads([call(i) for i in range(3)]) == [0, 1, 2]
    finally:
        compute.THREADS = before
    with pytest.raises(ZeroDivisionError):
        compute.in_threads([lambda: 1, lambda: 1 / 0])


def test_compare_pictures_are_the_segment_tabs_results(photo):
    """The Compare tab computes its k at once; each is the very segmentation (and picture)
    the Segment tab gives for that k."""
    digest, loaded = photo
    base = Params(4, "k-means++", 10, 20, 0.1, "eps+max_iter", "rgb", 0, "histogram")
    params = [base._replace(k=k) for k in (3, 5, 8)]
    segs = compute.in_threads(
        [lambda p=p: compute.segmentation(digest, p, loaded.hist) for p in params]
    )
    for p, seg in zip(params, segs, strict=True):
        alone = kseg.segment(loaded.hist, p.k, **compute.segment_options(p))
        np.testing.assert_array_equal(seg.labels, alone.labels)
        assert seg.compactness == alone.compactness
        assert compute.segmentation(digest, p, loaded.hist) is seg  # kept: the same object
