"""kseg.cache: a cache bounded by the bytes its values hold."""

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


def test_nbytes_of_a_histogram_grows_with_its_tables():
    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    hist = kseg.ColorHistogram(rgb)
    fresh = nbytes(hist)
    assert fresh >= rgb.nbytes + hist.keys.nbytes + hist.counts.nbytes
    hist.features("lab")
    assert nbytes(hist) >= fresh + hist.features("lab").nbytes


def test_nbytes_does_not_follow_modules_classes_or_functions():
    assert nbytes([np, MemoryCache, nbytes, len]) < 1_000


# ----------------------------------------------------------------------------- the cache
def test_least_recently_used_go_first_when_over_budget():
    cache = MemoryCache(max_bytes=3_500, sizeof=len)
    for key in "abc":
        cache.get(key, lambda: b"x" * 1_000)
    cache.get("a", lambda: pytest.fail("a is stored"))  # a is now the most recent
    cache.get("d", lambda: b"x" * 1_000)
    assert [k in cache for k in "abcd"] == [True, False, True, True]
    assert cache.nbytes == 3_000 and len(cache) == 3 and cache.evictions == 1


def test_a_value_that_grows_is_measured_again_when_used():
    cache = MemoryCache(max_bytes=5_000)
    grows = {"part": block(1_000)}
    cache.get("grows", lambda: grows)
    cache.get("other", lambda: block(2_000))
    grows["more"] = block(3_000)
    assert cache.get("grows", lambda: None) is grows
    assert "other" not in cache  # 1 + 3 + 2 KB no longer fit in 5 KB
    assert 4_000 <= cache.nbytes < 4_500


def test_shrink_measures_again_the_values_used_since_the_last_shrink():
    cache = MemoryCache(max_bytes=5_000)
    cache.get("old", lambda: block(2_000))
    grows = cache.get("grows", lambda: {"part": block(1_000)})
    grows["more"] = block(3_000)  # grew after it was stored
    assert cache.nbytes < 3_500
    cache.shrink()
    assert "old" not in cache and "grows" in cache
    assert 4_000 <= cache.nbytes < 4_500
    grows["again"] = block(500)  # grew, but not used since the last shrink
    cache.shrink()
    assert cache.nbytes < 4_500
    cache.get("grows", lambda: None)  # used: measured at once
    assert cache.nbytes >= 4_500


def test_the_value_just_used_is_kept_even_over_budget():
    cache = MemoryCache(max_bytes=1_000, sizeof=len)
    cache.get("small", lambda: b"x" * 500)
    big = cache.get("big", lambda: b"x" * 5_000)
    assert len(big) == 5_000 and "big" in cache and "small" not in cache
    assert cache.get("big", lambda: pytest.fail("big is stored")) is big


def test_values_expire_after_ttl():
    clock = Clock()
    cache = MemoryCache(max_bytes=10_000, ttl=60, sizeof=len, clock=clock)
    first = cache.get("a", lambda: b"first")
    clock.now = 59
    assert cache.get("a", lambda: b"second") is first
    clock.now = 61
    assert cache.get("a", lambda: b"second") == b"second"
    cache.get("b", lambda: b"b")
    clock.now = 200
    cache.shrink()
    assert len(cache) == 0 and cache.nbytes == 0


def test_an_exception_is_raised_and_nothing_is_stored():
    cache = MemoryCache(max_bytes=1_000, sizeof=len)

    def broken():
        raise kseg.ImageError("bad photo")

    with pytest.raises(kseg.ImageError, match="bad photo"):
        cache.get("a", broken)
    assert "a" not in cache and len(cache) == 0
    assert cache.get("a", lambda: b"good") == b"good"


def test_each_key_is_computed_once_by_concurrent_callers():
    cache = MemoryCache(max_bytes=10_000, sizeof=len)
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
    cache = MemoryCache(max_bytes=10_000, sizeof=len)
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
    cache = MemoryCache(max_bytes=1_000, sizeof=len)
    cache.get("a", lambda: b"abc")
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        MemoryCache(0)
    with pytest.raises(ValueError, match="ttl must be positive"):
        MemoryCache(10, ttl=0)
