"""How the page writes numbers, durations and text that came from elsewhere, and the
sentences more than one tab says about a result (no Streamlit here)."""

from __future__ import annotations

import re

import kseg

_SUPERSCRIPTS = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)
_MARKDOWN_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-!|~:$=^"})


def big_number(value: float) -> str:
    """Short enough for a metric: 3 significant digits, 2.79x10^8 with a superscript."""
    if 100 <= abs(value) < 99_999.5:
        return f"{value:,.0f}"
    if value == 0 or 1e-3 <= abs(value) < 100:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}\u00d710{str(int(exponent)).translate(_SUPERSCRIPTS)}"


def tick_number(value: float) -> str:
    """An axis tick in big_number's notation without its trailing zeros: "2×10⁸", "5,000"."""
    return re.sub(r"\.0+(?=\u00d7)", "", big_number(value))


def percent(share: float) -> str:
    """A share as the page writes every share: one decimal, a space, then %: "12.3 %"."""
    return f"{share * 100:.1f} %"


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"


def plain(text: str) -> str:
    """`text` with Markdown and Streamlit directives escaped, to show it as it is."""
    return str(text).translate(_MARKDOWN_SPECIALS)


ERROR_UNITS = {
    "rgb": "RGB distance (0 to 441)",
    "lab": "delta E (CIE76; about 2.3 is just noticeable)",
    "hsv": "HSV distance (S and V in 0 to 100)",
}


def error_help(seg: kseg.Segmentation) -> str:
    """The help of a "Mean colour error": its unit, once, and the compactness behind it."""
    pixels = "opaque pixels" if transparent_share(seg.histogram) > 0 else "pixels"
    return (
        f"How far, on average, the colours of the {pixels} are from the colours of their "
        f"clusters, as {ERROR_UNITS[seg.color_space]}: lower is closer. The k-means "
        "objective, compactness (the sum of squared distances over all those pixels), is "
        f"{big_number(seg.compactness)}."
    )


def transparent_share(hist: kseg.ColorHistogram) -> float:
    """The share of the photo's pixels that are transparent (0 when it has no alpha)."""
    height, width = hist.shape
    return 1 - hist.n_opaque / max(height * width, 1) if hist.alpha is not None else 0.0


def transparent_note(hist: kseg.ColorHistogram, what: str) -> str | None:
    """ "40.0 % of this photo is transparent: <what> are of the opaque pixels", or None."""
    share = transparent_share(hist)
    if share <= 0:
        return None
    return (
        f"{percent(share)} of this photo is transparent (the checkerboard): {what} are of "
        "the opaque pixels only."
    )


CLI_ENGINE_NOTE = "On the command line kseg's engine is called `histogram`."
