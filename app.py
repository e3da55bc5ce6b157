"""kseg's page: segment a photo into k colours by k-means, and explore the result.

Run it with ``python -m streamlit run app.py``. This file is a thin layer: decoding,
clustering, pictures and files all come from kseg; here are the widgets, the caches
and the layout. The computation graph is a chain of cached calls, each keyed on the
image's digest and plain parameters, never on big arrays:

    bytes -> load() -> Loaded (Image, ColorHistogram, display copy)
          -> segmentation(params) -> Segmentation -> segmented_png(), figures, files

A change of k reruns only ``segmentation`` and ``segmented_png``: the image is never
decoded or counted again. Hidden tabs do not run at all (``st.tabs(..., bind=...)``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
import gc
import hashlib
import inspect
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np
import streamlit as st

import kseg
from kseg import export, figures, spaces
from kseg.cache import MemoryCache
from kseg.histogram import preview_grid
from kseg.samples import SAMPLES

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
MAX_PIXELS = 25_000_000  # per upload; a 12 MP phone photo fits twice over
DECODE_SLOTS = 2  # photos decoded at once, server-wide (see decode_slots)
# Memory for decoded photos and results, server-wide (see results_cache); an hour at most.
CACHE_MB = int(os.environ.get("KSEG_CACHE_MB", "512"))
CACHE_TTL = 3600
PREVIEW_SIDE = 1200  # longer side of the images shown side by side
COMPARE_SIDE = 640
THUMB_SIDE = 240
CLOUD_POINTS = 3000
K_MIN, K_MAX, K_DEFAULT = 2, 32, 4
COMPARE_DEFAULT = [4, 6, 10]
ELBOW_DEFAULT = (2, 16)
ELBOW_ATTEMPTS = 3
# Superpixels work on the photo scaled to this longer side (about 2 MP): under a second.
SUPERPIXEL_SIDE = 1600
SEGMENTS_MIN, SEGMENTS_MAX, SEGMENTS_DEFAULT = 50, 2000, 400
SP_COMPACTNESS_MIN, SP_COMPACTNESS_MAX, SP_COMPACTNESS_DEFAULT = 1.0, 40.0, 10.0
SP_VIEWS = ["Mean-colour fill", "Boundaries over the original"]

LOG = logging.getLogger("kseg.app")
SAMPLES_BY_NAME = {s.name: s for s in SAMPLES}
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
# cv2.kmeans costs about this many nanoseconds per pixel x centre x update on a 2-core
# cloud machine (measured on the retina sample, 1 MP; k-means++ and random alike).
OPENCV_NS_PER_STEP = 6.0
OPENCV_CONFIRM_SECONDS = 2.0  # above this an OpenCV run waits for a click
OPENCV_MAX_SECONDS = 300.0  # above this it is refused: too long for a shared server
# OpenCV runs at once, server-wide (0 turns the engine off); see opencv_slots.
OPENCV_SLOTS = int(os.environ.get("KSEG_OPENCV_SLOTS", "1"))
OPENCV_WAIT_SECONDS = 3.0  # a run waits this long for a slot, then the page shows kseg's


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


class SuperpixelParams(NamedTuple):
    """One superpixel run: its parameters and the preview size it works at (a cache key)."""

    n_segments: int
    compactness: float
    side: int  # longer side of the preview


class OpenCVUnavailable(Exception):
    """No OpenCV run can start now: another is using the server, or they are turned off."""


@dataclass(frozen=True, eq=False)
class Source:
    """The image on show: a bundled sample or the visitor's last good upload."""

    kind: str  # "sample" or "upload"
    name: str  # the sample's name, or "upload"; used in file names
    digest: str
    data: bytes = field(repr=False)

    @property
    def cli_name(self) -> str:
        return f"{self.name}.jpg" if self.kind == "sample" else "IMAGE"


@dataclass(frozen=True, eq=False)
class Loaded:
    """A decoded image, its colour histogram and its display-size copy (read-only)."""

    image: kseg.Image
    hist: kseg.ColorHistogram
    preview: bytes  # JPEG, or PNG when the image has transparent pixels


@dataclass(frozen=True, eq=False)
class View:
    """What every tab shows from: the image, the parameters and the segmentation."""

    source: Source
    loaded: Loaded
    params: Params
    seg: kseg.Segmentation


# ----------------------------------------------------------------------------- page
def main() -> None:
    st.set_page_config(
        page_title="kseg: k-means colour segmentation",
        page_icon=":material/palette:",
        layout="wide",
        initial_sidebar_state="expanded",
    )
    st.title("kseg: colour segmentation by k-means")
    st.caption(
        "Groups the pixels of a photo into k colours. Upload a photo or pick a sample in "
        "the sidebar, then change k and the other settings: the result follows at once."
    )
    with st.spinner("Starting the k-means engine (once per server)..."):
        warm_up()

    source = image_ui()
    with st.spinner("Reading the photo..."):
        loaded = load(source.digest, source.data)  # a cache hit unless it was evicted
    describe_source(source, loaded.image)
    params = controls_ui(source, loaded)
    params = opencv_gate_ui(source, loaded, params)
    try:
        with st.spinner(f"Segmenting into {params.k} colours...", show_time=True):
            try:
                seg = segmentation(source.digest, params, loaded.hist)
            except OpenCVUnavailable as busy:
                st.warning(
                    f"{busy} The page shows the kseg engine's result.",
                    icon=":material/hourglass_disabled:",
                )
                params = params._replace(engine="histogram")
                seg = segmentation(source.digest, params, loaded.hist)
    except (kseg.ImageError, ValueError) as err:
        st.error(f"This segmentation could not run. {plain(str(err))}")
        st.stop()
    view = View(source, loaded, params, seg)

    # Tab bodies run only while their tab is open. Add a tab by adding a pair here.
    pages: list[tuple[str, Callable[[View], None]]] = [
        ("Segment", segment_tab),
        ("Compare", compare_tab),
        ("Isolate", isolate_tab),
        ("Downloads", downloads_tab),
        ("Superpixels", superpixels_tab),
    ]
    tabs = st.tabs([name for name, _ in pages], key="tab", bind="query-params")
    for tab, (_, body) in zip(tabs, pages, strict=True):
        if tab.open is not False:
            with tab:
                body(view)


# ----------------------------------------------------------------------------- image input
def image_ui() -> Source:
    """The uploader and the sample picker; returns the image to show.

    The last good choice wins: a new good upload replaces the image, a sample picked
    afterwards replaces the upload, and a bad upload changes nothing but shows why.
    Emptying the uploader changes nothing either: Streamlit reruns with no file while
    one upload replaces another, and that must not drop the photo on show.
    """
    state = st.session_state
    with st.sidebar:
        st.header("Image")
        upload = st.file_uploader(
            "Upload a photo",
            type=UPLOAD_TYPES,
            key="upload",
            help=f"JPEG, PNG, WebP, BMP, TIFF or GIF, up to {MAX_PIXELS // 1_000_000} "
            "megapixels. It is kept on the server only while this page is open.",
        )
        name = st.selectbox(
            "Or a sample photo",
            list(SAMPLES_BY_NAME),
            key="sample",
            bind="query-params",
            on_change=_prefer_sample,
        )
        sample = SAMPLES_BY_NAME[name]
        st.caption(f"{sample.title}. Photo: {sample.credit}, {sample.licence}.")
        current = state.get("_source")
        if current is not None and current.kind == "upload":
            st.button(
                f"Show the {name} sample instead of your photo",
                key="show_sample",
                on_click=_prefer_sample,
                icon=":material/photo_library:",
                type="tertiary",
            )
        gallery_ui()

    if upload is None:
        state["_upload_id"] = None
        state["_upload_error"] = None
    elif upload.file_id != state.get("_upload_id"):
        state["_upload_id"] = upload.file_id
        data = upload.getvalue()
        candidate = Source("upload", "upload", _digest(data), data)
        try:
            with st.spinner("Reading your photo..."):
                load(candidate.digest, candidate.data)
        except kseg.ImageError as err:
            state["_upload_error"] = str(err)
        except Exception:  # a bug or a lack of memory: the visitor still keeps their page
            LOG.exception("Unexpected failure reading an upload")
            state["_upload_error"] = "Reading it failed unexpectedly; try another file."
        else:
            state["_upload_error"] = None
            state["_source"] = candidate
    if upload is not None and state.get("_upload_error"):
        st.error(
            f"That file could not be used. {plain(state['_upload_error'])}\n\n"
            "The page still shows the previous image.",
            icon=":material/error:",
        )

    source = state.get("_source") or sample_source(name)
    if source.digest != state.get("_digest"):
        _forget_image_widgets()
        state["_digest"] = source.digest
    return source


def gallery_ui() -> None:
    """Thumbnails of the samples, each with its credit and a button to use it."""
    with st.expander("Browse the samples"):
        for sample in SAMPLES:
            st.image(thumbnail(sample.name), caption=f"{sample.title}")
            st.caption(f"{sample.credit}, {sample.licence}")
            st.button(
                f"Use {sample.name}",
                key=f"use_{sample.name}",
                on_click=_use_sample,
                args=(sample.name,),
                width="stretch",
            )


def describe_source(source: Source, image: kseg.Image) -> None:
    size = f"{image.width:,} x {image.height:,} px"
    if source.kind == "sample":
        sample = SAMPLES_BY_NAME[source.name]
        st.markdown(
            f"**{plain(sample.title)}** ({size}), photo by {plain(sample.credit)}, "
            f"{plain(sample.licence)}."
        )
    else:
        st.markdown(f"**Your photo** ({image.format or 'image'}, {size}).")


def _prefer_sample() -> None:
    st.session_state["_source"] = None


def _use_sample(name: str) -> None:
    st.session_state["sample"] = name
    st.session_state["_source"] = None


def _forget_image_widgets() -> None:
    """A new image: custom centres and cluster choices made for the old one start afresh."""
    for i in range(1, K_MAX + 1):
        st.session_state.pop(f"c{i}", None)
    st.session_state.pop("isolate", None)
    st.session_state.pop("sp_isolate", None)
    st.session_state.pop("_opencv_ok", None)


# ----------------------------------------------------------------------------- controls
def controls_ui(source: Source, loaded: Loaded) -> Params:
    """The clustering settings in the sidebar; every one is kept in the page's URL."""
    with st.sidebar:
        st.header("Clustering")
        k = st.slider(
            "k (number of colours)",
            K_MIN,
            K_MAX,
            K_DEFAULT,
            key="k",
            bind="query-params",
            help="How many colours the photo is reduced to.",
        )
        init = st.radio(
            "Initialisation",
            INITS,
            key="init",
            bind="query-params",
            horizontal=True,
            help="How the centres start: k-means++ spreads them over the colours, random "
            "picks pixels at random, custom starts from colours you choose.",
        )
        fixed = False
        if init == "custom":
            init, fixed = custom_centres_ui(source, loaded, k)
        attempts = st.number_input(
            "Attempts",
            1,
            50,
            10,
            key="attempts",
            bind="query-params",
            disabled=init not in ("k-means++", "random"),
            help="Independent starts; the most compact result wins. Custom centres start once.",
        )
        criteria = st.radio(
            "Stop criteria",
            CRITERIA,
            key="criteria",
            bind="query-params",
            captions=CRITERIA_CAPTIONS,
        )
        left, right = st.columns(2)
        eps = left.number_input(
            "eps",
            0.0,
            100.0,
            0.1,
            step=0.05,
            format="%.3f",
            key="eps",
            bind="query-params",
            disabled=criteria == "max_iter",
            help="Stop once no centre moves more than this (in the colour space's units).",
        )
        max_iter = right.number_input(
            "max_iter",
            1,
            300,
            20,
            key="max_iter",
            bind="query-params",
            disabled=criteria == "eps",
            help="Most centre updates per attempt.",
        )
        space = st.radio(
            "Colour space",
            list(SPACES),
            key="space",
            bind="query-params",
            captions=SPACE_CAPTIONS,
        )
        seed = st.number_input(
            "Seed",
            0,
            2**31 - 1,
            0,
            key="seed",
            bind="query-params",
            help="Seeds the random starts: the same seed gives the same result.",
        )
        engine = st.radio(
            "Engine",
            list(ENGINES),
            key="engine",
            bind="query-params",
            captions=ENGINE_CAPTIONS,
        )
        if fixed:
            max_iter = 0
        st.divider()
        st.caption(
            "The address bar keeps these settings: copy it to share this view. "
            "Uploaded photos are not part of the link."
        )
    return Params(
        k=int(k),
        init=init,
        attempts=int(attempts),
        max_iter=int(max_iter),
        eps=float(eps),
        criteria=criteria,
        color_space=SPACES[space],
        seed=int(seed),
        engine=ENGINES[engine],
    )


def custom_centres_ui(source: Source, loaded: Loaded, k: int) -> tuple[tuple[str, ...], bool]:
    """One colour picker per cluster, starting from the photo's colours; and "keep fixed"."""
    defaults = default_centres(source.digest, k, loaded.hist)
    st.caption("Starting colours, one per cluster (they start from the photo's own colours).")
    columns = st.columns(4)
    colours = []
    for i in range(k):
        colours.append(
            columns[i % 4].color_picker(
                f"Centre {i + 1}", defaults[i], key=f"c{i + 1}", bind="query-params"
            )
        )
    fixed = st.checkbox(
        "Keep these colours fixed",
        key="fixed",
        bind="query-params",
        help="Map every pixel to the nearest of these colours without moving them "
        "(max_iter = 0): apply a palette as it is.",
    )
    return tuple(c.lower() for c in colours), fixed


def opencv_gate_ui(source: Source, loaded: Loaded, params: Params) -> Params:
    """Say what an OpenCV run will cost; big ones wait for a click.

    Returns the parameters to run now: the kseg engine's while an OpenCV run waits.
    """
    if params.engine != "opencv":
        return params
    seconds = opencv_estimate(loaded.hist.n_opaque, params)
    fallback = params._replace(engine="histogram")
    cost = (
        f"cv2.kmeans works on all {loaded.hist.n_opaque:,} pixels: about {k_steps(params)} "
        f"passes of {params.k} distance computations each, up to about "
        f"{format_seconds(seconds)} here."
    )
    if seconds > OPENCV_MAX_SECONDS:
        st.warning(
            f"{cost} That is too long for this shared server, so the page shows the kseg "
            "engine's result. Lower k, attempts or max_iter to run OpenCV.",
            icon=":material/hourglass_disabled:",
        )
        return fallback
    if seconds <= OPENCV_CONFIRM_SECONDS:
        return params
    key = (source.digest, params)
    if st.session_state.get("_opencv_ok") == key:
        return params
    st.warning(
        f"{cost} The page shows the kseg engine's result until you start it; the page "
        "cannot be used while it runs.",
        icon=":material/hourglass_top:",
    )
    if st.button(f"Run cv2.kmeans (about {format_seconds(seconds)})", key="run_opencv"):
        st.session_state["_opencv_ok"] = key
        return params
    return fallback


def opencv_estimate(n_pixels: int, params: Params) -> float:
    """Seconds cv2.kmeans may take for these parameters (an upper estimate)."""
    return n_pixels * params.k * k_steps(params) * OPENCV_NS_PER_STEP * 1e-9


def k_steps(params: Params) -> int:
    """Attempts x most updates per attempt."""
    updates = 100 if params.criteria == "eps" else max(params.max_iter, 1)
    attempts = params.attempts if isinstance(params.init, str) else 1
    return attempts * updates


# ----------------------------------------------------------------------------- tabs
def segment_tab(view: View) -> None:
    seg, loaded = view.seg, view.loaded
    left, right = st.columns(2)
    with left.container(key="original"):
        st.image(loaded.preview, caption="Original")
        for note in loaded.image.notes:
            st.caption(plain(note))
    with right.container(key="segmented"):
        png = segmented_png(view.source.digest, view.params, PREVIEW_SIDE, loaded.hist)
        st.image(png, caption=f"Segmented into {seg.k} colours", output_format="PNG")
    for warning in seg.warnings:
        st.warning(plain(warning), icon=":material/warning:")
    metrics_ui(view)
    with st.container(key="palette"):
        st.subheader("Palette")
        palette_ui(seg)
    with st.container(key="centres"):
        centres_ui(seg)


def centres_ui(seg: kseg.Segmentation, *, key_prefix: str = "") -> None:
    """The 3D chart of the centres, drawn only while its expander is open.

    A 3D chart is rebuilt by the browser (a new WebGL scene) whenever its data
    change: on every change of k. Where the browser renders WebGL in software
    that costs more than the rest of the page together, so it is opt-in.
    """
    expander = st.expander(
        "Cluster centres in 3D (the RGB cube)",
        icon=":material/3d_rotation:",
        key=f"{key_prefix}show_3d",
        bind="query-params",
    )
    if not expander.open:
        return
    with expander:
        cloud = st.toggle(
            f"Show {CLOUD_POINTS:,} sampled pixels", value=True, key=f"{key_prefix}cloud"
        )
        figure = figures.centers_3d(seg, cloud=CLOUD_POINTS if cloud else 0, seed=0)
        st.plotly_chart(figure, key=f"{key_prefix}centers_3d", config={"displaylogo": False})
        st.caption("Each sphere is a cluster's colour, sized by its share of the pixels.")


def metrics_ui(view: View) -> None:
    seg, image = view.seg, view.loaded.image
    metrics = [
        ("Compactness", big_number(seg.compactness),
         "Sum of squared distances from each pixel to its cluster's centre, in the colour "
         "space used (cv2.kmeans's compactness). Lower is tighter."),
        ("Iterations", str(seg.n_iter) if seg.n_iter >= 0 else "n/a",
         "Centre updates of the winning attempt (cv2.kmeans does not report them)."),
        ("k-means time", format_seconds(seg.seconds), "Time the clustering took."),
        ("Distinct colours", f"{view.loaded.hist.n_colors:,}",
         "Different colours among the opaque pixels: what kseg clusters, weighted."),
        ("Image size", f"{image.width:,} x {image.height:,}", "Width x height in pixels."),
    ]  # fmt: skip
    # A row that wraps on narrow screens rather than squeezing the numbers.
    with st.container(horizontal=True, wrap=True, key="metrics"):
        for label, value, help_text in metrics:
            st.metric(label, value, help=help_text, border=True, width=170)


def palette_ui(seg: kseg.Segmentation, *, key_prefix: str = "") -> None:
    entries = seg.palette()
    st.dataframe(
        {
            "Colour": [figures.swatch_url(e.hex) for e in entries],
            "Cluster": [e.index + 1 for e in entries],
            "Hex": [e.hex for e in entries],
            "RGB": [", ".join(str(v) for v in e.rgb) for e in entries],
            "Share": [e.share for e in entries],
            "Pixels": [e.count for e in entries],
        },
        column_config={
            "Colour": st.column_config.ImageColumn("Colour", width=56),
            "Cluster": st.column_config.NumberColumn("Cluster", width=60),
            "Hex": st.column_config.TextColumn("Hex", width=76),
            "RGB": st.column_config.TextColumn("RGB", width=100),
            "Share": st.column_config.ProgressColumn(
                "Share", format="percent", min_value=0.0, max_value=1.0, width=120
            ),
            "Pixels": st.column_config.NumberColumn("Pixels", format="localized", width=90),
        },
        hide_index=True,
        height=35 * (min(len(entries), 12) + 1) + 3,  # up to 12 rows without scrolling
        key=f"{key_prefix}palette_table",
    )


def compare_tab(view: View) -> None:
    st.subheader("The same photo at several k")
    chosen = st.multiselect(
        "Values of k to compare",
        list(range(K_MIN, K_MAX + 1)),
        default=COMPARE_DEFAULT,
        key="compare_ks",
        max_selections=6,
    )
    base = comparable(view.params)
    if base.engine != view.params.engine or base.init != view.params.init:
        st.caption("Compared with the kseg engine and k-means++ starts, the same for every k.")
    if chosen:
        columns = st.columns(len(chosen))
        with st.spinner("Segmenting for each k...", show_time=True):
            for column, k in zip(columns, sorted(chosen), strict=True):
                params = base._replace(k=k)
                seg = segmentation(view.source.digest, params, view.loaded.hist)
                png = segmented_png(view.source.digest, params, COMPARE_SIDE, view.loaded.hist)
                column.image(
                    png,
                    caption=f"k = {k}, compactness {big_number(seg.compactness)}",
                    output_format="PNG",
                )
    else:
        st.info("Pick one or more values of k above.")

    st.subheader("Help in choosing k: the elbow")
    low, high = st.slider(
        "Range of k for the elbow chart", K_MIN, K_MAX, ELBOW_DEFAULT, key="elbow_ks"
    )
    if high - low < 2:
        st.info("Pick a range of at least three values of k.")
        return
    with st.spinner("Segmenting for every k in the range...", show_time=True):
        curve = elbow_curve(
            view.source.digest, (low, high), base.color_space, base.seed, view.loaded.hist
        )
    suggested = kseg.suggest_k(curve)
    st.plotly_chart(
        figures.elbow_chart(curve, view.params.k, suggested),
        key="elbow_chart",
        config={"displaylogo": False},
    )
    st.caption(
        f"Compactness falls as k grows; past the elbow each extra colour buys little. "
        f"kseg suggests k = {suggested} here ({ELBOW_ATTEMPTS} attempts per k)."
    )
    st.button(
        f"Use k = {suggested}",
        key="use_suggested",
        on_click=_set_k,
        args=(suggested,),
        disabled=suggested == view.params.k,
    )


def isolate_tab(view: View) -> None:
    isolate_ui(view.seg, file_stem(view))


def isolate_ui(seg: kseg.Segmentation, stem: str, *, key_prefix: str = "") -> None:
    """Chosen clusters over a dimmed rest, and their mask as a file."""
    entries = seg.palette()
    st.subheader("Show only some clusters")
    chosen = st.multiselect(
        "Clusters to isolate",
        [e.index for e in entries],
        default=[0],
        format_func=lambda i: f"{i + 1}: {entries[i].hex} ({entries[i].share:.1%})",
        key=f"{key_prefix}isolate",
        help="For a region of interest, e.g. the vessels of the retina sample.",
    )
    left, right = st.columns(2)
    paint = left.radio(
        "Show the chosen clusters in",
        ["their own colours", "the cluster colour"],
        key=f"{key_prefix}isolate_paint",
        horizontal=True,
    )
    dim = right.slider("Brightness of the rest (%)", 0, 100, 20, key=f"{key_prefix}isolate_dim")
    if not chosen:
        st.info("Pick one or more clusters above.")
        return
    flat = paint == "the cluster colour"
    pixels = figures.isolate(seg, chosen, max_side=PREVIEW_SIDE, dim=dim / 100, paint=flat)
    share = float(seg.shares[chosen].sum())
    with st.container(key=f"{key_prefix}isolated"):
        st.image(
            export.encode_png(pixels, compression=1) if flat else jpeg(pixels),
            caption=f"Clusters {', '.join(str(i + 1) for i in sorted(chosen))}: "
            f"{share:.1%} of the pixels",
        )
    st.download_button(
        "Download this mask (PNG)",
        data=lambda: mask_png(seg, chosen),
        file_name=f"{stem}-mask.png",
        mime="image/png",
        key=f"{key_prefix}dl_mask",
        on_click="ignore",
        icon=":material/download:",
        help=f"{seg.shape[1]:,} x {seg.shape[0]:,} px: white where the chosen clusters are, "
        "black elsewhere.",
    )


def downloads_tab(view: View) -> None:
    seg = view.seg
    st.subheader("Files of this result")
    st.caption("Each file is made when you click its button, at the photo's full resolution.")
    downloads_ui(seg, file_stem(view), view.source.cli_name)
    st.subheader("The same on the command line")
    st.code(export.cli_command(seg.params, source_name=view.source.cli_name), language="bash")


def downloads_ui(
    seg: kseg.Segmentation, stem: str, source_name: str, *, key_prefix: str = ""
) -> None:
    """One lazy download button per file of `seg`, made from its pixels when clicked."""
    files = [
        ("dl_segmented", "Segmented image (PNG)", f"{stem}.png", "image/png",
         lambda: segmented_full_png(seg),
         "Every pixel painted with its cluster's colour."),
        ("dl_labels", "Label map (PNG)", f"{stem}-labels.png", "image/png",
         lambda: export.label_map_png(seg),
         "Grey value i for cluster i (largest first), 255 for transparent pixels."),
        ("dl_palette_json", "Palette (JSON)", f"{stem}-palette.json", "application/json",
         lambda: export.palette_json(seg),
         "Colours, shares and centres; reusable as custom centres on the command line."),
        ("dl_palette_csv", "Palette (CSV)", f"{stem}-palette.csv", "text/csv",
         lambda: export.palette_csv(seg),
         "One row per cluster, for a spreadsheet."),
        ("dl_params", "Run parameters (JSON)", f"{stem}-params.json", "application/json",
         lambda: export.params_json(seg, source_name=source_name),
         "Everything needed to reproduce this result, with the command line."),
    ]  # fmt: skip
    for key, label, file_name, mime, data, help_text in files:
        st.download_button(
            label,
            data=data,
            file_name=file_name,
            mime=mime,
            key=f"{key_prefix}{key}",
            on_click="ignore",
            icon=":material/download:",
            help=help_text,
        )


def superpixels_tab(view: View) -> None:
    """SLIC superpixels of the photo, and regions then colours: k-means over whole regions."""
    st.subheader("Superpixels, then colours")
    st.caption(
        "SLIC superpixels split the photo into small regions of similar colour that follow "
        "its edges. Regions then colours: k-means over the regions' mean colours, each "
        "weighted by its size, with the sidebar's k and settings. Every region goes whole "
        "into one colour, so the segments follow object edges instead of speckling."
    )
    sp_params, fill = superpixel_controls_ui()
    if ENGINES.get(st.session_state.get("engine")) == "opencv":
        st.info(
            "The regions are clustered by kseg's engine, whatever the sidebar's engine: "
            "cv2.kmeans works on pixels and cannot weigh whole regions. The other "
            "settings are the sidebar's.",
            icon=":material/info:",
        )
    digest = view.source.digest
    try:
        with st.spinner("Finding superpixels...", show_time=True):
            warm_up_superpixels()
            hist = superpixel_input(digest, sp_params.side, view.loaded)
            regions = superpixel_regions(digest, sp_params, hist)
            picture, picture_format = superpixel_picture(digest, sp_params, fill, hist)
    except (kseg.ImageError, ValueError) as err:
        st.error(f"The superpixels could not be computed. {plain(str(err))}")
        return
    height, width = hist.shape
    left, right = st.columns(2)
    with left.container(key="sp_superpixels"):
        # width= the picture's own: Streamlit would otherwise re-encode it above 1460 px.
        st.image(
            picture,
            caption=f"{regions.n_regions:,} superpixels: "
            + ("mean colours" if fill else "boundaries over the original"),
            output_format=picture_format,
            width=width,
        )
    params = view.params._replace(engine="histogram")
    with right.container(key="sp_segmented"):
        try:
            with st.spinner(f"Clustering the regions into {params.k} colours...", show_time=True):
                seg = region_segmentation(digest, sp_params, params, hist)
                png = region_segmented_png(digest, sp_params, params, hist)
        except (kseg.ImageError, ValueError) as err:
            st.error(f"This segmentation could not run. {plain(str(err))}")
            return
        st.image(
            png,
            caption=f"Regions then colours: {seg.k} colours",
            output_format="PNG",
            width=width,
        )
    for warning in seg.warnings:
        st.warning(plain(warning), icon=":material/warning:")
    size = f"{width:,} x {height:,}"
    metrics = [
        ("Regions", f"{regions.n_regions:,}",
         "Superpixels found: close to the number asked for."),
        ("Superpixel time", format_seconds(regions.seconds),
         f"Time SLIC took at {size} px."),
        ("k-means time", format_seconds(seg.seconds),
         "Time clustering the regions' mean colours took."),
        ("k-means compactness", big_number(seg.compactness),
         "Sum of squared distances from each pixel to its cluster's centre, in the colour "
         "space used. Lower is tighter."),
        ("Size", size, "Width x height in pixels of what the superpixels work on."),
    ]  # fmt: skip
    with st.container(horizontal=True, wrap=True, key="sp_metrics"):
        for label, value, help_text in metrics:
            st.metric(label, value, help=help_text, border=True, width=170)
    image = view.loaded.image
    if hist.shape != image.shape:
        st.caption(
            f"Superpixels, colours and files are at {size} px: the photo "
            f"({image.width:,} x {image.height:,}) scaled down, so that they follow each "
            "change in about a second."
        )
    with st.container(key="sp_palette"):
        st.subheader("Palette")
        palette_ui(seg, key_prefix="sp_")
    with st.container(key="sp_centres"):
        centres_ui(seg, key_prefix="sp_")
    stem = f"kseg-{view.source.name}-k{seg.k}-superpixels"
    isolate_ui(seg, stem, key_prefix="sp_")
    st.subheader("Files of this result")
    st.caption(f"Each file is made when you click its button, at {size} px.")
    downloads_ui(seg, stem, view.source.cli_name, key_prefix="sp_")


def superpixel_controls_ui() -> tuple[SuperpixelParams, bool]:
    """The superpixel settings, kept in the page's URL like the sidebar's.

    Returns the parameters and whether to fill regions with their mean colour.
    """
    left, middle, right = st.columns(3)
    n_segments = left.slider(
        "Number of superpixels",
        SEGMENTS_MIN,
        SEGMENTS_MAX,
        SEGMENTS_DEFAULT,
        step=10,
        key="sp_segments",
        bind="query-params",
        help="How many regions SLIC aims for; the number found is close to it.",
    )
    compactness = middle.slider(
        "Superpixel compactness",
        SP_COMPACTNESS_MIN,
        SP_COMPACTNESS_MAX,
        SP_COMPACTNESS_DEFAULT,
        step=0.5,
        key="sp_compactness",
        bind="query-params",
        help="Higher gives squarer, more regular regions; lower follows colour edges more closely.",
    )
    shown = right.radio("Show", SP_VIEWS, key="sp_view", bind="query-params", horizontal=True)
    params = SuperpixelParams(int(n_segments), float(compactness), SUPERPIXEL_SIDE)
    return params, shown == SP_VIEWS[0]


def _set_k(k: int) -> None:
    st.session_state["k"] = k


# ----------------------------------------------------------------------------- cached work
@st.cache_resource(show_spinner=False)
def results_cache(max_mb: int) -> MemoryCache:
    """The server's decoded photos and results, in `max_mb` of memory for everyone.

    Bounded by what the values hold, not by their count: eight 25 MP photos hold five
    times what eight 5 MP photos do, and a photo's colour tables grow as it is explored
    (each colour space and preview size adds some). The least recently used go first;
    512 MB keeps eight visitors' 12 MP photos with their results (benchmarks/load.py).
    """
    return MemoryCache(max_mb * 2**20, ttl=CACHE_TTL)


def kept(function: Callable) -> Callable:
    """Keep `function`'s results in results_cache(), keyed on its name and arguments.

    As with st.cache_resource, parameters named with a leading underscore are not part
    of the key (the digest and plain parameters before them are), and the results are
    shared by every session: treat them as read-only.
    """
    signature = inspect.signature(function)
    keyed = [name for name in signature.parameters if not name.startswith("_")]

    @functools.wraps(function)
    def cached(*args, **kwargs):
        bound = signature.bind(*args, **kwargs).arguments
        key = (function.__qualname__, *(bound[name] for name in keyed))
        return results_cache(CACHE_MB).get(key, lambda: function(*args, **kwargs))

    return cached


@st.cache_resource(show_spinner=False)
def warm_up() -> bool:
    """Load (or compile) kseg's numba kernels once per server process."""
    rgb = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    hist = kseg.ColorHistogram(rgb)
    for init in ("k-means++", "random"):
        kseg.segment(hist, 3, init=init, attempts=2).segmented_image(16)
    kseg.segment(hist, 2, init=[[0, 0, 0], [255, 255, 255]], color_space="lab")
    # Streamlit runs gc.collect(2) after every rerun; walking the ~200k long-lived objects
    # of the imported libraries took 150-300 ms of each k change here. Freeze them once:
    # the collector still sees everything created from now on.
    gc.collect()
    gc.freeze()
    return True


@st.cache_resource(show_spinner=False)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None with another C library (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def give_back_memory() -> None:
    """Keep the cache within its budget and hand the memory freed by this run back to
    the system, at the end of every run.

    A value grows after it is stored (a new photo's colour tables are filled by the
    rest of its first run): measured only at its next use, the cache overshot its
    budget by tens of MB after each upload until the visitor's next change.

    A photo's decode, labels and previews are large numpy temporaries; glibc keeps
    what they free in its heaps (one per thread, and Streamlit runs each session in
    its own), where it counts as the server's memory until reused. Trimming costs
    0.1 ms with nothing to give back and about 10 ms after freeing hundreds of MB.
    """
    results_cache(CACHE_MB).shrink()  # what grew during this run counts now
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@st.cache_resource(show_spinner=False)
def opencv_slots(n: int) -> threading.BoundedSemaphore | None:
    """The server's OpenCV runs at once: at most `n`; None when `n` is 0 (turned off).

    cv2.kmeans on every pixel keeps both cores busy for up to OPENCV_MAX_SECONDS: a
    few visitors starting such runs together would stall every other visitor's page.
    """
    return threading.BoundedSemaphore(n) if n > 0 else None


@st.cache_resource(show_spinner=False)
def decode_slots() -> threading.BoundedSemaphore:
    """The server's photos being decoded and counted at once: at most DECODE_SLOTS.

    Unbounded, eight visitors uploading 12 MP photos together sent the server's peak
    memory as high as 2.2 GB; two at a time kept it near 1.2 GB (benchmarks/load.py).
    On two cores more at once would not finish sooner anyway.
    """
    return threading.BoundedSemaphore(DECODE_SLOTS)


@kept
def load(digest: str, _data: bytes) -> Loaded:
    """Decode and count colours once per image (keyed on the digest of its bytes).

    Kept in results_cache() with everything else; 512 MB holds eight 12 MP photos (one
    each for eight visitors at once: with fewer, their reruns evicted each other's
    photos and decoded them again). Raises kseg.ImageError for files that cannot be
    used, which is not cached.
    """
    with decode_slots():
        image = kseg.load_image(_data, max_pixels=MAX_PIXELS)
        hist = kseg.ColorHistogram.from_image(image)
    if hist.n_colors == 0:
        raise kseg.ImageError(
            "Every pixel of this image is fully transparent, so there is nothing to segment."
        )
    small = figures.downscale(image.rgb, image.alpha, PREVIEW_SIDE)
    preview = export.encode_png(small, compression=1) if image.has_alpha else jpeg(small)
    return Loaded(image=image, hist=hist, preview=preview)


def segmentation(digest: str, params: Params, _hist: kseg.ColorHistogram) -> kseg.Segmentation:
    """kseg.segment, once per image and parameters. Treat the result as read-only."""
    return dataclasses.replace(_segmentation(digest, params, _hist), histogram=_hist)


@kept
def _segmentation(digest: str, params: Params, _hist: kseg.ColorHistogram) -> kseg.Segmentation:
    """The cached result, without its image: `segmentation` puts the histogram back.

    A kept Segmentation holding its histogram would hold the decoded photo in each of
    its results: the budget would be spent on copies of the photo's weight (each
    result would count 36 MB at 12 MP instead of about 0.4 MB) and the photo would
    stay alive after load()'s own entry was dropped.
    """
    run = functools.partial(kseg.segment, _hist, params.k, **segment_options(params))
    seg = run_opencv(run) if params.engine == "opencv" else run()
    return dataclasses.replace(seg, histogram=None)


def run_opencv(run: Callable[[], kseg.Segmentation]) -> kseg.Segmentation:
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


@kept
def segmented_png(digest: str, params: Params, max_side: int, _hist) -> bytes:
    """The segmented image at display size, as a palette PNG (flat colours stay flat)."""
    return export.segmented_png(segmentation(digest, params, _hist), max_side)


@kept
def elbow_curve(digest: str, ks: tuple[int, int], color_space: str, seed: int, _hist) -> dict:
    """Compactness for k = ks[0]..ks[1] with a few attempts each."""
    low, high = ks
    return kseg.elbow(
        _hist, range(low, high + 1), attempts=ELBOW_ATTEMPTS, color_space=color_space, seed=seed
    )


@kept
def default_centres(digest: str, k: int, _hist) -> tuple[str, ...]:
    """k colours spread over the image (a quick k-means++), as #rrggbb."""
    seg = kseg.segment(_hist, k, attempts=1, seed=0)
    hexes = [e.hex for e in seg.palette()]
    for i in range(len(hexes), k):  # fewer distinct colours than k: pad with greys
        level = round(255 * i / max(k - 1, 1))
        hexes.append(f"#{level:02x}{level:02x}{level:02x}")
    return tuple(hexes)


@st.cache_resource(show_spinner=False)
def warm_up_superpixels() -> bool:
    """Load (or compile) the superpixel kernels once per server process."""
    rgb = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    kseg.segment(rgb, 3, attempts=2, regions=kseg.superpixels(rgb, 9))
    return True


@kept
def superpixel_input(digest: str, side: int, _loaded: Loaded) -> kseg.ColorHistogram:
    """The photo at most `side` pixels on its longer side, with its colour histogram.

    Superpixels, regions then colours and the tab's pictures all work on this one
    image, so their labels line up pixel for pixel with what is shown.
    """
    image = _loaded.image
    if max(image.shape) <= side:
        return _loaded.hist
    if image.alpha is None:
        # Area averaging, as for the Original preview: smooth, and no aliasing for SLIC.
        return kseg.ColorHistogram(figures.downscale(image.rgb, None, side))
    # Nearest neighbour keeps transparency exact and mixes in no hidden colour.
    rows, cols = preview_grid(image.shape, side)
    return kseg.ColorHistogram(image.rgb[rows][:, cols], image.alpha[rows][:, cols])


@kept
def superpixel_regions(
    digest: str, sp: SuperpixelParams, _hist: kseg.ColorHistogram
) -> kseg.Superpixels:
    """kseg.superpixels of superpixel_input(), once per image and settings (read-only)."""
    n_pixels = _hist.shape[0] * _hist.shape[1]
    return kseg.superpixels(_hist, min(sp.n_segments, n_pixels), compactness=sp.compactness)


@kept
def superpixel_picture(
    digest: str, sp: SuperpixelParams, fill: bool, _hist: kseg.ColorHistogram
) -> tuple[bytes, str]:
    """The superpixels as an encoded picture and its format ("PNG" or "JPEG").

    Each region in its mean colour (PNG: flat colours stay flat), or the boundaries
    over the photo (JPEG); PNG with the alpha channel when there are transparent pixels.
    """
    regions = superpixel_regions(digest, sp, _hist)
    pixels = regions.mean_color_image() if fill else regions.overlay()
    if _hist.alpha is not None:
        rgba = np.dstack([pixels, _hist.alpha.astype(np.uint8) * 255])
        return export.encode_png(rgba, compression=1), "PNG"
    if fill:
        return export.encode_png(pixels, compression=1), "PNG"
    return jpeg(pixels, quality=95), "JPEG"


def region_segmentation(
    digest: str, sp: SuperpixelParams, params: Params, _hist: kseg.ColorHistogram
) -> kseg.Segmentation:
    """Regions then colours: kseg.segment over the superpixels. Treat it as read-only."""
    return dataclasses.replace(_region_segmentation(digest, sp, params, _hist), histogram=_hist)


@kept
def _region_segmentation(
    digest: str, sp: SuperpixelParams, params: Params, _hist: kseg.ColorHistogram
) -> kseg.Segmentation:
    """The cached result without its image, as for `_segmentation`."""
    regions = superpixel_regions(digest, sp, _hist)
    seg = kseg.segment(_hist, params.k, regions=regions, **segment_options(params))
    return dataclasses.replace(seg, histogram=None)


@kept
def region_segmented_png(
    digest: str, sp: SuperpixelParams, params: Params, _hist: kseg.ColorHistogram
) -> bytes:
    """The regions-then-colours image at the superpixels' size, as a palette PNG."""
    return export.segmented_png(region_segmentation(digest, sp, params, _hist))


@st.cache_resource(show_spinner=False)
def sample_source(name: str) -> Source:
    data = SAMPLES_BY_NAME[name].path.read_bytes()
    return Source("sample", name, _digest(data), data)


@st.cache_resource(show_spinner=False)
def thumbnail(name: str) -> bytes:
    image = kseg.load_image(SAMPLES_BY_NAME[name].path)
    return jpeg(figures.downscale(image.rgb, None, THUMB_SIDE))


# ----------------------------------------------------------------------------- helpers
def segment_options(params: Params) -> dict:
    """kseg.segment's keyword arguments for `params` (custom centres read in its space)."""
    init = params.init
    if not isinstance(init, str):
        init = centres_in_space(init, params.color_space)
    return {
        "init": init,
        "attempts": params.attempts,
        "max_iter": params.max_iter,
        "eps": params.eps,
        "criteria": params.criteria,
        "color_space": params.color_space,
        "seed": params.seed,
        "engine": params.engine,
    }


def centres_in_space(hexes: tuple[str, ...], color_space: str) -> np.ndarray:
    """#rrggbb colours as centres in `color_space`, the way kseg.segment reads them."""
    rgb = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hexes], np.uint8)
    return spaces.features_to_centers(spaces.to_features(rgb, color_space), color_space)


def comparable(params: Params) -> Params:
    """Parameters that make sense for any k: the kseg engine, and k-means++ for custom."""
    init = params.init if isinstance(params.init, str) else "k-means++"
    max_iter = params.max_iter if isinstance(params.init, str) else 20
    return params._replace(init=init, engine="histogram", max_iter=max_iter)


def segmented_full_png(seg: kseg.Segmentation) -> bytes:
    # A shallow copy, so the full-resolution labels are not kept on the cached result.
    return export.segmented_png(seg)


def mask_png(seg: kseg.Segmentation, clusters: list[int]) -> bytes:
    return export.encode_png(seg.mask(clusters).astype(np.uint8) * 255)


def file_stem(view: View) -> str:
    return f"kseg-{view.source.name}-k{view.seg.k}"


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB uint8 array, for photos shown at display size."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays
        raise ValueError("Could not encode the preview as JPEG.")
    return buf.tobytes()


_SUPERSCRIPTS = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def big_number(value: float) -> str:
    """Short enough for a metric: 3 significant digits, 2.79x10^8 with a superscript."""
    if 100 <= abs(value) < 99_999.5:
        return f"{value:,.0f}"
    if value == 0 or 1e-3 <= abs(value) < 100:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}\u00d710{str(int(exponent)).translate(_SUPERSCRIPTS)}"


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"


_MARKDOWN_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-!|~:$=^"})


def plain(text: str) -> str:
    """`text` with Markdown and Streamlit directives escaped, to show it as it is."""
    return str(text).translate(_MARKDOWN_SPECIALS)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    try:
        main()
    finally:
        give_back_memory()
