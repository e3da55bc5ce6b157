"""A cache bounded by the memory its values hold, for a server that keeps results around.

A count of entries is the wrong bound for images: eight 25 MP photos hold five times
what eight 5 MP photos do. :class:`MemoryCache` measures each value once, when it is
stored (values never change afterwards: kseg's results are immutable), and drops the
least recently used until what it holds fits its budget.

A value may be stored with an *owner*, the entry it was made from (a segmentation of a
photo, owned by the decoded photo). It is then measured without what the owner holds
(a segmentation points at the photo's histogram: counting it again would charge the
photo's weight to every result), it lives no longer than the owner (so a result never
keeps a dropped photo alive), and using it counts as using the owner too.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
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
    return _measure(value, frozenset())[0]


def _measure(value: Any, exclude: frozenset[int]) -> tuple[int, set[int]]:
    """``nbytes(value)`` without the objects whose ids are in ``exclude``, and the ids
    of the objects it reached (those already in ``exclude`` are not followed)."""
    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or id(obj) in exclude:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in exclude and (base is obj or id(base) not in seen):
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
    return total, seen


@dataclasses.dataclass(eq=False)
class _Entry:
    value: Any
    size: int
    created: float
    owner: Hashable | None
    held: frozenset[int]  # ids of the objects this value and its owners hold
    children: set[Hashable] = dataclasses.field(default_factory=set)


class MemoryCache:
    """Least-recently-used results, kept while they fit ``max_bytes``; thread-safe.

    Parameters
    ----------
    max_bytes : int
        The budget. Each value is measured once, when stored (:func:`nbytes`, without
        what its owner holds); the least recently used go first until the rest fit.
        The value just stored is always kept, even alone over the budget, so that
        its caller's next use hits.
    ttl : float, optional
        Seconds a value lives after it was computed; None keeps it until evicted.

    Each key is computed once: callers asking for a key being computed wait for it.
    An exception from ``compute`` is raised to its caller and nothing is stored.
    Treat the values as read-only: they are shared by every caller.

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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}.")
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be positive seconds or None, got {ttl}.")
        self.max_bytes = int(max_bytes)
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.hits = self.misses = self.evictions = 0

    def get(self, key: Hashable, compute: Callable[[], T], *, owner: Hashable | None = None) -> T:
        """The value stored under ``key``, or ``compute()`` stored and returned.

        ``owner`` is the key of the entry the value is made from. When that entry is
        not in the cache (it was just dropped), the value is computed and returned
        but not stored: it could not be measured apart from what the owner holds.
        """
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
                    self._store(key, value, owner)
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
        """Bytes held by the stored values, as measured when they were stored."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

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
            self._touch(key)
            return True, entry.value

    def _store(self, key: Hashable, value: Any, owner: Hashable | None) -> None:
        if key in self._entries:
            self._drop(key)
        parent = None if owner is None else self._entries.get(owner)
        if owner is not None and (parent is None or self._expired(parent)):
            return  # its owner is gone: not measurable apart from it, so not kept
        exclude = parent.held if parent is not None else frozenset()
        size, reached = _measure(value, exclude)
        self._entries[key] = _Entry(value, size, self._clock(), owner, exclude | reached)
        if parent is not None:
            parent.children.add(key)
        self._bytes += size
        self._touch(key)
        self._evict(keep=set(self._lineage(key)))

    def _touch(self, key: Hashable) -> None:
        """Mark ``key`` and its owners as just used (owners first, then the value)."""
        for k in reversed(list(self._lineage(key))):
            self._entries.move_to_end(k)

    def _lineage(self, key: Hashable) -> Iterable[Hashable]:
        while key is not None and key in self._entries:
            yield key
            key = self._entries[key].owner

    def _evict(self, keep: set[Hashable]) -> None:
        for key in [k for k, e in self._entries.items() if self._expired(e) and k not in keep]:
            if key in self._entries:
                self._drop(key)
        while self._bytes > self.max_bytes:
            oldest = next((k for k in self._entries if k not in keep), None)
            if oldest is None:
                break
            self._drop(oldest)
            self.evictions += 1

    def _drop(self, key: Hashable) -> None:
        """Forget ``key`` and everything it owns."""
        entry = self._entries.pop(key)
        self._bytes -= entry.size
        for child in entry.children:
            if child in self._entries:
                self._drop(child)
        if entry.owner is not None and entry.owner in self._entries:
            self._entries[entry.owner].children.discard(key)

    def _expired(self, entry: _Entry) -> bool:
        return self.ttl is not None and self._clock() - entry.created > self.ttl
