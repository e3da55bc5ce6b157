"""How the page writes numbers, durations and text that came from elsewhere."""

from __future__ import annotations

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
