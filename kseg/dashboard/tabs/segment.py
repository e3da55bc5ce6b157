"""The Segment tab: the original beside the segmented image, figures, palette, 3D chart.

On a phone the two pictures share one place: a control (shown on small screens only, see
``styles``) picks the segmented picture (first, by default), the original, or both side
by side.
"""

from __future__ import annotations

import streamlit as st

import kseg
from kseg.dashboard import compute, engines, links
from kseg.dashboard.state import PREVIEW_SIDE, Keys, View
from kseg.dashboard.text import error_help, format_seconds, percent, plain, transparent_share
from kseg.dashboard.widgets import centres_chart_ui, metrics_row, palette_ui, warnings_ui

COMPARE_VIEWS = {"Segmented": "segmented", "Original": "original", "Side by side": "side"}
COMPARE_DEFAULT = "Segmented"


def render(view: View) -> None:
    seg, loaded = view.seg, view.loaded
    shown = st.segmented_control(
        "Show",
        list(COMPARE_VIEWS),
        default=links.url_choice(Keys.COMPARE_VIEW, list(COMPARE_VIEWS)) or COMPARE_DEFAULT,
        required=True,
        key=Keys.COMPARE_VIEW,
        label_visibility="collapsed",
        help="Compare the result with the photo in place.",
    )
    links.keep(Keys.COMPARE_VIEW, [shown or COMPARE_DEFAULT], [COMPARE_DEFAULT])
    with st.container(key=f"pictures-{COMPARE_VIEWS.get(shown, 'segmented')}"):
        left, right = st.columns(2)
        with left.container(key="original"):
            st.image(loaded.preview, caption="Original")
            damage = loaded.image.notes[:1] if loaded.image.damaged else ()
            for note in loaded.image.notes:
                if note not in damage:  # said in a warning above the tabs
                    st.caption(plain(note))
        with right.container(key="segmented"):
            png = compute.segmented_png(view.source.digest, view.params, PREVIEW_SIDE, loaded.hist)
            st.image(png, caption=f"Segmented into {seg.k} colours", output_format="PNG")
    transparent_ui(loaded.hist)
    warnings_ui(seg)
    # The palette (340 px) beside the 3D chart on a desktop, above it on a phone; both
    # right after the pictures (which the browser draws first), before the figures.
    palette_column, chart_column = st.columns([2, 3], gap="medium")
    with palette_column.container(key="palette"):
        st.subheader("Palette")
        palette_ui(seg)
    with chart_column.container(key="centres"):
        st.subheader("Cluster centres in 3D")
        links.keep(Keys.SHOW_3D, [], [])  # from when the chart was opt-in: shown anyway now
        centres_chart_ui(seg, revision=view.source.digest)
    image = loaded.image
    metrics_row(
        [
            ("Mean colour error", f"{seg.mean_error:.1f}", error_help(seg)),
            ("Iterations", iterations_value(seg), iterations_help(seg)),
            ("k-means time", format_seconds(seg.seconds), "Time the clustering took."),
            (
                "Distinct colours",
                f"{loaded.hist.n_colors:,}",
                "Different colours among the opaque pixels: what kseg clusters, weighted.",
            ),
            ("Image size", f"{image.width:,} x {image.height:,}", "Width x height in pixels."),
        ],  # fmt: skip
        key="metrics",
    )
    engines.render(view)


def transparent_ui(hist: kseg.ColorHistogram) -> None:
    """Say how much of the photo is transparent (shown as a checkerboard), if any."""
    share = transparent_share(hist)
    if share > 0:
        st.info(
            f"{percent(share)} of this photo is transparent and is not clustered "
            "(the checkerboard shows through it).",
            icon=":material/opacity:",
        )


def iterations_value(seg: kseg.Segmentation) -> str:
    if seg.n_iter < 0:
        return "n/a"
    if seg.n_iter_total in (-1, seg.n_iter):  # not reported, or a single run
        return str(seg.n_iter)
    return f"{seg.n_iter} ({seg.n_iter_total:,} in all)"


def iterations_help(seg: kseg.Segmentation) -> str:
    if seg.n_iter < 0:
        return "Centre updates: cv2.kmeans does not report them."
    attempts = seg.params["attempts"]
    if seg.n_iter_total in (-1, seg.n_iter):
        return f"{seg.n_iter} centre updates in the winning attempt."
    return (
        f"{seg.n_iter} centre updates in the winning attempt, {seg.n_iter_total:,} over "
        f"{attempts} attempt{'s' if attempts != 1 else ''} (with many colours, k-means also "
        "runs on coarse summaries of them and refines the best: those updates count too)."
    )
