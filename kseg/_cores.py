"""How many cores this process's own threads may use for one photo.

kseg runs a photo's k-means attempts and SLIC strips on threads, and OpenCV runs its
colour conversions on threads, each up to the cores the process may use. A batch
that runs N photos at once in N processes gives each process its share instead
(:func:`limit`): N processes that each start a thread per core only take turns.
"""

from __future__ import annotations

import os

__all__ = ["available", "limit"]

_limit: int | None = None


def available() -> int:
    """The cores this process may use (its CPU affinity), or the share set by :func:`limit`."""
    if _limit is not None:
        return _limit
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def limit(threads: int | None) -> int | None:
    """Use at most ``threads`` cores from now on (None: all of them, as at the start),
    OpenCV's threads included; returns the share that was set before."""
    global _limit
    import cv2

    previous, _limit = _limit, (None if threads is None else max(1, int(threads)))
    cv2.setNumThreads(available() if _limit is None else _limit)
    return previous
