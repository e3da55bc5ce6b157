"""The exceptions and warnings kseg raises."""

from __future__ import annotations

__all__ = ["ImageError", "KSegWarning"]


class ImageError(ValueError):
    """An image that kseg cannot read or cannot segment.

    The message is a sentence a person can act on ("The file is empty.",
    "The image is 30000 x 30000 pixels; the limit is 40 megapixels."). It never
    repeats the uploaded bytes or the visitor's file name.
    """


class KSegWarning(UserWarning):
    """A degenerate but valid outcome, e.g. fewer distinct colours than k."""
