"""Which engine made the image on show, and kseg's engine beside cv2.kmeans.

``made_by_ui`` is the page's one line on that; ``render(view)`` is the side-by-side
panel, drawn once cv2.kmeans has made the image on show. Neither starts a cv2.kmeans
run: the sidebar's gate (``sidebar.opencv_gate_ui``) decides that, with the visitor.
"""

from __future__ import annotations

import streamlit as st

import kseg
from kseg.dashboard import compute
from kseg.dashboard.state import COMPARE_SIDE, View
from kseg.dashboard.text import big_number, format_seconds, percent

ENGINE_NAMES = {"histogram": "kseg's engine", "opencv": "cv2.kmeans"}


def made_by(seg: kseg.Segmentation) -> str:
    """ "Made by cv2.kmeans in 2.4 s", from the result itself (never from a widget)."""
    return f"Made by {ENGINE_NAMES[seg.params['engine']]} in {format_seconds(seg.seconds)}."


def made_by_ui(seg: kseg.Segmentation) -> None:
    st.caption(made_by(seg), help=_MADE_BY_HELP[seg.params["engine"]])


_MADE_BY_HELP = {
    "histogram": "kseg's engine clusters the photo's distinct colours, each weighted by "
    "its pixel count: the same objective as cv2.kmeans on every pixel.",
    "opencv": "cv2.kmeans on every opaque pixel, as the classic OpenCV recipe does. The "
    "Segment tab compares it with kseg's engine on the same settings.",
}


def render(view: View) -> None:
    """kseg and cv2.kmeans on the same settings: times, compactness, pictures, pixels."""
    if view.seg.params["engine"] != "opencv":
        return  # cv2.kmeans has not run for these settings; the gate says why
    digest, hist = view.source.digest, view.loaded.hist
    ours_params = view.params._replace(engine="histogram")
    ours = compute.segmentation(digest, ours_params, hist)
    theirs = view.seg
    differ = compute.engine_difference(digest, view.params, ours, theirs)
    n_opaque = hist.n_opaque
    with st.container(key="engines"):
        st.subheader("kseg and cv2.kmeans, side by side", anchor=False)
        st.caption(
            "The same k, starts, attempts, stop criteria, colour space and seed. kseg's "
            "engine clusters the distinct colours (counted once when the photo was read), "
            "cv2.kmeans every pixel."
        )
        left, right = st.columns(2)
        for column, params, seg, key in (
            (left, ours_params, ours, "engine_kseg"),
            (right, view.params, theirs, "engine_cv2"),
        ):
            with column.container(key=key):
                png = compute.segmented_png(digest, params, COMPARE_SIDE, hist)
                st.image(png, caption=made_by(seg), output_format="PNG")
        share = differ / max(n_opaque, 1)
        _metrics(
            [
                ("kseg time", format_seconds(ours.seconds), _KSEG_TIME_HELP),
                ("cv2.kmeans time", format_seconds(theirs.seconds), _CV2_TIME_HELP),
                ("Time ratio", _ratio(theirs.seconds, ours.seconds), _TIME_RATIO_HELP),
                ("kseg compactness", big_number(ours.compactness), _COMPACTNESS_HELP),
                ("cv2.kmeans compactness", big_number(theirs.compactness), _COMPACTNESS_HELP),
                (
                    "Compactness ratio",
                    _compactness_ratio(ours.compactness, theirs.compactness),
                    _COMPACTNESS_RATIO_HELP,
                ),
                ("Pixels that differ", f"{differ:,}", _DIFFER_HELP),
                ("Share that differs", percent(share), f"Of {n_opaque:,} pixels. {_DIFFER_HELP}"),
            ]
        )


_KSEG_TIME_HELP = "kseg.segment with the kseg engine: its k-means over the distinct colours."
_CV2_TIME_HELP = "kseg.segment with the opencv engine: cv2.kmeans on every opaque pixel."
_TIME_RATIO_HELP = "cv2.kmeans time / kseg time: how many times longer cv2.kmeans took."
_COMPACTNESS_HELP = (
    "Sum of squared distances from each opaque pixel to its cluster's centre, in float64 "
    "and the colour space used. Lower is tighter."
)
_COMPACTNESS_RATIO_HELP = "kseg compactness / cv2.kmeans compactness: below 1, kseg's is tighter."
_DIFFER_HELP = (
    "Opaque pixels in another cluster. The engines number their clusters differently, so "
    "each cv2.kmeans cluster is matched to the kseg cluster whose centre colour (RGB) is "
    "nearest; a pixel differs when its kseg cluster is not the match of its cv2.kmeans one."
)


def _metrics(metrics: list[tuple[str, str, str]]) -> None:
    """Bordered figures as in widgets.metrics_row, wide enough for these longer labels."""
    with st.container(horizontal=True, wrap=True, key="engine_metrics"):
        for label, value, help_text in metrics:
            st.metric(label, value, help=help_text, border=True, width=210)


def _ratio(numerator: float, denominator: float) -> str:
    if denominator <= 0:
        return "n/a"
    ratio = numerator / denominator
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def _compactness_ratio(ours: float, theirs: float) -> str:
    if theirs <= 0:
        return "1 (both 0)" if ours <= 0 else "n/a"
    return f"{ours / theirs:#.3g}"  # 3 significant digits, trailing zeros kept: "1.00"
