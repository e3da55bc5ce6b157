"""The page's own CSS, injected once per run by ``page.main`` (``st.html`` of a style
element takes no room on the page).

- A checkerboard behind every picture that can have transparent pixels, so transparency
  reads as transparency, not as the page: the containers in ``CHECKERED`` and any
  container whose key starts with ``checker-`` (the Compare tab's thumbnails).
- The Segment tab's compare control is for small screens only: on a desktop the
  original stays beside the segmented image; on a phone the control picks one picture
  in place (the segmented by default, so the result comes first) or puts the two side by
  side. The tab names its picture container ``pictures-<mode>`` for these rules.
"""

from __future__ import annotations

import streamlit as st

PHONE_MAX_WIDTH = 640  # px: where Streamlit stacks columns
CHECKER_PREFIX = "checker-"
CHECKERED = (
    "original",  # Segment tab
    "segmented",
    "isolated",  # Isolate tab
    "engine_kseg",  # Segment tab: the engines side by side
    "engine_cv2",
    "sp_superpixels",  # Superpixels tab
    "sp_segmented",
    "sp_isolated",
)
_CHECKER_SELECTOR = ", ".join(
    [f".st-key-{key} img" for key in CHECKERED] + [f'[class*="st-key-{CHECKER_PREFIX}"] img']
)

CSS = f"""
<style>
{_CHECKER_SELECTOR} {{
  background: repeating-conic-gradient(#d4d4d4 0 25%, #ffffff 0 50%) 0 0 / 16px 16px;
}}
@media (min-width: {PHONE_MAX_WIDTH + 1}px) {{
  .st-key-compare_view {{ display: none; }}
}}
@media (max-width: {PHONE_MAX_WIDTH}px) {{
  [data-testid="stMainBlockContainer"] {{ padding-top: 3.5rem; }}
  [data-testid="stMain"] h1 {{ font-size: 1.9rem; }}
  [data-testid="stMetricValue"] {{ font-size: 1.6rem; }}
  .st-key-pictures-segmented [data-testid="stColumn"]:has(.st-key-original),
  .st-key-pictures-original [data-testid="stColumn"]:has(.st-key-segmented) {{
    display: none;
  }}
  .st-key-pictures-side [data-testid="stHorizontalBlock"] {{ flex-wrap: nowrap; }}
  .st-key-pictures-side [data-testid="stColumn"] {{
    min-width: 0 !important; flex: 1 1 0 !important; width: auto !important;
  }}
}}
</style>
"""


def inject() -> None:
    """Add the page's CSS (once per run, before anything it styles)."""
    st.html(CSS)
