"""The Isolate tab: chosen clusters over a dimmed rest of the photo, and their mask."""

from __future__ import annotations

from kseg.dashboard import compute
from kseg.dashboard.state import PREVIEW_SIDE, View
from kseg.dashboard.widgets import isolate_ui


def render(view: View) -> None:
    hist = view.loaded.hist
    index = None
    if max(hist.shape) > PREVIEW_SIDE:
        index = compute.preview_index(view.source.digest, PREVIEW_SIDE, hist)
    isolate_ui(view.seg, view.stem, index=index)
