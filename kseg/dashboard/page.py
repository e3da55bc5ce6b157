"""The page frame: its config and title, the sidebar, the segmentation, the list of tabs.

A rerun reads the sidebar's plain values, fetches (or computes) the cached results
in kseg.dashboard.compute, and draws only the open tab: hidden tabs do not run.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

import kseg
from kseg.dashboard import compute, engines, server, sidebar, styles
from kseg.dashboard.state import Keys, View
from kseg.dashboard.tabs import compare, downloads, isolate, segment, superpixels
from kseg.dashboard.text import plain

# The page's own session key (the others are in state.Keys): set in a session's first run.
SESSION_SEEN = "session_seen"

# The tabs in order. Add a tab by adding a module with render(view) and a pair here.
TABS: list[tuple[str, Callable[[View], None]]] = [
    ("Segment", segment.render),
    ("Compare", compare.render),
    ("Isolate", isolate.render),
    ("Downloads", downloads.render),
    ("Superpixels", superpixels.render),
]


def run() -> None:
    """One run of the page, then the memory it freed goes back to the system."""
    try:
        main()
    finally:
        server.give_back_memory()


def main() -> None:
    moved = _moved_here()
    st.set_page_config(
        page_title="kseg: k-means colour segmentation",
        page_icon=":material/palette:",
        layout="wide",
        initial_sidebar_state="auto",  # open on a desktop, closed on a phone
    )
    styles.inject()
    st.title("kseg: colour segmentation by k-means")
    st.caption(
        "Groups the pixels of a photo into k colours. Upload a photo or pick a sample in "
        "the sidebar, then change k and the other settings: the result follows at once."
    )
    if moved is not None:
        _moved_notice(moved)
    with st.spinner("Starting the k-means engine (once per server)..."):
        server.warm_up()

    source = sidebar.image_ui()
    with st.spinner("Reading the photo..."):
        loaded = compute.load(source.digest, source.data)  # a cache hit unless evicted
    sidebar.describe_source(source, loaded.image)
    params = sidebar.controls_ui(source, loaded)
    params = sidebar.opencv_gate_ui(source, loaded, params)
    doing = f"Segmenting into {params.k} colours..."
    if params.engine == "opencv":
        doing = f"cv2.kmeans is segmenting every pixel into {params.k} colours..."
    try:
        with st.spinner(doing, show_time=True):
            try:
                seg = compute.segmentation(source.digest, params, loaded.hist)
            except server.OpenCVUnavailable as busy:
                st.warning(
                    f"{busy} The page shows the kseg engine's result.",
                    icon=":material/hourglass_disabled:",
                )
                params = params._replace(engine="histogram")
                seg = compute.segmentation(source.digest, params, loaded.hist)
    except (kseg.ImageError, ValueError) as err:
        st.error(f"This segmentation could not run. {plain(str(err))}")
        st.stop()
    # The View's engine is the one that made seg, whatever fell back on the way.
    params = params._replace(engine=seg.params["engine"])
    engines.made_by_ui(seg)
    view = View(source, loaded, params, seg)

    tabs = st.tabs([name for name, _ in TABS], key=Keys.TAB, bind="query-params")
    for tab, (_, render) in zip(tabs, TABS, strict=True):
        if tab.open is not False:
            with tab:
                render(view)


def _moved_here() -> str | None:
    """Whether this session took over a page that another server process was showing.

    Behind a load balancer (deploy/), a visitor whose replica stops is sent to another
    one: the browser reconnects and its next run starts a new session there, with the
    widget values the page showed but none of the old session's state (an uploaded
    photo lived there). A page opened afresh sends no widget values with its first run.
    Returns None (not moved, or not the session's first run), "upload" when the old
    session had taken an upload, "settings" otherwise. Call it before any widget.
    """
    state = st.session_state
    if SESSION_SEEN in state:
        return None
    state[SESSION_SEEN] = True
    try:  # Streamlit keeps the values the browser sent by widget id until widgets claim them
        from streamlit.elements.lib.utils import user_key_from_element_id
        from streamlit.runtime.state import get_session_state

        ids = list(get_session_state()._state._new_widget_state.states)  # noqa: SLF001
    except (ImportError, AttributeError):
        return None
    keys = {key for key in map(user_key_from_element_id, ids) if key}
    if not keys:
        return None
    # The uploader's key changes with each file taken over (sidebar._uploader_key).
    return "upload" if any(key.startswith(f"{Keys.UPLOAD}-") for key in keys) else "settings"


def _moved_notice(moved: str) -> None:
    """Tell a visitor moved to this server what was lost: said once, in the first run."""
    if moved == "upload":
        st.warning(
            "**The server this page ran on has stopped, and your photo with it: upload it "
            "again** in the sidebar to go on. The page now runs on another server and shows a "
            "sample photo until then. Your settings are kept (make your last change again if "
            "it did not apply).",
            icon=":material/cloud_off:",
        )
    else:
        # Short: a toast cuts longer text behind "view more".
        st.toast(
            "The page moved to another server (the one it ran on stopped). Your settings are kept.",
            icon=":material/sync:",
        )
