"""The Segment tab: the original beside the segmented image, figures, palette, 3D centres."""

from __future__ import annotations

import streamlit as st

from kseg.dashboard import compute, engines
from kseg.dashboard.state import PREVIEW_SIDE, View
from kseg.dashboard.text import big_number, format_seconds, plain
from kseg.dashboard.widgets import centres_ui, metrics_row, palette_ui, warnings_ui


def render(view: View) -> None:
    seg, loaded = view.seg, view.loaded
    left, right = st.columns(2)
    with left.container(key="original"):
        st.image(loaded.preview, caption="Original")
        for note in loaded.image.notes:
            st.caption(plain(note))
    with right.container(key="segmented"):
        png = compute.segmented_png(view.source.digest, view.params, PREVIEW_SIDE, loaded.hist)
        st.image(png, caption=f"Segmented into {seg.k} colours", output_format="PNG")
    warnings_ui(seg)
    image = loaded.image
    metrics_row(
        [
            (
                "Compactness",
                big_number(seg.compactness),
                "Sum of squared distances from each pixel to its cluster's centre, in the colour "
                "space used (cv2.kmeans's compactness). Lower is tighter.",
            ),
            (
                "Iterations",
                str(seg.n_iter) if seg.n_iter >= 0 else "n/a",
                "Centre updates of the winning attempt (cv2.kmeans does not report them).",
            ),
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
    with st.container(key="palette"):
        st.subheader("Palette")
        palette_ui(seg)
    with st.container(key="centres"):
        centres_ui(seg)
    engines.render(view)
