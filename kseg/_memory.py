"""Whether numpy asks Linux for huge pages for its large arrays.

numpy advises the kernel to back every array of 4 MB or more with huge pages. Where
memory is fragmented (a machine that has run for a while), Linux then compacts memory
on the spot at the first touch of each huge page, with the process waiting. On this
2-core machine a 12 MP photo's colour count in numpy took 4.7 s with the advice and
0.22 s without, and a whole ``kseg segment`` run 3.3 s against 6.6 s
(docs/benchmarks.md). So the command line and the page turn the advice off for their
whole process (:func:`use_small_pages`), and the numpy twins of the kernels turn it
off while they run (:func:`small_pages`) for anyone using the library directly.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

__all__ = ["small_pages", "use_small_pages"]

_set_madvise_hugepage = getattr(
    getattr(getattr(np, "_core", np), "multiarray", None), "_set_madvise_hugepage", None
)
_lock = threading.Lock()
_users = 0
_saved = True


def use_small_pages() -> None:
    """Turn numpy's huge-page advice off for the rest of this process."""
    global _saved
    with _lock:
        if _set_madvise_hugepage is not None:
            _set_madvise_hugepage(False)
        _saved = False


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Within: numpy's huge-page advice is off (then back to what it was)."""
    global _users, _saved
    with _lock:
        if _users == 0 and _set_madvise_hugepage is not None:
            _saved = bool(_set_madvise_hugepage(False))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _set_madvise_hugepage is not None:
                _set_madvise_hugepage(_saved)
