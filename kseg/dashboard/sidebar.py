"""The sidebar: the image on show and the clustering settings, as plain values.

``image_ui`` returns the Source to show, ``controls_ui`` the Params to segment it
with, and ``opencv_gate_ui`` what may run now when the OpenCV engine is asked for.
"""

from __future__ import annotations

import logging
import re

import streamlit as st
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

import kseg
from kseg.dashboard import compute, links
from kseg.dashboard.state import (
    CRITERIA,
    CRITERIA_CAPTIONS,
    ENGINE_CAPTIONS,
    ENGINES,
    INITS,
    K_DEFAULT,
    K_MAX,
    K_MIN,
    MAX_PIXELS,
    SPACE_CAPTIONS,
    SPACES,
    THUMB_SIDE,
    Keys,
    Loaded,
    Params,
    Source,
)
from kseg.dashboard.text import format_seconds, plain
from kseg.samples import SAMPLES

LOG = logging.getLogger("kseg.app")
PICKER_WIDTH = 48  # px: a colour picker under its number; four to a row in the sidebar
SAMPLES_BY_NAME = {s.name: s for s in SAMPLES}
# What cv2.kmeans costs through kseg's opencv engine, in nanoseconds, on a shared 2-core
# machine: a least-squares fit (relative error) to the medians of 3 runs of 55 settings
# that use all their updates (0.1-12 MP photos, k 4-16, 1-3 attempts; OpenCV 5.0, 2
# threads), by benchmarks/bench_opencv_estimate.py on 2026-12-01. Within +/-20 % for 44
# of the 55 (median ratio 0.98, 0.56-1.25); in a later run, for all 8 runs that had both
# cores to themselves (0.88-1.20), while runs sharing the cores took up to 3x as long.
# Runs with eps may stop sooner: for them this is an upper bound.
OPENCV_NS_PER_PIXEL = 80.0  # once per run: colour features, float32 copy, compactness
OPENCV_NS_PER_PASS = 3.3  # per pixel and labelling pass: centre sums, label bookkeeping
OPENCV_NS_PER_DISTANCE = 4.3  # per pixel x centre x pass: one squared distance
OPENCV_NS_PER_SEED = 9.7  # per pixel x centre x attempt: k-means++ seeding (3 trials)
OPENCV_CONFIRM_SECONDS = 2.0  # above this an OpenCV run waits for a click
OPENCV_MAX_SECONDS = 300.0  # above this it is refused: too long for a shared server


# The uploader hands each file over and is then replaced by an empty one (a new key), so
# it never lists a file: a refused file cannot pile up, and replacing a photo never
# passes through an empty uploader that would look like "photo removed".
# It takes files of any name (type=None): its drop zone then lists no kinds, and kseg,
# which decides the format from the content, says what a file it cannot read is (SVG,
# HEIC, PDF, ...). A list of types would be shown in the drop zone, refused names and all.
HEIC_ADVICE = (
    "HEIC photos from iPhones: choose 'Most compatible' in the camera settings "
    "(Settings > Camera > Formats) or export the photo as JPEG."
)


def image_ui() -> Source:
    """The uploader and the sample picker; returns the image to show.

    The last good choice wins: a new good upload replaces the image, a sample picked
    afterwards (or "Remove your photo") replaces the upload, and a bad upload changes
    nothing but shows why. The sidebar says which photo is on show.
    """
    state = st.session_state
    with st.sidebar:
        st.header("Image")
        key = _uploader_key()
        st.file_uploader(
            "Upload a photo (JPEG, PNG, WebP, BMP, TIFF or GIF)",
            type=None,
            key=key,
            on_change=_take_upload,
            args=(key,),
            help=f"Up to {MAX_PIXELS // 1_000_000} megapixels. Your photo is kept on the "
            "server only while this page is open. Other kinds (SVG, HEIC, PDF, ...) are not "
            "read. " + HEIC_ADVICE,
        )
        taken = state.pop(Keys.UPLOAD_TAKEN, None)
        if taken is not None:
            _read_upload(*taken)
        # Said once, in the run that read the file: the next change of any setting drops it.
        refused = state.pop(Keys.UPLOAD_ERROR, None)
        notice = st.container()  # filled below, once the sample's name is known
        name = st.selectbox(
            "Or a sample photo",
            list(SAMPLES_BY_NAME),
            key=Keys.SAMPLE,
            bind="query-params",
            on_change=_prefer_sample,
        )
        sample = SAMPLES_BY_NAME[name]
        st.caption(f"{sample.title}. Photo: {sample.credit}, {sample.licence}.")
        with notice:
            _upload_notice(refused, state.get(Keys.SOURCE), name)
        gallery_ui()

    source = state.get(Keys.SOURCE) or sample_source(name)
    if source.digest != state.get(Keys.DIGEST):
        _forget_image_widgets()
        state[Keys.DIGEST] = source.digest
    return source


def _upload_notice(
    refused: tuple[str, str] | None, current: Source | None, sample_name: str
) -> None:
    """Why the file just uploaded could not be used, and which photo is on show.

    `refused` is (the file's name made safe, kseg's message), or None.
    """
    if refused is not None:
        file_name, upload_error = refused
        shown = "your photo" if current is not None else f"the {sample_name} sample"
        st.error(
            f"{plain(file_name)} could not be used: {plain(upload_error)}\n\n"
            f"The page still shows {shown}.",
            icon=":material/error:",
        )
    if current is not None:
        # The name made safe, as the downloads take it: say so, or it looks like a typo.
        st.caption(
            f"On show: your photo, **{plain(current.cli_name)}** (named as the downloads will be)."
        )
        st.button(
            f"Remove your photo and show the {sample_name} sample",
            key=Keys.SHOW_SAMPLE,
            on_click=_prefer_sample,
            icon=":material/close:",
            type="tertiary",
        )


def _uploader_key() -> str:
    taken = st.session_state.get(Keys.UPLOADS_TAKEN, 0)
    return Keys.UPLOAD if taken == 0 else f"{Keys.UPLOAD}-{taken}"


def _take_upload(key: str) -> None:
    """The uploader's on_change: take the file over and empty the uploader."""
    upload = st.session_state.get(key)
    if upload is None:
        return
    st.session_state[Keys.UPLOAD_TAKEN] = (upload.name, upload.getvalue())
    st.session_state[Keys.UPLOADS_TAKEN] = st.session_state.get(Keys.UPLOADS_TAKEN, 0) + 1
    st.session_state.pop(key, None)
    _release_upload(upload.file_id)


def _release_upload(file_id: str) -> None:
    """Drop Streamlit's copy of an uploaded file, as st.chat_input does with its files.

    The browser deletes a file from the server when the visitor removes it from the
    uploader; an uploader replaced by a new key never does, so without this every file
    would stay in the server's memory until the visitor's session ends.
    """
    ctx = get_script_run_ctx()
    if ctx is not None and isinstance(ctx.uploaded_file_mgr, MemoryUploadedFileManager):
        ctx.uploaded_file_mgr.remove_file(session_id=ctx.session_id, file_id=file_id)


def _read_upload(file_name: str, data: bytes) -> None:
    """Decode a file the uploader handed over: it goes on show, or its error is kept."""
    state = st.session_state
    candidate = Source.upload(file_name, compute.digest(data), data)
    try:
        with st.spinner("Reading your photo..."):
            compute.load(candidate.digest, candidate.data)
    except kseg.ImageError as err:
        state[Keys.UPLOAD_ERROR] = (safe_file_name(file_name), str(err))
    except Exception:  # a bug or a lack of memory: the visitor still keeps their page
        LOG.exception("Unexpected failure reading an upload")
        state[Keys.UPLOAD_ERROR] = (
            safe_file_name(file_name),
            "reading it failed unexpectedly; try another file.",
        )
    else:
        state[Keys.SOURCE] = candidate


def safe_file_name(file_name: str) -> str:
    """An upload's name made safe as Source does, keeping its own extension (letters and
    digits only): "Holiday (1).svg" -> "Holiday-1.svg", to say which file was refused."""
    base = re.split(r"[/\\]", str(file_name))[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    extension = re.sub(r"[^a-z0-9]", "", extension.lower())[:8]
    return Source.safe_stem(stem) + (f".{extension}" if extension else "")


def gallery_ui() -> None:
    """Thumbnails of the samples, each with its credit and a button to use it."""
    with st.expander("Browse the samples"):
        for sample in SAMPLES:
            st.image(thumbnail(sample.name), caption=f"{sample.title}")
            st.caption(f"{sample.credit}, {sample.licence}")
            st.button(
                f"Use {sample.name}",
                key=Keys.use_sample(sample.name),
                on_click=_use_sample,
                args=(sample.name,),
                width="stretch",
            )


def describe_source(source: Source, image: kseg.Image) -> None:
    """What is on show, above the tabs; a damaged file gets a warning beside it."""
    size = f"{image.width:,} x {image.height:,} px"
    if source.kind == "sample":
        sample = SAMPLES_BY_NAME[source.name]
        st.markdown(
            f"**{plain(sample.title)}** ({size}), photo by {plain(sample.credit)}, "
            f"{plain(sample.licence)}."
        )
    else:
        kind = image.format or "image"
        st.markdown(f"**Your photo** {plain(source.cli_name)} ({kind}, {size}).")
    if image.damaged:
        st.warning(
            "The file is damaged: part of the picture may be wrong. The page shows and "
            "segments what could be decoded; for a sound result, save or export the "
            "photo again, or upload the original.",
            icon=":material/broken_image:",
        )


def _prefer_sample() -> None:
    st.session_state[Keys.SOURCE] = None


def _use_sample(name: str) -> None:
    st.session_state[Keys.SAMPLE] = name
    _prefer_sample()


def _forget_image_widgets() -> None:
    """A new image: custom centres and cluster choices made for the old one start afresh."""
    for key in Keys.per_image():
        st.session_state.pop(key, None)


def controls_ui(source: Source, loaded: Loaded) -> Params:
    """The clustering settings in the sidebar; every one is kept in the page's URL."""
    with st.sidebar:
        st.header("Clustering")
        links.forget_on_new_image(source.digest)  # the URL's clusters were for the old image
        # "Use k = N" (Compare tab) sets k through session state, so the slider takes no
        # default of its own (Streamlit logs a warning with a stack trace for a widget with a
        # default whose value is also set through session state): k starts in session state.
        # A bound slider without a default would take min_value for it and so leave k = 2
        # out of every link; the page keeps k in the URL itself.
        if Keys.K not in st.session_state:
            st.session_state[Keys.K] = (links.url_ints(Keys.K, K_MIN, K_MAX) or [K_DEFAULT])[0]
        k = st.slider(
            "k (number of colours)",
            K_MIN,
            K_MAX,
            key=Keys.K,
            help="How many colours the photo is reduced to.",
        )
        links.keep(Keys.K, [k], [K_DEFAULT])
        init = st.radio(
            "Initialisation",
            INITS,
            key=Keys.INIT,
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
            key=Keys.ATTEMPTS,
            bind="query-params",
            disabled=fixed or init not in ("k-means++", "random"),
            help="Independent starts; the most compact result wins. Custom centres start once.",
        )
        criteria = st.radio(
            "Stop criteria",
            CRITERIA,
            key=Keys.CRITERIA,
            bind="query-params",
            captions=CRITERIA_CAPTIONS,
            disabled=fixed,
        )
        left, right = st.columns(2)
        eps = left.number_input(
            "eps",
            0.0,
            100.0,
            0.1,
            step=0.05,
            format="%.3f",
            key=Keys.EPS,
            bind="query-params",
            disabled=fixed or criteria == "max_iter",
            help="Stop once no centre moves more than this (in the colour space's units).",
        )
        max_iter = right.number_input(
            "max_iter",
            1,
            300,
            20,
            key=Keys.MAX_ITER,
            bind="query-params",
            disabled=fixed or criteria == "eps",
            help="Most centre updates per attempt.",
        )
        space = st.radio(
            "Colour space",
            list(SPACES),
            key=Keys.SPACE,
            bind="query-params",
            captions=SPACE_CAPTIONS,
        )
        seed = st.number_input(
            "Seed",
            0,
            2**31 - 1,
            0,
            key=Keys.SEED,
            bind="query-params",
            disabled=fixed,
            help="Seeds the random starts: the same seed gives the same result.",
        )
        engine = st.radio(
            "Engine",
            list(ENGINES),
            key=Keys.ENGINE,
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
    """One colour picker per cluster, starting from the photo's colours; and "keep fixed".

    The pickers sit in a row that wraps, so they read 1..k on any screen (columns stack
    one after another on a phone: 1, 5, 9, 2, ...). Kept fixed, the settings below that
    then do nothing are disabled (controls_ui), keeping their values for later.
    """
    defaults = compute.default_centres(source.digest, k, loaded.hist)
    caption = st.empty()  # says what the colours are, once the checkbox is read
    colours = []
    with st.container(horizontal=True, wrap=True, key="centre_pickers"):
        for i in range(k):
            colours.append(
                st.color_picker(
                    f"{i + 1}",
                    defaults[i],
                    key=Keys.centre(i + 1),
                    bind="query-params",
                    width=PICKER_WIDTH,
                )
            )
    fixed = st.checkbox(
        "Keep these colours fixed",
        key=Keys.FIXED,
        bind="query-params",
        help="Map every pixel to the nearest of these colours without moving them "
        "(max_iter = 0): apply a palette as it is.",
    )
    if fixed:
        caption.caption("Colours, one per cluster.")
        st.caption(
            "With fixed colours every pixel goes to the nearest of them: no attempts, "
            "updates or seed, so those settings are off (max_iter 0 is used)."
        )
    else:
        caption.caption(
            "Starting colours for clusters 1 to k (they start from the photo's own colours)."
        )
    return tuple(c.lower() for c in colours), fixed


def opencv_gate_ui(source: Source, loaded: Loaded, params: Params) -> Params:
    """Say what an OpenCV run will cost; big ones wait for a click.

    Returns the parameters to run now: the kseg engine's while an OpenCV run waits or
    is refused. Once it may run (small enough, or started) nothing is drawn here: the
    page's caption then says cv2.kmeans made the image on show.
    """
    if params.engine != "opencv":
        return params
    seconds = opencv_estimate(loaded.hist.n_opaque, params)
    fallback = params._replace(engine="histogram")
    # The estimate is said once: the box stays small on a phone. It is fitted on an idle
    # server; runs sharing the cores took up to 3x as long (see the constants above).
    cost = (
        f"cv2.kmeans on all {loaded.hist.n_opaque:,} pixels: {k_steps(params)} passes of "
        f"{params.k} distances, about {format_seconds(seconds)} on an idle server "
        + ("(longer while it is busy, less if eps stops it sooner)." if "eps" in params.criteria
           else "(longer while it is busy).")
    )  # fmt: skip
    if seconds > OPENCV_MAX_SECONDS:
        st.warning(
            f"{cost} Too long for this shared server: the page shows kseg's result. "
            "Lower k, attempts or max_iter to run OpenCV.",
            icon=":material/hourglass_disabled:",
        )
        return fallback
    key = (source.digest, params)
    if seconds <= OPENCV_CONFIRM_SECONDS or st.session_state.get(Keys.OPENCV_OK) == key:
        return params
    st.warning(
        f"{cost} The page shows kseg's result until you start it.",
        icon=":material/hourglass_top:",
    )
    # A callback, so the rerun it starts already knows: no box, no button, cv2's result.
    st.button("Run cv2.kmeans", key=Keys.RUN_OPENCV, on_click=_start_opencv, args=(key,))
    return fallback


def _start_opencv(key: tuple[str, Params]) -> None:
    st.session_state[Keys.OPENCV_OK] = key


def opencv_estimate(n_pixels: int, params: Params) -> float:
    """Seconds cv2.kmeans may take for these parameters: its time when every attempt
    uses all its updates (eps may stop it sooner)."""
    attempts, passes = _attempts_passes(params)
    seeding = OPENCV_NS_PER_SEED * params.k if params.init == "k-means++" else 0.0
    per_attempt = passes * (OPENCV_NS_PER_PASS + OPENCV_NS_PER_DISTANCE * params.k) + seeding
    return n_pixels * (OPENCV_NS_PER_PIXEL + attempts * per_attempt) * 1e-9


def k_steps(params: Params) -> int:
    """Labelling passes over every pixel: attempts x updates per attempt."""
    attempts, passes = _attempts_passes(params)
    return attempts * passes


def _attempts_passes(params: Params) -> tuple[int, int]:
    """cv2.kmeans's attempts and most labelling passes per attempt for `params`.

    cv2.kmeans clamps a count criterion to 2..100 passes and makes eps alone 100;
    fixed custom centres (max_iter 0) are one labelling pass, no cv2.kmeans at all.
    """
    custom = not isinstance(params.init, str)
    if custom and params.max_iter == 0:
        return 1, 1
    passes = 100 if params.criteria == "eps" else min(max(params.max_iter, 2), 100)
    return (1 if custom else params.attempts), passes


@st.cache_resource(show_spinner=False)
def sample_source(name: str) -> Source:
    data = SAMPLES_BY_NAME[name].path.read_bytes()
    return Source("sample", name, compute.digest(data), data)


@st.cache_resource(show_spinner=False)
def thumbnail(name: str) -> bytes:
    image = kseg.load_image(SAMPLES_BY_NAME[name].path)
    return kseg.export.encode_jpeg(kseg.downscale(image.rgb, None, THUMB_SIDE))
