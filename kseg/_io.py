"""Reading images: bytes, a path or a file object in, an `Image` out.

This is kseg's one door for pixels. Whatever arrives (a phone JPEG lying on its
side, a 16-bit TIFF scan, a GIF with a transparent background, or bytes that are
not an image at all) leaves either as an `Image`, an ``(H, W, 3)`` uint8 array
with an optional opacity mask, or as an `ImageError` whose message a person can
act on.

The file's content decides its format, never its name. Only JPEG, PNG, WebP,
BMP, TIFF and GIF are read; Pillow knows many more formats, but each one it
decodes is more code facing untrusted uploads.
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral
from typing import IO, Any

import numpy as np
import PIL.Image
import PIL.ImageFile

from kseg._decode import decode
from kseg._errors import ImageError
from kseg._image import Image

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_FORMATS", "load_image", "read_size"]

DEFAULT_MAX_PIXELS = 40_000_000
"""The largest image `load_image` decodes by default: 40 megapixels, about 120 MB as RGB."""

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
"""Pillow's names for the formats kseg reads (multi-picture JPEGs, "MPO", count as JPEG)."""


def load_image(source: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    """Decode an image file into RGB pixels and an opacity mask.

    Parameters
    ----------
    source : bytes, bytearray, memoryview, str, os.PathLike or binary file object
        The encoded file: its bytes, its path, or an object with ``read`` (such
        as an open ``"rb"`` file, a ``BytesIO`` or a Streamlit upload). A file
        object is read from its start and left open.
    max_pixels : int, optional
        The most pixels (width x height) to accept. Checked from the file's header
        before any pixel is decoded, so a small file that claims to be huge (a
        "decompression bomb") costs nothing. Default: `DEFAULT_MAX_PIXELS`.

    Returns
    -------
    Image
        ``rgb`` is ``(H, W, 3)`` uint8, upright (EXIF orientation applied);
        ``alpha`` marks opaque pixels, or is None when all are opaque.

    Raises
    ------
    ImageError
        If the file is missing or empty, is not an image, is an unsupported kind
        of image, is damaged or cut short beyond decoding, or has more than
        `max_pixels` pixels.
        Every failure caused by the file's bytes is an `ImageError`; the original
        exception, if any, is chained as its ``__cause__``.
    TypeError
        If `source` is none of the accepted types (e.g. an array: use
        `Image.from_array`), or a file opened in text mode.
    ValueError
        If `max_pixels` is not a positive whole number.

    Notes
    -----
    Pixels are brought to 8-bit RGB this way:

    - grayscale, 1-bit and palette images are expanded to RGB; palette or
      colour-key transparency becomes `alpha`;
    - CMYK (including Adobe's inverted CMYK JPEGs), YCbCr, LAB and HSV are
      converted to RGB by Pillow, without colour management;
    - 16-bit values ``v`` become ``round(v / 257)``, i.e.
      ``(v * 255 + 32767) // 65535``. 16-bit colour PNG and TIFF files are read
      through OpenCV to get this exactly, since Pillow keeps only the high byte;
    - 32-bit integer images are used as they are when every value is within
      0-255, scaled as 16-bit when within 0-65535, and otherwise stretched from
      their smallest to their largest value;
    - floating-point images are scaled from 0-1 when every value is within 0-1,
      and otherwise stretched from their smallest to their largest value. NaN and
      infinite pixels are treated as transparent rather than guessed at.

    Embedded colour profiles (ICC) are not applied: pixels are taken as sRGB. Only
    the first frame of an animation (or page of a multi-page TIFF) is used. The
    content decides the format, never the file name. Pillow's global settings are
    left as they are, so truncated PNG, GIF and other files stay errors rather than
    turning grey. A JPEG that is damaged but still decodes (corrupt compressed data,
    or cut short) loads as libjpeg decodes it, with ``damaged=True`` and the note "The
    file is damaged: part of the picture may be wrong."; libjpeg's warnings are the
    signal (see ``kseg._decode._libjpeg_finds_corruption``).

    Examples
    --------
    >>> from kseg.samples import sample_path
    >>> image = load_image(sample_path("coffee"))
    >>> image.shape, image.format, image.has_alpha
    ((400, 600), 'JPEG', False)
    """
    _check_max_pixels(max_pixels)
    with _binary_stream(source) as stream, _failures_as_image_errors():
        with _open_header(stream) as header:
            _check_pixel_count(header.size, max_pixels)
            return decode(header, stream)


def read_size(source: Any) -> tuple[int, int]:
    """Read an image's ``(width, height)`` from its header, without decoding it.

    Parameters
    ----------
    source : bytes, bytearray, memoryview, str, os.PathLike or binary file object
        As for `load_image`.

    Returns
    -------
    (int, int)
        ``(width, height)`` as stored, before any EXIF orientation is applied (so
        a portrait phone photo may read as landscape).

    Raises
    ------
    ImageError
        If the file is missing or empty, is not an image, is an unsupported kind
        of image, or its header is damaged.
    TypeError
        As for `load_image`.
    """
    with _binary_stream(source) as stream, _failures_as_image_errors():
        with _open_header(stream) as header:
            return header.size


_READABLE_KINDS = "kseg reads JPEG, PNG, WebP, BMP, TIFF and GIF images."
_CONVERT_ADVICE = "Convert it to PNG or JPEG first."
_DAMAGED = (
    "The image data is damaged or incomplete, so it cannot be decoded (was the download "
    "or upload cut short?). Try saving or exporting the image again."
)
# Pillow's refusals of PNG text or colour-profile chunks that inflate past its limits.
_METADATA_BOMB_SIGNS = ("Decompressed data too large", "Too much memory used in text chunks")
_METADATA_BOMB = (
    "The image's metadata (a colour profile or text stored in the file) decompresses to "
    "far more data than is safe to read. Save the image again without its metadata."
)
_DISPLAY_NAMES = {"WEBP": "WebP"}
_ORIENTATION_TAG = 0x0112
# Brands in the "ftyp" box of HEIF files holding HEVC pictures (HEIC, iPhones' default).
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}


def _check_max_pixels(max_pixels: Any) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, Integral) or max_pixels < 1:
        raise ValueError(
            f"max_pixels must be a positive whole number of pixels, got {max_pixels!r}."
        )


@contextmanager
def _binary_stream(source: Any) -> Iterator[IO[bytes]]:
    """Yield a seekable binary stream over `source`, closing it after if we opened it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fsdecode(source)
        try:
            stream = open(path, "rb")
        except FileNotFoundError as exc:
            raise ImageError(f"No file at {path}. Check the path and try again.") from exc
        except IsADirectoryError as exc:
            raise ImageError(f"{path} is a folder, not an image file.") from exc
        except PermissionError as exc:
            raise ImageError(f"Permission denied when reading {path}.") from exc
        except OSError as exc:
            raise ImageError(f"Could not open {path}: {exc.strerror or exc}.") from exc
        with stream:
            yield stream
    elif hasattr(source, "read"):
        if isinstance(source.read(0), str):
            raise TypeError("The file was opened in text mode; open it in binary mode ('rb').")
        yield _read_from_start(source)
    elif isinstance(source, np.ndarray):
        raise TypeError(
            "load_image reads encoded files (bytes, a path or a file object); for pixels "
            "already in an array, use Image.from_array(array)."
        )
    else:
        raise TypeError(
            "Expected the image as bytes, a path or a binary file object, not "
            f"{type(source).__name__}."
        )


def _read_from_start(file: Any) -> IO[bytes]:
    # From the start, even if someone read the upload before us, as Pillow does; and
    # into our own copy, because closing Pillow's image closes its stream.
    try:
        if file.seekable():
            file.seek(0)
    except (AttributeError, OSError):
        pass
    return io.BytesIO(file.read())


@contextmanager
def _failures_as_image_errors() -> Iterator[None]:
    # Pillow and the codecs under it fail on bad bytes in many ways (OSError,
    # SyntaxError, struct.error, ValueError, EOFError, MemoryError,
    # DecompressionBombError, ...): the caller should only ever see ImageError.
    try:
        yield
    except ImageError:
        raise
    except PIL.Image.DecompressionBombError as exc:
        raise ImageError(
            "Part of the image claims to be too large to decode safely (over Pillow's "
            "decompression-bomb limit). Downscale it or save it again first."
        ) from exc
    except ValueError as exc:
        if not any(sign in str(exc) for sign in _METADATA_BOMB_SIGNS):
            raise ImageError(_DAMAGED) from exc
        raise ImageError(_METADATA_BOMB) from exc
    except Exception as exc:
        raise ImageError(_DAMAGED) from exc


def _open_header(stream: IO[bytes]) -> PIL.ImageFile.ImageFile:
    """Identify the image in `stream` from its content and read its header only.

    This repeats the core of ``PIL.Image.open`` over our allow-list of formats.
    ``Image.open`` itself enforces Pillow's process-wide decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``) before we could see the size, failing without
    the dimensions for a good message, and changing that limit would change it for
    every thread in the process.
    """
    stream.seek(0)
    prefix = stream.read(16)
    if not prefix:
        raise ImageError("The file is empty.")
    header, failure = _open_as(stream, prefix, SUPPORTED_FORMATS)
    if header is not None:
        return header
    if failure is not None:
        kind, exc = failure
        raise ImageError(
            f"The file starts like a {_DISPLAY_NAMES.get(kind, kind)} image, but its header "
            "is damaged or cut short. Try saving or exporting the image again."
        ) from exc
    raise ImageError(_not_readable_message(stream, prefix))


def _open_as(
    stream: IO[bytes], prefix: bytes, formats: Any
) -> tuple[PIL.ImageFile.ImageFile | None, tuple[str, Exception] | None]:
    """Try Pillow's openers for `formats`; return the image or the last header failure."""
    PIL.Image.init()
    failure = None
    for kind in formats:
        if kind not in PIL.Image.OPEN:  # e.g. a Pillow built without WebP
            continue
        factory, accept = PIL.Image.OPEN[kind]
        # A str from accept() means "looks like this format, but Pillow can't read it".
        recognised = accept is not None and accept(prefix)
        if not recognised or isinstance(recognised, str):
            continue
        stream.seek(0)
        try:
            return factory(stream, ""), None
        except (SyntaxError, IndexError, TypeError, struct.error, EOFError, OSError) as exc:
            failure = (kind, exc)  # looked like this format, but the header did not parse
    return None, failure


def _not_readable_message(stream: IO[bytes], prefix: bytes) -> str:
    stream.seek(0)
    head = stream.read(1024)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in text:
        return (
            "This is an SVG file, which is not an image kseg can read: vector images "
            "(SVG) are not supported. Export it as a PNG first."
        )
    if head.startswith(b"%PDF-"):
        return f"This is a PDF document, an unsupported kind of file. {_CONVERT_ADVICE}"
    if _is_heic(head):
        return (
            "This is a HEIC/HEIF photo, an unsupported kind of image. HEIC photos from "
            "iPhones: choose 'Most compatible' in the camera settings (Settings > Camera > "
            "Formats) or export the photo as JPEG."
        )
    others = [kind for kind in PIL.Image.OPEN if kind not in SUPPORTED_FORMATS]
    other, _ = _open_as(stream, prefix, others)
    if other is not None:
        with other:
            kind = f"{other.format_description} ({other.format})"
        return f"This is an unsupported kind of image: {kind}. {_READABLE_KINDS} {_CONVERT_ADVICE}"
    return f"This is not a recognised image. {_READABLE_KINDS}"


def _is_heic(head: bytes) -> bool:
    if head[4:8] != b"ftyp":
        return False
    box_end = min(int.from_bytes(head[:4], "big"), len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    return bool(brands & _HEIC_BRANDS) and not brands & {b"avif", b"avis"}


def _check_pixel_count(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    n_pixels = width * height
    described = f"The image is {width} x {height} pixels ({_pixel_amount(n_pixels, up=True)})"
    if n_pixels > max_pixels:
        raise ImageError(
            f"{described}; kseg accepts at most {_pixel_amount(max_pixels)}. Downscale it first."
        )
    # Keep Pillow's own ceiling (read, never changed) for callers who raise max_pixels.
    pillow_limit = PIL.Image.MAX_IMAGE_PIXELS
    if pillow_limit is not None and n_pixels > 2 * pillow_limit:
        raise ImageError(
            f"{described}, over Pillow's decompression-bomb limit of "
            f"{_pixel_amount(2 * pillow_limit)}. Downscale it first."
        )


def _pixel_amount(n_pixels: int, *, up: bool = False) -> str:
    if n_pixels < 1_000_000:
        return f"{n_pixels:,} pixels"
    # One decimal, rounded up for the image so it never reads as equal to the limit.
    tenths = math.ceil(n_pixels / 100_000) if up else math.floor(n_pixels / 100_000)
    return f"{tenths / 10:g} megapixels"
