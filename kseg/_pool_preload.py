"""Imported once by the local pool's forkserver (``--jobs N``), before any worker forks.

The workers then start with kseg imported, numpy's huge-page advice off and the
compiled kernels that every segmentation uses already loaded from numba's cache: each
worker would otherwise spend about a second of a core importing and loading them again.
Kernels not compiled yet stay on their numpy twins (the warm-up is held back: the
command line's own process starts it once, for all the workers).
"""

from __future__ import annotations

from kseg import _batch, _runners

_batch.init_worker()
_runners.preload()
