"""kseg: fast, exact k-means colour segmentation of photos.

The public surface is listed in ``__all__`` (and pinned by ``tests/test_exports.py``);
modules whose names start with an underscore are private. ``kseg.export`` (files),
``kseg.cli`` (the command line) and ``kseg.samples`` (bundled photos) are public
modules. The page lives in ``kseg.dashboard``, the only part that imports Streamlit
and plotly; ``import kseg`` loads neither.
"""

from __future__ import annotations

from kseg import export
from kseg._errors import ImageError
from kseg._histogram import ColorFeatures, ColorHistogram
from kseg._image import Image
from kseg._io import DEFAULT_MAX_PIXELS, SUPPORTED_FORMATS, load_image, read_size
from kseg._kmeans import KMeansResult, kmeans
from kseg._objects import Region, RegionFigures, pick_regions, region_figures
from kseg._pictures import downscale, isolate
from kseg._segment import (
    ENGINES,
    MAX_K,
    PaletteEntry,
    Segmentation,
    elbow,
    segment,
    shrink,
    suggest_k,
)
from kseg._spaces import COLOR_SPACES
from kseg._superpixels import Superpixels, superpixels
from kseg._validation import CRITERIA, INITS

__version__ = "0.1.0"

__all__ = [
    "COLOR_SPACES",
    "CRITERIA",
    "ColorFeatures",
    "ColorHistogram",
    "DEFAULT_MAX_PIXELS",
    "ENGINES",
    "INITS",
    "Image",
    "ImageError",
    "KMeansResult",
    "MAX_K",
    "PaletteEntry",
    "Region",
    "RegionFigures",
    "SUPPORTED_FORMATS",
    "Segmentation",
    "Superpixels",
    "__version__",
    "downscale",
    "elbow",
    "export",
    "isolate",
    "kmeans",
    "load_image",
    "pick_regions",
    "read_size",
    "region_figures",
    "segment",
    "shrink",
    "suggest_k",
    "superpixels",
]
