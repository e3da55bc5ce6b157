"""Settings the page keeps in its URL itself, beside the widgets bound with bind="query-params".

Streamlit drops a bound widget's parameter from the URL whenever the widget is not drawn, and
the page draws only the open tab: a bound widget of the Compare or Isolate tab would vanish
from every link made on another tab and start over on each return to its tab. The settings
here are written to ``st.query_params`` whenever their widget is drawn (``keep``) and stay in
the URL while it is not; their widget starts from the URL whenever it is drawn anew.

Their parameter names are their widget keys (``Keys``), like the bound widgets'. Clusters are
written as the numbers people read, 1..k; several values repeat the parameter
(``?compare_ks=3&compare_ks=8``); an empty choice is an empty value (``?isolate=``).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from kseg.dashboard.state import Keys


def url_ints(key: str, low: int, high: int) -> list[int] | None:
    """The URL's whole numbers for `key` within [low, high], in order, without repeats.

    ``[]`` when the URL says "none" (``?key=``); None when it has no usable value.
    """
    raw = st.query_params.get_all(key)
    if raw == [""]:
        return []
    values: list[int] = []
    for text in raw:
        try:
            number = int(text)
        except ValueError:
            continue
        if low <= number <= high and number not in values:
            values.append(number)
    return values or None


def url_choice(key: str, options: Sequence[str]) -> str | None:
    """The URL's value for `key` if it is one of `options`, else None."""
    raw = st.query_params.get_all(key)
    return raw[0] if len(raw) == 1 and raw[0] in options else None


def keep(key: str, values: Sequence[object], default: Sequence[object]) -> None:
    """Write `values` to the URL as `key`; a default value leaves the URL without it."""
    wanted = [] if list(values) == list(default) else [str(v) for v in values] or [""]
    if st.query_params.get_all(key) == wanted:
        return  # writing the same again would still send the browser a message
    if wanted:
        st.query_params[key] = wanted
    elif key in st.query_params:
        del st.query_params[key]


def forget_on_new_image(digest: str) -> None:
    """A new image: the URL's per-image settings (the chosen clusters) were for the old one.

    The first run of a session keeps them: they came with the link, for the image it names.
    """
    state = st.session_state
    shown = state.get(Keys.LINK_DIGEST)
    if shown is not None and shown != digest:
        for key in Keys.per_image_in_url():
            if key in st.query_params:
                del st.query_params[key]
    state[Keys.LINK_DIGEST] = digest
