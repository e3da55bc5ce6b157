"""Settings the page keeps in its URL itself: every setting drawn inside a tab.

Streamlit drops a bound widget's (bind="query-params") parameter from the URL whenever the
widget is not drawn, and the page draws only the open tab, and a 3D chart's toggles only
while its expander is open: a bound widget there would vanish from every link made
elsewhere and start over on each return. So no widget of a tab is bound: each setting is
written to ``st.query_params`` whenever its widget is drawn (``keep``) and stays in the URL
while it is not; its widget starts from the URL whenever it is drawn anew. Only the
sidebar's widgets and the tabs themselves, always drawn, are bound.

Their parameter names are their widget keys (``Keys``), as when they were bound, so old
links still work. Clusters are written as the numbers people read, 1..k; several values
repeat the parameter (``?compare_ks=3&compare_ks=8``); an empty choice is an empty value
(``?isolate=``); the rest are written as bound widgets wrote them: ``?show_3d=true``,
``?sp_compactness=20``, ``?sp_view=Boundaries over the original``. A default value is left
out of the URL. Picks are full-resolution points ``x,y``, one parameter each, in the order
they were made (``?pick=120,45&pick=300,200``; ``?pick=120,45;300,200`` is read too).
"""

from __future__ import annotations

import math
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


def url_points(key: str, most: int) -> tuple[list[tuple[int, int]], int]:
    """The URL's points ``x,y`` for `key`, in order (at most `most`), and how many of its
    values were not two whole numbers (those are left out).

    Whether a point is on the image is for kseg to say: it knows the image.
    """
    points: list[tuple[int, int]] = []
    malformed = 0
    for raw in st.query_params.get_all(key):
        for text in raw.split(";"):
            if not text.strip():
                continue
            x, comma, y = text.partition(",")
            try:
                if not comma:
                    raise ValueError
                points.append((int(x), int(y)))
            except ValueError:
                malformed += 1
    return points[:most], malformed


def point_texts(points: Sequence[tuple[int, int]]) -> list[str]:
    """Points as the URL holds them: ``["120,45", "300,200"]``."""
    return [f"{x},{y}" for x, y in points]


def url_choice(key: str, options: Sequence[str]) -> str | None:
    """The URL's value for `key` if it is one of `options`, else None."""
    raw = st.query_params.get_all(key)
    return raw[0] if len(raw) == 1 and raw[0] in options else None


def url_number(key: str, low: float, high: float, step: float) -> float | None:
    """The URL's number for `key` within [low, high], on the grid low + n * step, else None.

    A number between two steps goes to the nearer one (as a slider would show it).
    """
    raw = st.query_params.get_all(key)
    try:
        number = float(raw[0]) if len(raw) == 1 else math.nan
    except ValueError:
        return None
    if not low <= number <= high:  # also refuses nan
        return None
    return min(high, low + round((number - low) / step) * step)


def url_bool(key: str) -> bool | None:
    """The URL's ``true`` or ``false`` for `key` (any case, as Streamlit writes them), else None."""
    raw = [text.lower() for text in st.query_params.get_all(key)]
    return {"true": True, "false": False}.get(raw[0]) if len(raw) == 1 else None


def _text(value: object) -> str:
    """`value` as the URL shows it, as Streamlit's bound widgets wrote it: true, 20, 12.5."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def keep(key: str, values: Sequence[object], default: Sequence[object]) -> None:
    """Write `values` to the URL as `key`; a default value leaves the URL without it."""
    wanted = [] if list(values) == list(default) else [_text(v) for v in values] or [""]
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
