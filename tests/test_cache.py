"""kseg.dashboard.cache: a cache bounded by the bytes its values hold, with owners."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

import kseg
from kseg.dashboard.cache import MemoryCache, nbytes


def block(n: int) -> np.ndarray:
    return np.zeros(n, np.uint8)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# ----------------------------------------------------------------------------- nbytes
def test_nbytes_counts_each_buffer_once():
    a = block(10_000)
    assert 10_000 <= nbytes(a) < 10_200
    # Views, repeats and slices of one buffer count it once.
    assert nbytes([a, a, a[10:], a.reshape(100, 100)]) < 10_600
    assert nbytes(b"x" * 5_000) == 5_000
    assert 15_000 <= nbytes({"a": a, "b": (b"x" * 5_000,)}) < 15_600


def test_nbytes_follows_dataclasses_and_objects():
    @dataclasses.dataclass
    class Holder:
        pixels: np.ndarray
        label: str

    class Plain:
        def __init__(self) -> None:
            self.parts = [block(3_000), block(4_000)]

    assert 2_000 <= nbytes(Holder(block(2_000), "x")) < 2_400
    assert 7_000 <= nbytes(Plain()) < 7_600


def test_nbytes_of_a_histogram_is_fixed_when_it_is_made():
    """Regression: a histogram grew as it was explored (a memo of colour tables), so the
    cache had to measure every value again each time it was used."""
    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    hist = kseg.ColorHistogram(rgb)
    fresh = nbytes(hist)
    assert fresh >= rgb.nbytes + hist.keys.nbytes + hist.counts.nbytes + hist.weights.nbytes
    for space in ("rgb", "lab", "hsv"):
        kseg.segment(hist, 3, color_space=space).segmented_image(50)
    assert nbytes(hist) == fresh


def test_nbytes_does_not_follow_modules_classes_or_functions():
    assert nbytes([np, MemoryCache, nbytes, len]) < 1_000


# ----------------------------------------------------------------------------- the cache
def test_least_recently_used_go_first_when_over_budget():
    cache = MemoryCache(max_bytes=3_500)
    for key in "abc":
        cache.get(key, lambda: b"x" * 1_000)
    cache.get("a", lambda: pytest.fail("a is stored"))  # a is now the most recent
    cache.get("d", lambda: b"x" * 1_000)
    assert [k in cache for k in "abcd"] == [True, False, True, True]
    assert cache.nbytes == 3_000 and len(cache) == 3 and cache.evictions == 1


def test_the_value_just_used_is_kept_even_over_budget():
    cache = MemoryCache(max_bytes=1_000)
    cache.get("small", lambda: b"x" * 500)
    big = cache.get("big", lambda: b"x" * 5_000)
    assert len(big) == 5_000 and "big" in cache and "small" not in cache
    assert cache.get("big", lambda: pytest.fail("big is stored")) is big


def test_values_expire_after_ttl():
    clock = Clock()
    cache = MemoryCache(max_bytes=10_000, ttl=60, clock=clock)
    first = cache.get("a", lambda: b"first")
    clock.now = 59
    assert cache.get("a", lambda: b"second") is first
    clock.now = 61
    assert cache.get("a", lambda: b"second") == b"second"
    cache.get("b", lambda: b"b")
    clock.now = 200
    cache.get("c", lambda: b"c")  # storing drops what expired
    assert "a" not in cache and "b" not in cache and len(cache) == 1
    assert cache.nbytes == nbytes(b"c")


def test_an_exception_is_raised_and_nothing_is_stored():
    cache = MemoryCache(max_bytes=1_000)

    def broken():
        raise kseg.ImageError("bad photo")

    with pytest.raises(kseg.ImageError, match="bad photo"):
        cache.get("a", broken)
    assert "a" not in cache and len(cache) == 0
    assert cache.get("a", lambda: b"good") == b"good"


def test_each_key_is_computed_once_by_concurrent_callers():
    cache = MemoryCache(max_bytes=10_000)
    calls = []
    start = threading.Barrier(6)

    def slow(key):
        calls.append(key)
        time.sleep(0.2)
        return key.encode()

    results = []

    def visitor(key):
        start.wait()
        results.append(cache.get(key, lambda: slow(key)))

    threads = [threading.Thread(target=visitor, args=(k,)) for k in "aaaabb"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == ["a", "b"]
    assert sorted(results) == [b"a"] * 4 + [b"b"] * 2


def test_different_keys_compute_at_the_same_time():
    cache = MemoryCache(max_bytes=10_000)
    inside = threading.Barrier(2, timeout=5)

    def together(key):
        inside.wait()  # would time out if the cache ran one computation at a time
        return key.encode()

    threads = [threading.Thread(target=cache.get, args=(k, lambda k=k: together(k))) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "a" in cache and "b" in cache and not inside.broken


def test_clear_and_bad_settings():
    cache = MemoryCache(max_bytes=1_000)
    cache.get("a", lambda: b"abc")
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        MemoryCache(0)
    with pytest.raises(ValueError, match="ttl must be positive"):
        MemoryCache(10, ttl=0)


# ----------------------------------------------------------------------------- owners
@dataclasses.dataclass(frozen=True)
class Result:
    """Like a Segmentation: a little of its own, and a reference to its photo."""

    own: np.ndarray
    photo: object


def test_a_value_is_measured_without_what_its_owner_holds():
    cache = MemoryCache(max_bytes=100_000)
    photo = cache.get("photo", lambda: {"pixels": block(50_000)})
    cache.get("result", lambda: Result(block(1_000), photo["pixels"]), owner="photo")
    assert 51_000 <= cache.nbytes < 52_000  # the photo's pixels counted once


def test_a_value_lives_no_longer_than_its_owner():
    """Regression: results kept the photo they were made from alive after the photo's
    own entry was dropped: one visitor uploading photo after photo grew the server."""
    cache = MemoryCache(max_bytes=60_000)
    photo = cache.get("photo", lambda: block(40_000))
    small = cache.get("small", lambda: block(5_000), owner="photo")
    cache.get("result", lambda: Result(block(1_000), photo), owner="small")
    assert {"photo", "small", "result"} <= {k for k in ("photo", "small", "result") if k in cache}
    cache.get("other", lambda: block(30_000))  # the photo, the oldest, must go
    assert "photo" not in cache and "small" not in cache and "result" not in cache
    assert "other" in cache and cache.nbytes == nbytes(block(30_000)) and len(small) == 5_000


def test_using_a_value_keeps_its_owner_in_use():
    cache = MemoryCache(max_bytes=4_000)
    cache.get("photo", lambda: block(1_000))
    cache.get("other", lambda: block(1_000))
    cache.get("result", lambda: block(1_000), owner="photo")  # uses the photo after "other"
    cache.get("result", lambda: pytest.fail("stored"), owner="photo")
    cache.get("new", lambda: block(1_500))  # over budget: the least recently used goes
    assert "other" not in cache and "photo" in cache and "result" in cache


def test_a_value_whose_owner_is_gone_is_computed_but_not_kept():
    cache = MemoryCache(max_bytes=10_000)
    assert cache.get("result", lambda: b"r", owner="photo") == b"r"
    assert "result" not in cache and len(cache) == 0


def test_an_expired_owner_takes_its_values_with_it():
    clock = Clock()
    cache = MemoryCache(max_bytes=10_000, ttl=60, clock=clock)
    cache.get("photo", lambda: b"p")
    clock.now = 30
    cache.get("result", lambda: b"r", owner="photo")
    clock.now = 70  # the photo expired; its result, made later, goes with it
    assert cache.get("photo", lambda: b"p2") == b"p2"
    assert "result" not in cache and cache.nbytes == nbytes(b"p2")
