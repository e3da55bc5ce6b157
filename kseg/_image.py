"""Decoded pixels: the `Image` type that every other part of kseg reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from kseg._errors import ImageError

__all__ = ["Image"]


@dataclass(frozen=True, eq=False)
class Image:
    """A decoded image: its RGB pixels and which of them are opaque.

    Make one with `load_image` (from a file) or `Image.from_array` (from pixels
    already in memory). Both return read-only arrays, so one `Image` can be cached
    and shared safely; copy an array before changing it.

    Attributes
    ----------
    rgb : (H, W, 3) uint8 ndarray
        The pixels, C-contiguous.
    alpha : (H, W) bool ndarray or None
        True where the pixel is opaque (its alpha is above 0, so half-transparent
        pixels count as opaque and keep their colour). None when every pixel is
        opaque. Transparent pixels keep whatever colour the file stored: ignore them.
    format : str
        Pillow's name for the file's format, read from its content: "JPEG", "PNG",
        "WEBP", "BMP", "TIFF" or "GIF". Empty for an image made from an array.
    mode : str
        Pillow's mode for the pixels as stored, before conversion to RGB: "RGB",
        "RGBA", "P", "L", "LA", "1", "I;16", "I", "F", "CMYK", ... A 16-bit colour
        PNG or TIFF reports "RGB" or "RGBA", as Pillow does, and says so in `notes`.
    exif_rotated : bool
        True if the pixels were rotated or flipped to follow an EXIF orientation
        other than 1 ("upright").
    frames : int
        Frames (or pages) in the file. Only the first is used when there are more.
    notes : tuple of str
        Plain-English sentences on what was done to the pixels, for showing to the
        person who supplied the image, e.g. "16-bit image scaled to 8 bits.".
    damaged : bool
        True if the file is damaged but decoded anyway: a JPEG whose compressed data
        is corrupt (part of the picture decodes as wrong colours or blocks) or cut
        short (the missing rows are grey). `notes` then starts with "The file is
        damaged: part of the picture may be wrong."
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    format: str = ""
    mode: str = "RGB"
    exif_rotated: bool = False
    frames: int = 1
    notes: tuple[str, ...] = ()
    damaged: bool = False

    def __post_init__(self) -> None:
        rgb, alpha = self.rgb, self.alpha
        if not (
            isinstance(rgb, np.ndarray)
            and rgb.dtype == np.uint8
            and rgb.ndim == 3
            and rgb.shape[2] == 3
            and rgb.flags.c_contiguous
        ):
            raise ImageError(
                "Image.rgb must be a C-contiguous (H, W, 3) uint8 array; use "
                "Image.from_array to build an Image from other arrays."
            )
        if rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise ImageError(f"The image has no pixels (its shape is {rgb.shape}).")
        if alpha is not None and not (
            isinstance(alpha, np.ndarray)
            and alpha.dtype == np.bool_
            and alpha.shape == rgb.shape[:2]
        ):
            raise ImageError(
                f"Image.alpha must be None or an (H, W) = {rgb.shape[:2]} bool array; use "
                "Image.from_array to build an Image from other arrays."
            )

    @property
    def height(self) -> int:
        """Rows of pixels."""
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        """Columns of pixels."""
        return self.rgb.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``, the order NumPy indexes the pixels in."""
        return self.rgb.shape[:2]

    @property
    def n_pixels(self) -> int:
        """``height * width``."""
        return self.height * self.width

    @property
    def has_alpha(self) -> bool:
        """True if some pixels are transparent (then `alpha` is not None)."""
        return self.alpha is not None

    def __repr__(self) -> str:
        return (
            f"Image({self.width} x {self.height}, format={self.format!r}, mode={self.mode!r}, "
            f"has_alpha={self.has_alpha}, frames={self.frames})"
        )

    @classmethod
    def from_array(cls, array: Any, alpha: Any = None) -> Image:
        """Make an `Image` from pixels already in memory.

        Parameters
        ----------
        array : (H, W, 3), (H, W, 4) or (H, W) uint8 array_like
            RGB, RGBA or grayscale pixels. It is copied, never modified. With four
            channels the fourth is alpha: a pixel is opaque where it is above 0.
        alpha : (H, W) bool or uint8 array_like, optional
            Opacity for a 3-channel or grayscale `array`: True, or above 0, where
            the pixel is opaque.

        Returns
        -------
        Image
            With ``format=""``, ``mode`` "RGB", "RGBA" or "L" after the input, and
            ``alpha=None`` when every pixel is opaque.

        Raises
        ------
        ImageError
            If `array` is not uint8, has another shape or no pixels, or if `alpha`
            does not match it or is given alongside a fourth channel.

        Examples
        --------
        >>> import numpy as np
        >>> image = Image.from_array(np.zeros((2, 3, 4), np.uint8))
        >>> image.shape, image.mode, image.alpha.any()
        ((2, 3), 'RGBA', np.False_)
        """
        pixels = np.asarray(array)
        _check_pixel_array(pixels)
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = pixels[:, :, 0]
        if pixels.ndim == 2:
            mode, rgb = "L", _gray_to_rgb(pixels)
        elif pixels.shape[2] == 3:
            mode, rgb = "RGB", np.array(pixels, order="C", copy=True)
        else:
            if alpha is not None:
                raise ImageError(
                    "The array already has an alpha channel (its fourth); pass alpha "
                    "either as that channel or as the alpha argument, not both."
                )
            mode, rgb = "RGBA", np.array(pixels[:, :, :3], order="C", copy=True)
            alpha = pixels[:, :, 3]
        opaque = None if alpha is None else _alpha_mask(alpha, rgb.shape[:2])
        return cls(
            rgb=_read_only(rgb),
            alpha=_read_only(_none_if_all_opaque(opaque)),
            format="",
            mode=mode,
        )


def _check_pixel_array(pixels: np.ndarray) -> None:
    shape = pixels.shape
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and shape[2] not in (1, 3, 4)):
        raise ImageError(
            "Expected an (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grayscale array, "
            f"got shape {shape}."
        )
    if pixels.dtype != np.uint8:
        raise ImageError(
            f"Expected uint8 pixels (0-255), got {pixels.dtype}. Convert first, e.g. "
            "(array * 255).round().astype(np.uint8) for floats within 0-1."
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ImageError(f"The image has no pixels (its shape is {shape}).")


def _alpha_mask(alpha: Any, shape: tuple[int, int]) -> np.ndarray:
    values = np.asarray(alpha)
    if values.shape != shape:
        raise ImageError(f"alpha must have the image's shape (H, W) = {shape}, got {values.shape}.")
    if values.dtype != np.bool_ and values.dtype != np.uint8:
        raise ImageError(
            f"alpha must be bool (True where opaque) or uint8 (above 0 where opaque), "
            f"got {values.dtype}."
        )
    return values > 0


def _none_if_all_opaque(opaque: np.ndarray | None) -> np.ndarray | None:
    return None if opaque is None or opaque.all() else opaque


def _read_only(array: np.ndarray | None) -> Any:
    if array is not None:
        array.flags.writeable = False
    return array


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_GRAY2RGB)
