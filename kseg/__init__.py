"""kseg: fast, exact k-means colour segmentation of photos.

The public surface is listed in ``__all__``; everything else is private.
"""

from __future__ import annotations

from kseg.errors import ImageError, KSegWarning
from kseg.histogram import ColorHistogram
from kseg.io import DEFAULT_MAX_PIXELS, SUPPORTED_FORMATS, Image, load_image, read_size
from kseg.kmeans import KMeansResult, kmeans
from kseg.segment import PaletteEntry, Segmentation, elbow, segment, suggest_k
from kseg.spaces import COLOR_SPACES
from kseg.superpixels import Superpixels, superpixels

__version__ = "0.1.0"

__all__ = [
    "COLOR_SPACES",
    "ColorHistogram",
    "DEFAULT_MAX_PIXELS",
    "Image",
    "ImageError",
    "KMeansResult",
    "KSegWarning",
    "PaletteEntry",
    "SUPPORTED_FORMATS",
    "Segmentation",
    "Superpixels",
    "__version__",
    "elbow",
    "kmeans",
    "load_image",
    "read_size",
    "segment",
    "suggest_k",
    "superpixels",
]
