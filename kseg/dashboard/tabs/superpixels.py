"""The Superpixels tab: SLIC regions of the photo, then k-means over whole regions."""

from __future__ import annotations

import streamlit as st

import kseg
from kseg.dashboard import compute, links, server
from kseg.dashboard.state import (
    ENGINES,
    SEGMENTS_DEFAULT,
    SEGMENTS_MAX,
    SEGMENTS_MIN,
    SEGMENTS_STEP,
    SP_COMPACTNESS_DEFAULT,
    SP_COMPACTNESS_MAX,
    SP_COMPACTNESS_MIN,
    SP_COMPACTNESS_STEP,
    SP_VIEWS,
    SUPERPIXEL_SIDE,
    Keys,
    SuperpixelParams,
    View,
)
from kseg.dashboard.text import (
    CLI_ENGINE_NOTE,
    error_help,
    format_seconds,
    plain,
    transparent_note,
)
from kseg.dashboard.widgets import centres_ui, downloads_ui, isolate_ui, metrics_row, palette_ui


def render(view: View) -> None:
    """SLIC superpixels of the photo, and regions then colours: k-means over whole regions."""
    st.subheader("Superpixels, then colours")
    st.caption(
        "SLIC superpixels split the photo into small regions of similar colour that follow "
        "its edges. Regions then colours: k-means over the regions' mean colours, each "
        "weighted by its size, with the sidebar's k and settings. Every region goes whole "
        "into one colour, so the segments follow object edges instead of speckling."
    )
    sp_params, fill = superpixel_controls_ui()
    if ENGINES.get(st.session_state.get(Keys.ENGINE)) == "opencv":
        st.info(
            "The regions are clustered by kseg's engine, whatever the sidebar's engine: "
            "cv2.kmeans works on pixels and cannot weigh whole regions. The other "
            "settings are the sidebar's.",
            icon=":material/info:",
        )
    if view.params.min_region:
        st.caption(
            "The sidebar's smallest region is not applied here: every superpixel goes whole "
            "into one colour, so there are no specks to clean up."
        )
    digest = view.source.digest
    try:
        with st.spinner("Finding superpixels...", show_time=True):
            server.warm_up_superpixels()
            hist = compute.superpixel_input(digest, sp_params.side, view.loaded)
            regions = compute.superpixel_regions(digest, sp_params, hist)
            picture, picture_format = compute.superpixel_picture(digest, sp_params, fill, hist)
    except (kseg.ImageError, ValueError) as err:
        st.error(f"The superpixels could not be computed. {plain(str(err))}")
        return
    height, width = hist.shape
    left, right = st.columns(2)
    with left.container(key="sp_superpixels"):
        st.image(
            picture,
            caption=f"{regions.n_regions:,} superpixels: "
            + ("mean colours" if fill else "boundaries over the original"),
            output_format=picture_format,
        )
    # Superpixels are whole regions already: the sidebar's smallest region is not applied.
    params = view.params._replace(engine="histogram", min_region=0)
    with right.container(key="sp_segmented"):
        try:
            with st.spinner(f"Clustering the regions into {params.k} colours...", show_time=True):
                seg = compute.region_segmentation(digest, sp_params, params, hist)
                png = compute.region_segmented_png(digest, sp_params, params, hist)
        except (kseg.ImageError, ValueError) as err:
            st.error(f"This segmentation could not run. {plain(str(err))}")
            return
        st.image(
            png,
            caption=f"Regions then colours: {seg.k} colours",
            output_format="PNG",
        )
    for warning in (*regions.warnings, *seg.warnings):
        st.warning(plain(warning), icon=":material/warning:")
    size = f"{width:,} x {height:,}"
    metrics_row(
        [
            (
                "Regions",
                f"{regions.n_regions:,}",
                "Superpixels found: close to the number asked for.",
            ),
            ("Superpixel time", format_seconds(regions.seconds), f"Time SLIC took at {size} px."),
            (
                "k-means time",
                format_seconds(seg.seconds),
                "Time clustering the regions' mean colours took.",
            ),
            ("Mean colour error", f"{seg.mean_error:.1f}", error_help(seg)),
            ("Size", size, "Width x height in pixels of what the superpixels work on."),
        ],  # fmt: skip
        key="sp_metrics",
    )
    share_caption = transparent_note(hist, "the mean colour error and compactness")
    if share_caption:
        st.caption(share_caption)
    image = view.loaded.image
    if hist.shape != image.shape:
        st.caption(
            f"Superpixels, colours and files are at {size} px: the photo "
            f"({image.width:,} x {image.height:,}) scaled down, so that they follow each "
            "change in about a second."
        )
    with st.container(key="sp_palette"):
        st.subheader("Palette")
        palette_ui(seg, key_prefix=Keys.SP_PREFIX)
    with st.container(key="sp_centres"):
        centres_ui(seg, key_prefix=Keys.SP_PREFIX)
    stem = f"kseg-{view.source.name}-k{seg.k}-superpixels"
    isolate_ui(seg, stem, key_prefix=Keys.SP_PREFIX)
    st.subheader("Files of this result")
    st.caption(f"Each file is made when you click its button, at {size} px.")
    downloads_ui(seg, stem, view.source.cli_name, key_prefix=Keys.SP_PREFIX)
    st.caption(CLI_ENGINE_NOTE)


def superpixel_controls_ui() -> tuple[SuperpixelParams, bool]:
    """The superpixel settings, kept in the page's URL (see links).

    Returns the parameters and whether to fill regions with their mean colour.
    """
    from_url = links.url_number(Keys.SP_SEGMENTS, SEGMENTS_MIN, SEGMENTS_MAX, SEGMENTS_STEP)
    compactness_url = links.url_number(
        Keys.SP_COMPACTNESS, SP_COMPACTNESS_MIN, SP_COMPACTNESS_MAX, SP_COMPACTNESS_STEP
    )
    left, middle, right = st.columns(3)
    n_segments = left.slider(
        "Number of superpixels",
        SEGMENTS_MIN,
        SEGMENTS_MAX,
        SEGMENTS_DEFAULT if from_url is None else int(from_url),
        step=SEGMENTS_STEP,
        key=Keys.SP_SEGMENTS,
        help="How many regions SLIC aims for; the number found is close to it.",
    )
    compactness = middle.slider(
        "Superpixel compactness",
        SP_COMPACTNESS_MIN,
        SP_COMPACTNESS_MAX,
        SP_COMPACTNESS_DEFAULT if compactness_url is None else float(compactness_url),
        step=SP_COMPACTNESS_STEP,
        key=Keys.SP_COMPACTNESS,
        help="Higher gives squarer, more regular regions; lower follows colour edges more closely.",
    )
    shown = right.radio(
        "Show",
        SP_VIEWS,
        index=SP_VIEWS.index(links.url_choice(Keys.SP_VIEW, SP_VIEWS) or SP_VIEWS[0]),
        key=Keys.SP_VIEW,
        horizontal=True,
    )
    links.keep(Keys.SP_SEGMENTS, [int(n_segments)], [SEGMENTS_DEFAULT])
    links.keep(Keys.SP_COMPACTNESS, [float(compactness)], [SP_COMPACTNESS_DEFAULT])
    links.keep(Keys.SP_VIEW, [shown], [SP_VIEWS[0]])
    params = SuperpixelParams(int(n_segments), float(compactness), SUPERPIXEL_SIDE)
    return params, shown == SP_VIEWS[0]
