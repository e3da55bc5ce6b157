"""A cache bounded by the memory its values hold, for servers that keep results around.

A count of entries is the wrong bound for images: eight 25 MP photos hold five times
what eight 5 MP photos do, and a colour histogram grows as it is used (each colour
space and preview size adds its tables). :class:`MemoryCache` measures its values
(numpy arrays, bytes and the objects around them) every time they are used and drops
the least recently used until what it holds fits its budget.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

__all__ = ["MemoryCache", "nbytes"]

T = TypeVar("T")

_LEAVES = (str, int, float, complex, bool, type(None))
_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def nbytes(value: Any) -> int:
    """Bytes held by ``value``: its numpy arrays (each buffer once), bytes and strings,
    found through containers, dataclasses and object attributes.

    Python objects count ``sys.getsizeof``; modules, classes and functions are not
    followed. An array that views another counts the other's whole buffer, once.

    Examples
    --------
    >>> a = np.zeros(1000, np.uint8)
    >>> nbytes({"a": a, "same": a[10:], "b": b"xyz"}) > 1000
    True
    >>> nbytes([a, a]) < 2000
    True
    """
    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if base is obj or id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes  # the outermost array: the whole buffer
            continue
        if isinstance(obj, (bytes, bytearray, memoryview)):
            total += obj.nbytes if isinstance(obj, memoryview) else len(obj)
            continue
        if isinstance(obj, _SKIP) or callable(obj):
            continue  # shared code, not data
        total += sys.getsizeof(obj, 64)
        if isinstance(obj, _LEAVES):
            continue
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif dataclasses.is_dataclass(obj):
            stack.extend(getattr(obj, f.name, None) for f in dataclasses.fields(obj))
        else:
            stack.extend(getattr(obj, "__dict__", {}).values())
    return total


@dataclasses.dataclass
class _Entry:
    value: Any
    size: int
    created: float


class MemoryCache:
    """Least-recently-used results, kept while they fit ``max_bytes``; thread-safe.

    Parameters
    ----------
    max_bytes : int
        The budget. Values are measured with :func:`nbytes` when stored and again
        each time they are used (a value may grow, as a histogram's tables do); the
        least recently used are dropped until the rest fit. The value just used is
        always kept, even alone over the budget, so that its caller's next use hits.
    ttl : float, optional
        Seconds a value lives after it was computed; None keeps it until evicted.
    sizeof : callable, optional
        How a value is measured (default :func:`nbytes`).

    Each key is computed once: callers asking for a key being computed wait for it.
    An exception from ``compute`` is raised to its caller and nothing is stored.

    Examples
    --------
    >>> cache = MemoryCache(max_bytes=2_000)
    >>> a = cache.get("a", lambda: np.zeros(1_500, np.uint8))
    >>> b = cache.get("b", lambda: np.zeros(1_500, np.uint8))  # "a" no longer fits
    >>> "a" in cache, "b" in cache
    (False, True)
    """

    def __init__(
        self,
        max_bytes: int,
        ttl: float | None = None,
        *,
        sizeof: Callable[[Any], int] = nbytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}.")
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be positive seconds or None, got {ttl}.")
        self.max_bytes = int(max_bytes)
        self.ttl = ttl
        self._sizeof = sizeof
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._touched: set[Hashable] = set()  # used since the last shrink()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value stored under ``key``, or ``compute()`` stored and returned."""
        found, value = self._lookup(key)
        if found:
            return value
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            found, value = self._lookup(key)  # another caller may have just stored it
            if found:
                return value
            try:
                value = compute()
                with self._lock:
                    self.misses += 1
                    self._store(key, value)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and not self._expired(entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored values, as last measured."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._touched.clear()
            self._bytes = 0

    def shrink(self) -> None:
        """Measure again the values used since the last call, drop the expired ones, then
        the least recently used until the rest fit (the most recent stays).

        Call it when work that used the cache ends: a value that grew after it was
        stored or fetched (a histogram filling its tables) then counts at its size now.
        """
        with self._lock:
            for key in [k for k, e in self._entries.items() if self._expired(e)]:
                self._drop(key)
            for key in self._touched & self._entries.keys():
                entry = self._entries[key]
                size = self._sizeof(entry.value)
                self._bytes += size - entry.size
                entry.size = size
            self._touched.clear()
            self._evict(keep=next(reversed(self._entries), None))

    # -- with self._lock held
    def _lookup(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if self._expired(entry):
                self._drop(key)
                return False, None
            self.hits += 1
            self._touched.add(key)
            self._entries.move_to_end(key)
            size = self._sizeof(entry.value)
            self._bytes += size - entry.size
            entry.size = size
            self._evict(keep=key)
            return True, entry.value

    def _store(self, key: Hashable, value: Any) -> None:
        if key in self._entries:
            self._drop(key)
        size = self._sizeof(value)
        self._touched.add(key)
        self._entries[key] = _Entry(value, size, self._clock())
        self._bytes += size
        self._evict(keep=key)

    def _evict(self, keep: Hashable | None) -> None:
        for key in [k for k, e in self._entries.items() if self._expired(e) and k != keep]:
            self._drop(key)
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._entries), None)
            if oldest is None or oldest == keep:
                break
            self._drop(oldest)
            self.evictions += 1

    def _drop(self, key: Hashable) -> None:
        self._bytes -= self._entries.pop(key).size

    def _expired(self, entry: _Entry) -> bool:
        return self.ttl is not None and self._clock() - entry.created > self.ttl
