"""kseg: fast, exact k-means colour segmentation of photos.

The public surface is listed in ``__all__``; everything else is private.
"""

from __future__ import annotations

from kseg.errors import ImageError, KSegWarning

__version__ = "0.1.0"

__all__ = [
    "ImageError",
    "KSegWarning",
    "__version__",
]
