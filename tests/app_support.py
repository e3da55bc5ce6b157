"""Driving the page headless with Streamlit's AppTest: shared by the AppTest test files.

The page's caches live for the whole test session, as on a server; a test that needs a
cache miss uploads bytes no other test uses (``quadrants(tweak=...)``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import PIL.Image
import streamlit.config
from images import QUAD_COLORS, quadrants  # noqa: F401  (the AppTest files' images)
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 60  # seconds for one run of the page


def start(query: dict[str, str] | None = None, **state) -> AppTest:
    """A fresh visitor: the page run once, with `query` in the URL and `state` preset."""
    # The page's config.toml hides exception details from visitors; tests want them.
    streamlit.config.get_option("client.showErrorDetails")  # parses config.toml first
    streamlit.config.set_option("client.showErrorDetails", "full")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in state.items():
        at.session_state[key] = value
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, data: bytes, name: str = "photo.png", mime: str = "image/png") -> AppTest:
    """The visitor drops `data` on the uploader; the page reruns (not checked here).

    The page empties its uploader after each file (under a new key): use the one shown.
    """
    return at.file_uploader[0].set_value((name, data, mime)).run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def palette_hexes(at: AppTest) -> list[str]:
    """The first table's Hex column: the palette of the tab on show."""
    return at.dataframe[0].value["Hex"].tolist()


def unescape(markdown: str) -> str:
    """Text shown through Markdown, with kseg's escaping undone."""
    return re.sub(r"\\(.)", r"\1", markdown)


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


# Two discs of one colour on a background, one with a hole: a click on either must give
# that disc alone (holes filled), never both (they are the same cluster).
DISC_SIZE = (240, 160)  # width, height
DISCS = ((60, 80, 30), (170, 70, 40))  # centre x, centre y, radius
DISC_COLOUR, DISC_BACKGROUND = (230, 180, 40), (40, 60, 90)
DISC_HOLE = (178, 70, 6)  # a background-coloured hole in the second disc (x, y, radius)


def disc_mask(index: int, *, filled: bool = True) -> np.ndarray:
    """The (H, W) bool mask of disc `index` (its hole filled, or not)."""
    width, height = DISC_SIZE
    rows, cols = np.mgrid[0:height, 0:width]
    cx, cy, radius = DISCS[index]
    mask = (cols - cx) ** 2 + (rows - cy) ** 2 <= radius**2
    if index == 1 and not filled:
        hx, hy, hr = DISC_HOLE
        mask &= (cols - hx) ** 2 + (rows - hy) ** 2 > hr**2
    return mask


def two_discs() -> np.ndarray:
    """The two discs' picture, (H, W, 3) uint8."""
    width, height = DISC_SIZE
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = DISC_BACKGROUND
    rgb[disc_mask(0) | disc_mask(1, filled=False)] = DISC_COLOUR
    return rgb
