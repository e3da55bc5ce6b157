"""The Compare tab: the photo at several k side by side, and an elbow chart to choose k."""

from __future__ import annotations

import functools

import streamlit as st

import kseg
from kseg.dashboard import charts, compute, links
from kseg.dashboard.state import (
    COMPARE_DEFAULT,
    COMPARE_MAX,
    COMPARE_SIDE,
    ELBOW_ATTEMPTS,
    ELBOW_DEFAULT,
    K_MAX,
    K_MIN,
    Keys,
    Params,
    View,
)
from kseg.dashboard.text import transparent_note

ERROR_HELP = (
    "Mean colour error: how far, on average, a pixel's colour is from its cluster's colour "
    "(in the colour space used; lower is closer). Compactness, the k-means objective: those "
    "distances squared and added up over the photo, drawn on the elbow chart below; it always "
    "falls as k grows."
)


def render(view: View) -> None:
    st.subheader("The same photo at several k")
    chosen = compare_ks_ui()
    base = compute.comparable(view.params)
    if base.engine != view.params.engine or base.init != view.params.init:
        st.caption("Compared with the kseg engine and k-means++ starts, the same for every k.")
    if chosen:
        columns = st.columns(len(chosen))
        with st.spinner("Segmenting for each k...", show_time=True):
            # Every k at once (kseg's kernels release the GIL), then drawn in order.
            pictures = compute.in_threads(
                [functools.partial(_picture, view, base._replace(k=k)) for k in chosen]
            )
        for column, k, (seg, png) in zip(columns, chosen, pictures, strict=True):
            # "checker-" containers get the page's checkerboard (styles.py).
            with column.container(key=f"checker-compare-{k}"):
                st.image(
                    png,
                    caption=f"k = {k}, mean colour error {seg.mean_error:.1f}",
                    output_format="PNG",
                )
        st.caption(ERROR_HELP)
        share_caption = transparent_note(view.loaded.hist, "mean colour errors and compactness")
        if share_caption:
            st.caption(share_caption)
    else:
        st.info("Pick one or more values of k above.")

    st.subheader("Help in choosing k: the elbow")
    low, high = elbow_range_ui()
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
        f"Compactness (lower is closer) falls as k grows; past the elbow each extra colour "
        f"buys little. kseg suggests k = {suggested} here ({ELBOW_ATTEMPTS} attempts per k)."
    )
    st.button(
        f"Use k = {suggested}",
        key=Keys.USE_SUGGESTED,
        on_click=_set_k,
        args=(suggested,),
        disabled=suggested == view.params.k,
    )


def _picture(view: View, params: Params) -> tuple[kseg.Segmentation, bytes]:
    """The segmentation for `params` (the Segment tab's, for its k) and its picture."""
    digest, hist = view.source.digest, view.loaded.hist
    seg = compute.segmentation(digest, params, hist)
    return seg, compute.segmented_png(digest, params, COMPARE_SIDE, hist)


def compare_ks_ui() -> list[int]:
    """The values of k to compare (at most COMPARE_MAX, in increasing order), kept in the URL.

    Pills, not a multiselect: typing "2" and Enter in a multiselect selects every match
    (2, 12, 20, 21, ...). Pills have no limit of their own, so a click past the limit is
    undone by `_at_most`, which needs the widget's value set through session state: hence
    no default on the widget, the value is put in session state before it is drawn.
    """
    state = st.session_state
    if Keys.COMPARE_KS not in state:
        from_url = links.url_ints(Keys.COMPARE_KS, K_MIN, K_MAX)
        state[Keys.COMPARE_KS] = COMPARE_DEFAULT if from_url is None else from_url[:COMPARE_MAX]
    chosen = st.pills(
        "Values of k to compare",
        list(range(K_MIN, K_MAX + 1)),
        selection_mode="multi",
        key=Keys.COMPARE_KS,
        on_change=_at_most,
        args=(list(state[Keys.COMPARE_KS]),),
        help=f"Up to {COMPARE_MAX} at once, shown side by side. {ERROR_HELP}",
    )
    if state.pop(Keys.COMPARE_FULL, False):
        st.info(f"At most {COMPARE_MAX} values of k at once: remove one to add another.")
    chosen = sorted(chosen)
    links.keep(Keys.COMPARE_KS, chosen, sorted(COMPARE_DEFAULT))
    return chosen


def elbow_range_ui() -> tuple[int, int]:
    """The range of k the elbow chart covers, kept in the URL."""
    from_url = links.url_ints(Keys.ELBOW_KS, K_MIN, K_MAX)
    start = tuple(from_url) if from_url and len(from_url) == 2 else ELBOW_DEFAULT
    low, high = st.slider(
        "Range of k for the elbow chart",
        K_MIN,
        K_MAX,
        (min(start), max(start)),
        key=Keys.ELBOW_KS,
    )
    links.keep(Keys.ELBOW_KS, [low, high], list(ELBOW_DEFAULT))
    return low, high


def _at_most(before: list[int]) -> None:
    """A click that would pass COMPARE_MAX values of k is undone (and said so)."""
    state = st.session_state
    if len(state[Keys.COMPARE_KS]) > COMPARE_MAX:
        state[Keys.COMPARE_KS] = before
        state[Keys.COMPARE_FULL] = True


def _set_k(k: int) -> None:
    st.session_state[Keys.K] = k
