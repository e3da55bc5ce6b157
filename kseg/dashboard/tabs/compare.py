"""The Compare tab: the photo at several k side by side, and an elbow chart to choose k."""

from __future__ import annotations

import streamlit as st

import kseg
from kseg.dashboard import charts, compute
from kseg.dashboard.state import (
    COMPARE_DEFAULT,
    COMPARE_SIDE,
    ELBOW_ATTEMPTS,
    ELBOW_DEFAULT,
    K_MAX,
    K_MIN,
    Keys,
    View,
)
from kseg.dashboard.text import big_number


def render(view: View) -> None:
    st.subheader("The same photo at several k")
    chosen = st.multiselect(
        "Values of k to compare",
        list(range(K_MIN, K_MAX + 1)),
        default=COMPARE_DEFAULT,
        key=Keys.COMPARE_KS,
        max_selections=6,
    )
    base = compute.comparable(view.params)
    if base.engine != view.params.engine or base.init != view.params.init:
        st.caption("Compared with the kseg engine and k-means++ starts, the same for every k.")
    if chosen:
        columns = st.columns(len(chosen))
        with st.spinner("Segmenting for each k...", show_time=True):
            for column, k in zip(columns, sorted(chosen), strict=True):
                params = base._replace(k=k)
                seg = compute.segmentation(view.source.digest, params, view.loaded.hist)
                png = compute.segmented_png(
                    view.source.digest, params, COMPARE_SIDE, view.loaded.hist
                )
                column.image(
                    png,
                    caption=f"k = {k}, compactness {big_number(seg.compactness)}",
                    output_format="PNG",
                )
    else:
        st.info("Pick one or more values of k above.")

    st.subheader("Help in choosing k: the elbow")
    low, high = st.slider(
        "Range of k for the elbow chart", K_MIN, K_MAX, ELBOW_DEFAULT, key=Keys.ELBOW_KS
    )
    if high - low < 2:
        st.info("Pick a range of at least three values of k.")
        return
    with st.spinner("Segmenting for every k in the range...", show_time=True):
        curve = compute.elbow_curve(
            view.source.digest, (low, high), base.color_space, base.seed, view.loaded.hist
        )
    suggested = kseg.suggest_k(curve)
    st.plotly_chart(
        charts.elbow_chart(curve, view.params.k, suggested),
        key=Keys.ELBOW_CHART,
        config={"displaylogo": False},
    )
    st.caption(
        f"Compactness falls as k grows; past the elbow each extra colour buys little. "
        f"kseg suggests k = {suggested} here ({ELBOW_ATTEMPTS} attempts per k)."
    )
    st.button(
        f"Use k = {suggested}",
        key=Keys.USE_SUGGESTED,
        on_click=_set_k,
        args=(suggested,),
        disabled=suggested == view.params.k,
    )


def _set_k(k: int) -> None:
    st.session_state[Keys.K] = k
