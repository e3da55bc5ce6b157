"""The Downloads tab: every file of the result, and the command line that makes it again."""

from __future__ import annotations

import streamlit as st

from kseg.dashboard.state import View
from kseg.dashboard.text import CLI_ENGINE_NOTE
from kseg.dashboard.widgets import downloads_ui


def render(view: View) -> None:
    st.subheader("Files of this result")
    st.caption("Each file is made when you click its button, at the photo's full resolution.")
    downloads_ui(view.seg, view.stem, view.source.cli_name)
    if view.seg.params["engine"] == "histogram":
        st.caption(CLI_ENGINE_NOTE)
