"""What the server shares between all visitors: warm kernels, slots, memory.

Each function here runs once per server process (``st.cache_resource``) or works on
what such a function made; none depends on a visitor's session.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from kseg import _jit, _memory
from kseg.dashboard.cache import MemoryCache

T = TypeVar("T")

DECODE_SLOTS = 2  # photos decoded at once, server-wide (see decode_slots)
# Memory for decoded photos and results, server-wide (see results_cache); an hour at most.
CACHE_MB = int(os.environ.get("KSEG_CACHE_MB", "512"))
CACHE_TTL = 3600
# OpenCV runs at once, server-wide (0 turns the engine off); see opencv_slots.
OPENCV_SLOTS = int(os.environ.get("KSEG_OPENCV_SLOTS", "1"))
OPENCV_WAIT_SECONDS = 3.0  # a run waits this long for a slot, then the page shows kseg's


class OpenCVUnavailable(Exception):
    """No OpenCV run can start now: another is using the server, or they are turned off."""


@st.cache_resource(show_spinner=False)
def results_cache(max_mb: int) -> MemoryCache:
    """The server's decoded photos and results, in `max_mb` of memory for everyone.

    Bounded by what the values hold, not by their count: eight 25 MP photos hold five
    times what eight 5 MP photos do. The least recently used go first; 512 MB keeps
    eight visitors' 12 MP photos with their results (benchmarks/load.py).
    """
    return MemoryCache(max_mb * 2**20, ttl=CACHE_TTL)


@st.cache_resource(show_spinner=False)
def warm_up() -> bool:
    """Get kseg's kernels ready once per server process, without making anyone wait.

    The numpy twins answer at once; numba's compiled kernels load (or compile, in a
    process of their own) in the background and take over when ready (``kseg._jit``).
    """
    _memory.use_small_pages()
    _jit.on_ready(_freeze_collector)
    _jit.start()
    _freeze_collector()
    return True


def _freeze_collector(_group: str | None = None) -> None:
    # Streamlit runs gc.collect(2) after every rerun; walking the ~200k long-lived objects
    # of the imported libraries took 150-300 ms of each k change here. Freeze them (again
    # once numba's modules are in): the collector still sees everything created later.
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def warm_up_superpixels() -> bool:
    """Superpixel kernels: the same as :func:`warm_up` (kept for the tab's call)."""
    return warm_up()


@st.cache_resource(show_spinner=False)
def decode_slots() -> threading.BoundedSemaphore:
    """The server's photos being decoded and counted at once: at most DECODE_SLOTS.

    Unbounded, eight visitors uploading 12 MP photos together sent the server's peak
    memory as high as 2.2 GB; two at a time kept it near 1.2 GB (benchmarks/load.py).
    On two cores more at once would not finish sooner anyway.
    """
    return threading.BoundedSemaphore(DECODE_SLOTS)


@st.cache_resource(show_spinner=False)
def opencv_slots(n: int) -> threading.BoundedSemaphore | None:
    """The server's OpenCV runs at once: at most `n`; None when `n` is 0 (turned off).

    cv2.kmeans on every pixel keeps both cores busy for minutes: a few visitors
    starting such runs together would stall every other visitor's page.
    """
    return threading.BoundedSemaphore(n) if n > 0 else None


def run_opencv(run: Callable[[], T]) -> T:
    """`run()` in one of the server's OpenCV slots; OpenCVUnavailable if none frees up."""
    slots = opencv_slots(OPENCV_SLOTS)
    if slots is None:
        raise OpenCVUnavailable("The OpenCV engine is turned off on this server.")
    if not slots.acquire(timeout=OPENCV_WAIT_SECONDS):
        raise OpenCVUnavailable(
            "Another visitor's OpenCV run is using the server; try again in a minute."
        )
    try:
        return run()
    finally:
        slots.release()


@st.cache_resource(show_spinner=False)
def malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None with another C library (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def give_back_memory() -> None:
    """Hand the memory freed by this run back to the system, at the end of every run.

    A photo's decode, labels and previews are large numpy temporaries; glibc keeps
    what they free in its heaps (one per thread, and Streamlit runs each session in
    its own), where it counts as the server's memory until reused. Trimming costs
    0.1 ms with nothing to give back and about 10 ms after freeing hundreds of MB.
    """
    trim = malloc_trim()
    if trim is not None:
        trim(0)
