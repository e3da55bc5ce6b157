"""Checks on what callers pass in, shared by k-means, segmentation and superpixels.

One convention everywhere: a wrong type is a ``TypeError``, a value out of range a
``ValueError``, and pixels that cannot be used an `ImageError` (itself a
``ValueError``). Each message names the parameter, what it must be, and what came.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from kseg._errors import ImageError

__all__ = [
    "CRITERIA",
    "INITS",
    "as_rgb_alpha",
    "check_choice",
    "check_criteria",
    "check_init",
    "check_int",
    "check_number",
]

CRITERIA = ("eps+max_iter", "eps", "max_iter")
INITS = ("k-means++", "random")
EPS_ONLY_MAX_ITER = 100  # OpenCV's cap on updates when only EPS is given


def check_int(name: str, value: Any, *, low: int, high: int | None = None, hint: str = "") -> int:
    """``value`` as an int within ``low..high``: TypeError if not whole, ValueError if out.

    ``hint`` (e.g. "the approximate number of superpixels, e.g. 400") is added to
    each message in brackets.
    """
    why = f" ({hint})" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number{why}; got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be at least {low}{why}; got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}{why}; got {value}.")
    return int(value)


def check_number(
    name: str, value: Any, *, low: float = 0.0, strict: bool = False, hint: str = ""
) -> float:
    """``value`` as a finite float >= ``low`` (> ``low`` if ``strict``); ``hint`` as above."""
    why = f" ({hint})" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number{why}; got {value!r}.")
    value = float(value)
    below = value <= low if strict else value < low
    if not math.isfinite(value) or below:
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {bound}{why}; got {value}.")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices`` (compared as given, case and all)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def check_criteria(criteria: Any, max_iter: Any, eps: Any) -> tuple[int, float]:
    """OpenCV-style stop criteria -> (most updates, squared eps) for the Lloyd loop."""
    check_choice("criteria", criteria, CRITERIA)
    max_iter = check_int("max_iter", max_iter, low=0)
    eps = check_number("eps", eps)
    if criteria == "eps":
        return EPS_ONLY_MAX_ITER, eps * eps
    if criteria == "max_iter":
        return max_iter, 0.0
    return max_iter, eps * eps


def check_init(init: Any, k: int, d: int) -> np.ndarray | None:
    """None for a named start ("k-means++", "random"); given centres as (k, d) float64."""
    if isinstance(init, str):
        check_choice("init", init, INITS)
        return None
    try:
        centers = np.array(init, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"init must be one of {', '.join(INITS)} or a (k, {d}) array of centres; "
            f"got {type(init).__name__}."
        ) from err
    if centers.ndim == 1 and d == 1:
        centers = centers.reshape(-1, 1)
    if centers.shape != (k, d):
        raise ValueError(f"init centres must have shape ({k}, {d}) for k={k}; got {centers.shape}.")
    if not np.isfinite(centers).all():
        raise ValueError("init centres must be finite.")
    return np.ascontiguousarray(centers)


def as_rgb_alpha(image: Any, alpha: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The C-contiguous (H, W, 3) uint8 pixels of ``image`` and its (H, W) bool opacity.

    ``image`` is an RGB array (with ``alpha`` beside it) or anything with ``.rgb`` and
    ``.alpha`` (a kseg ``Image`` or ``ColorHistogram``). The opacity is None when every
    pixel is opaque.
    """
    if hasattr(image, "rgb") and not isinstance(image, np.ndarray):
        rgb, alpha = image.rgb, getattr(image, "alpha", None)
    else:
        rgb = image
    if not isinstance(rgb, np.ndarray):
        raise TypeError(
            "The image must be a kseg Image, a ColorHistogram or a NumPy array of shape "
            f"(height, width, 3) and dtype uint8; got {type(rgb).__name__}."
        )
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        hint = " Drop the alpha channel with rgba[..., :3]." if rgb.shape[-1:] == (4,) else ""
        raise ImageError(
            f"The image must have shape (height, width, 3) (RGB); got shape {rgb.shape}.{hint}"
        )
    if rgb.dtype != np.uint8:
        raise ImageError(
            f"The image must have dtype uint8 (values 0..255); got {rgb.dtype}. "
            "Convert floats in 0..1 with (img * 255).round().astype(np.uint8), "
            "or read files with kseg.load_image."
        )
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"The image has no pixels (its shape is {rgb.shape}).")
    rgb = np.ascontiguousarray(rgb)
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2] or alpha.dtype != bool:
            raise ImageError(
                f"The alpha mask must be a bool array of shape {rgb.shape[:2]} (True where "
                f"opaque) or None; got {alpha.dtype} of shape {alpha.shape}."
            )
        alpha = None if alpha.all() else np.ascontiguousarray(alpha)
    return rgb, alpha
