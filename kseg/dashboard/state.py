"""The page's state: its limits, the types its parts pass along, every session-state key.

Widgets bound to the URL keep their value in a query parameter named like their key,
so a key here is also part of every shared link: renaming one breaks old links. k and
every setting inside a tab (the 3D chart's show_3d, cloud and whole_cube, compare_view,
compare_ks, elbow_ks, isolate, isolate_paint, isolate_dim, isolate_by, isolate_view, pick,
cutout_full, sp_segments, sp_compactness, sp_view, and the "sp_" copies of the 3D chart's
and isolate's) are kept in the URL by the page itself (kseg.dashboard.links), under their
key too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

import kseg

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
MAX_PIXELS = 25_000_000  # per upload; a 12 MP phone photo fits twice over
PREVIEW_SIDE = 1200  # longer side of the images shown side by side
COMPARE_SIDE = 640
THUMB_SIDE = 240
CLOUD_POINTS = 3000
K_MIN, K_MAX, K_DEFAULT = 2, 32, 4
COMPARE_DEFAULT = [4, 6, 10]
COMPARE_MAX = 6  # pictures side by side at most
ELBOW_DEFAULT = (2, 16)
ELBOW_ATTEMPTS = 3
ISOLATE_PAINTS = ["their own colours", "the cluster colour"]
ISOLATE_DIM_DEFAULT = 20  # brightness of the rest, in %
# The Isolate tab picks regions (clicks on the photo) or whole clusters, and shows the
# photo as segmented or original under the picks.
ISOLATE_MODES = ["Regions you click", "Whole clusters"]
ISOLATE_VIEWS = ["Segmented", "Original"]
PICKS_MAX = 64  # picks kept at once: each is a flood fill, and a link may hold them all
# "Smallest region (px)": 0 (off) up to a fifth of a 25 MP photo, in steps of 10 px.
MIN_REGION_MAX, MIN_REGION_STEP = 5_000_000, 10
# Superpixels work on the photo scaled to this longer side (about 2 MP): under a second.
SUPERPIXEL_SIDE = 1600
# ... and are shown at most this wide: under Streamlit's 1460 px, above which it would
# decode and resize every picture again on each run.
SP_DISPLAY_SIDE = 1440
SEGMENTS_MIN, SEGMENTS_MAX, SEGMENTS_DEFAULT, SEGMENTS_STEP = 50, 2000, 400, 10
SP_COMPACTNESS_MIN, SP_COMPACTNESS_MAX, SP_COMPACTNESS_DEFAULT = 1.0, 40.0, 10.0
SP_COMPACTNESS_STEP = 0.5
SP_VIEWS = ["Mean-colour fill", "Boundaries over the original"]

INITS = ["k-means++", "random", "custom"]
CRITERIA = ["eps+max_iter", "eps", "max_iter"]
CRITERIA_CAPTIONS = [
    "stop at whichever comes first",
    "stop when no centre moves more than eps (at most 100 updates)",
    "run exactly max_iter updates (or until nothing moves)",
]
SPACES = {"RGB": "rgb", "CIELAB": "lab", "HSV": "hsv"}
SPACE_CAPTIONS = [
    "distance in red, green, blue",
    "distance close to perceived colour difference",
    "hue, saturation and value (hue wraps around)",
]
ENGINES = {"kseg": "histogram", "OpenCV": "opencv"}
ENGINE_CAPTIONS = [
    "weighted k-means over the distinct colours: fast",
    "cv2.kmeans on every pixel, the classic recipe: slow",
]


class Keys:
    """Every session-state key of the page, named once."""

    # The image
    UPLOAD = "upload"
    SAMPLE = "sample"
    SHOW_SAMPLE = "show_sample"
    # Clustering, in the sidebar
    K = "k"
    INIT = "init"
    FIXED = "fixed"
    ATTEMPTS = "attempts"
    CRITERIA = "criteria"
    EPS = "eps"
    MAX_ITER = "max_iter"
    SPACE = "space"
    SEED = "seed"
    ENGINE = "engine"
    MIN_REGION = "min_region"
    RUN_OPENCV = "run_opencv"
    # Tabs and their widgets (tabs that repeat a part prefix its keys, e.g. "sp_")
    TAB = "tab"
    COMPARE_VIEW = "compare_view"  # the Segment tab's picture on a phone
    SHOW_3D = "show_3d"  # the 3D chart's expander is open
    CLOUD = "cloud"
    WHOLE_CUBE = "whole_cube"
    CENTERS_3D = "centers_3d"
    PALETTE_TABLE = "palette_table"
    COMPARE_KS = "compare_ks"
    ELBOW_KS = "elbow_ks"
    ELBOW_CHART = "elbow_chart"
    USE_SUGGESTED = "use_suggested"
    ISOLATE = "isolate"
    ISOLATE_PAINT = "isolate_paint"
    ISOLATE_DIM = "isolate_dim"
    ISOLATE_BY = "isolate_by"  # regions you click, or whole clusters
    ISOLATE_VIEW = "isolate_view"  # the photo under the picks: segmented or original
    PICK = "pick"  # the picks in the URL: full-resolution x,y, one parameter each
    PICK_CLICK = "pick_click"  # the clickable picture (its value: the last click)
    CLEAR_PICKS = "clear_picks"
    CUTOUT_FULL = "cutout_full"
    PICK_TABLE = "pick_table"
    DL_MASK = "dl_mask"
    DL_REGION_MASK = "dl_region_mask"
    DL_CUTOUT = "dl_cutout"
    DL_REGIONS_CSV = "dl_regions_csv"
    DL_REGIONS_JSON = "dl_regions_json"
    DL_SEGMENTED = "dl_segmented"
    DL_LABELS = "dl_labels"
    DL_PALETTE_JSON = "dl_palette_json"
    DL_PALETTE_CSV = "dl_palette_csv"
    DL_PARAMS = "dl_params"
    SP_PREFIX = "sp_"
    SP_SEGMENTS = "sp_segments"
    SP_COMPACTNESS = "sp_compactness"
    SP_VIEW = "sp_view"
    # The page's own state (not widgets)
    SOURCE = "_source"  # the Source on show, when it is an upload
    UPLOADS_TAKEN = "_uploads_taken"  # how many files the uploader has handed over
    UPLOAD_TAKEN = "_upload_taken"  # (file name, bytes) handed over, not yet read
    UPLOAD_ERROR = "_upload_error"  # why that file could not be used
    DIGEST = "_digest"  # the image the widgets below were set for
    OPENCV_OK = "_opencv_ok"  # the (digest, Params) whose OpenCV run the visitor started
    LINK_DIGEST = "_link_digest"  # the image the URL's per-image settings are for
    COMPARE_FULL = "_compare_full"  # a seventh k was refused on the last click
    PICKS = "_picks"  # the picks (full-resolution (x, y)), as the URL's pick holds them
    PICKED = "_picked"  # a click changed the picks: keep only those that pick a region
    PICKS_FULL = "_picks_full"  # a click past PICKS_MAX was refused

    @staticmethod
    def centre(i: int) -> str:
        """The colour picker of custom centre ``i`` (1-based), e.g. "c1"."""
        return f"c{i}"

    @staticmethod
    def use_sample(name: str) -> str:
        return f"use_{name}"

    @classmethod
    def per_image(cls) -> list[str]:
        """Keys whose values belong to one image: a new image starts them afresh.

        (The isolate choices need no entry: their widgets are keyed by the result's
        palette, and start from the URL, which ``per_image_in_url`` clears.)
        """
        centres = [cls.centre(i) for i in range(1, K_MAX + 1)]
        return [*centres, cls.OPENCV_OK, cls.PICKS, cls.PICKED]

    @classmethod
    def per_image_in_url(cls) -> list[str]:
        """URL parameters, kept by the page itself, whose values belong to one image."""
        return [cls.ISOLATE, cls.SP_PREFIX + cls.ISOLATE, cls.PICK]


class Params(NamedTuple):
    """One segmentation's parameters, as plain values (a cache key)."""

    k: int
    init: str | tuple[str, ...]  # "k-means++", "random", or the custom centres as #rrggbb
    attempts: int
    max_iter: int
    eps: float
    criteria: str
    color_space: str
    seed: int
    engine: str
    min_region: int = 0  # regions under this many pixels join a neighbour; 0: off


class SuperpixelParams(NamedTuple):
    """One superpixel run: its parameters and the preview size it works at (a cache key)."""

    n_segments: int
    compactness: float
    side: int  # longer side of the preview


@dataclass(frozen=True, eq=False)
class Source:
    """The image on show: a bundled sample or the visitor's last good upload."""

    kind: str  # "sample" or "upload"
    name: str  # the sample's name, or the upload's file name made safe; used in file names
    digest: str
    data: bytes = field(repr=False)
    suffix: str = ".jpg"  # the extension cli_name gives the file

    STEM_MAX = 40  # characters of an upload's name kept in file names

    @classmethod
    def upload(cls, file_name: str, digest: str, data: bytes) -> Source:
        """The visitor's file, named after `file_name` made safe (see `safe_stem`)."""
        base = re.split(r"[/\\]", str(file_name))[-1]
        stem, dot, extension = base.rpartition(".")
        if not dot:
            stem, extension = base, ""
        extension = extension.lower()
        suffix = f".{extension}" if extension in UPLOAD_TYPES else ".jpg"
        return cls("upload", cls.safe_stem(stem), digest, data, suffix)

    @classmethod
    def safe_stem(cls, text: str) -> str:
        """`text` as ASCII letters, digits, "-" and "_" only: safe in any file name.

        Accents are dropped ("Été" -> "Ete"), every other run of characters (spaces,
        dots, slashes, control or direction-override characters) becomes one "-",
        and the result is at most `STEM_MAX` characters; nothing left gives "photo".
        """
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_text)
        stem = re.sub(r"-{2,}", "-", stem)[: cls.STEM_MAX].strip("-_")
        if stem.upper() in _RESERVED_NAMES:  # names Windows keeps for devices
            stem = f"photo-{stem}"
        return stem or "photo"

    @property
    def cli_name(self) -> str:
        """The file name the reproducing command line uses, e.g. "Holiday-2024-1.jpg"."""
        return f"{self.name}{self.suffix}"


_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{port}{i}" for port in ("COM", "LPT") for i in range(10)
}


@dataclass(frozen=True, eq=False)
class Loaded:
    """A decoded image, its colour histogram and its display-size copy (read-only)."""

    image: kseg.Image
    hist: kseg.ColorHistogram
    preview: bytes  # JPEG, or PNG when the image has transparent pixels


@dataclass(frozen=True, eq=False)
class Picked:
    """The regions picked on one segmentation, in the order they were picked (read-only).

    Kept in the cache, so without the full-resolution masks (12 MB each at 12 MP): each
    region's mask at display size, for the picture; the files pick the regions again.
    """

    points: tuple[tuple[int, int], ...]  # each region's pick point: they pick it again
    figures: tuple[kseg.RegionFigures, ...]
    previews: tuple[np.ndarray, ...]  # each region's mask on the PREVIEW_SIDE grid
    area: int  # pixels in all the regions together (they may overlap)


@dataclass(frozen=True, eq=False)
class View:
    """What every tab shows from: the image, the parameters and the segmentation."""

    source: Source
    loaded: Loaded
    params: Params
    seg: kseg.Segmentation

    @property
    def stem(self) -> str:
        """The start of every file name this view offers: "kseg-coffee-k4" for a sample,
        "kseg-Holiday-2024-1-k8" for an upload named "Holiday 2024 (1).JPG"."""
        return f"kseg-{self.source.name}-k{self.seg.k}"
