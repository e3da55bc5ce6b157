"""The exception kseg raises for images it cannot use.

The convention across the library: `ImageError` for an image that cannot be used,
``ValueError`` for a parameter value out of range, ``TypeError`` for a wrong type.
Degenerate but valid outcomes (fewer distinct colours than k) are not errors: each
result says so in its ``warnings``.
"""

from __future__ import annotations

__all__ = ["ImageError"]


class ImageError(ValueError):
    """An image that kseg cannot read or cannot segment.

    The message is a sentence a person can act on ("The file is empty.",
    "The image is 30000 x 30000 pixels; the limit is 40 megapixels."). It never
    repeats the uploaded bytes or the visitor's file name.
    """
