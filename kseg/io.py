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
from dataclasses import dataclass
from numbers import Integral
from typing import IO, Any

import cv2
import numpy as np
import PIL.Image
import PIL.ImageFile

from kseg.errors import ImageError

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_FORMATS", "Image", "load_image", "read_size"]

DEFAULT_MAX_PIXELS = 40_000_000
"""The largest image `load_image` decodes by default: 40 megapixels, about 120 MB as RGB."""

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
"""Pillow's names for the formats kseg reads (multi-picture JPEGs, "MPO", count as JPEG)."""


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
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    format: str = ""
    mode: str = "RGB"
    exif_rotated: bool = False
    frames: int = 1
    notes: tuple[str, ...] = ()

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
        of image, is damaged or cut short, or has more than `max_pixels` pixels.
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
    left as they are, so truncated files stay errors rather than turning grey.

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
            return _decode(header, stream)


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
_CONVERSION_NOTES = {
    "CMYK": "CMYK converted to RGB.",
    "YCbCr": "YCbCr converted to RGB.",
    "LAB": "LAB converted to RGB.",
    "HSV": "HSV converted to RGB.",
}
_SIXTEEN_BIT_NOTE = "16-bit image scaled to 8 bits."


def _check_max_pixels(max_pixels: Any) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, Integral) or max_pixels < 1:
        raise ValueError(
            f"max_pixels must be a positive whole number of pixels, got {max_pixels!r}."
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
            "This is a HEIC/HEIF photo, an unsupported kind of image. Export or share it "
            "as JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible)."
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


def _decode(header: PIL.ImageFile.ImageFile, stream: IO[bytes]) -> Image:
    kind, mode = header.format, header.mode
    # Counting frames seeks through the file and back to the first frame.
    frames = getattr(header, "n_frames", 1)
    # Read before decoding: Pillow's TIFF decoder turns a single-page image upright
    # itself, then drops the tag, and we must not turn it a second time.
    orientation, orientation_notes = _exif_orientation(header, stream)
    rgb, alpha, notes = _pixels(header, stream)
    upright_already = _exif_orientation(header, stream)[0] != orientation
    header.close()  # frees Pillow's copy of the pixels before we make a turned one
    if orientation != 1 and not upright_already:
        rgb = _orient(rgb, orientation)
        alpha = None if alpha is None else _orient(alpha.view(np.uint8), orientation).view(bool)
    if orientation != 1:
        notes.append("Rotated according to its EXIF orientation.")
    notes += orientation_notes
    if frames > 1:
        notes.append(_frames_note(kind, frames))
    return Image(
        rgb=_read_only(np.ascontiguousarray(rgb)),
        alpha=_read_only(_none_if_all_opaque(alpha)),
        format="JPEG" if kind == "MPO" else kind,
        mode=mode,
        exif_rotated=orientation != 1,
        frames=frames,
        notes=tuple(notes),
    )


def _pixels(
    im: PIL.Image.Image, stream: IO[bytes]
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Decode the first frame to ``(rgb, opaque mask or None, notes)``."""
    if _is_16bit_colour(im):
        pixels = _decode_16bit_colour(im, stream)
        if pixels is not None:
            return pixels
        im.load()  # Pillow keeps each sample's high byte: off by at most 1 level
        notes = [_SIXTEEN_BIT_NOTE]
    else:
        im.load()
        notes = []
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_depth_gray(im)
    if im.has_transparency_data and mode not in ("RGBA", "LA"):
        im = im.convert("RGBA")  # palette or colour-key transparency becomes a channel
        mode = "RGBA"
    if mode == "RGB":
        return _as_array(im), None, notes
    if mode == "RGBA":
        rgba = _as_array(im)
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB), rgba[:, :, 3] > 0, notes
    if mode == "LA":
        gray_alpha = _as_array(im)
        return _gray_to_rgb(gray_alpha[:, :, 0]), gray_alpha[:, :, 1] > 0, notes
    if mode == "L":
        return _gray_to_rgb(_as_array(im)), None, notes
    if mode in _CONVERSION_NOTES:
        notes.append(_CONVERSION_NOTES[mode])
    return _as_array(im.convert("RGB")), None, notes


def _as_array(im: PIL.Image.Image) -> np.ndarray:
    """``np.asarray(im)``, copied out a strip of about 1 MB at a time.

    ``np.asarray`` goes through ``im.tobytes()``, which builds the whole image as a
    list of chunks and then joins them: two temporary full-size copies. Strips
    that fit in the cache cost no extra memory and are about 3x faster.
    """
    width, height = im.size
    rows = max(1, 2**20 // (4 * width))
    first = np.asarray(im.crop((0, 0, width, min(rows, height))))
    array = np.empty((height, *first.shape[1:]), first.dtype)
    array[:rows] = first
    for top in range(rows, height, rows):
        array[top : top + rows] = np.asarray(im.crop((0, top, width, min(top + rows, height))))
    return array


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_GRAY2RGB)


def _is_16bit_colour(im: PIL.ImageFile.ImageFile) -> bool:
    """True for 16-bit-per-sample RGB(A) PNG and TIFF, which Pillow opens as 8-bit."""
    if im.mode not in ("RGB", "RGBA") or "transparency" in im.info:
        return False
    for tile in im.tile:
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _decode_16bit_colour(
    im: PIL.ImageFile.ImageFile, stream: IO[bytes]
) -> tuple[np.ndarray, np.ndarray | None, list[str]] | None:
    """Decode 16-bit RGB(A) exactly with OpenCV, or None to fall back to Pillow."""
    stream.seek(0)
    raw = stream.read()
    if im.format == "PNG" and not _png_chunks_fit(raw):
        return None  # Pillow reads what is there, or says the file is damaged
    data = np.frombuffer(raw, np.uint8)
    try:
        # IMREAD_UNCHANGED keeps 16 bits and alpha, and ignores EXIF orientation:
        # we apply that ourselves, the same way for every file.
        bgr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    channels = len(im.mode)
    if bgr is None or bgr.dtype != np.uint16 or bgr.shape != (im.height, im.width, channels):
        return None
    # Opacity from the 16-bit alpha: alpha 1..128 of 65535 would round to 0 in 8 bits.
    opaque = bgr[:, :, 3] > 0 if channels == 4 else None
    code = cv2.COLOR_BGRA2RGB if channels == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(_scale_16_to_8(bgr), code), opaque, [_SIXTEEN_BIT_NOTE]


def _png_chunks_fit(data: bytes) -> bool:
    """True if every chunk of a PNG, up to its IEND, lies within the file.

    OpenCV's PNG reader allocates what a chunk's length field claims before reading
    it: a 5 KB file whose IDAT claimed 4 GB cost 4 GB of memory and seconds.
    """
    position, end = 8, len(data)  # past the signature
    while position + 8 <= end:
        length, kind = struct.unpack_from(">I4s", data, position)
        position += 12 + length  # length and type, the data, the CRC
        if position > end:
            return False
        if kind == b"IEND":
            return True
    return False


def _scale_16_to_8(values: np.ndarray) -> np.ndarray:
    # round(v / 257) == (v * 255 + 32767) // 65535 for every 16-bit v (the tests
    # check all 65536), computed without a wide temporary array.
    return cv2.convertScaleAbs(np.asarray(values, dtype=np.uint16), alpha=1 / 257)


def _high_depth_gray(im: PIL.Image.Image) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """16-bit, 32-bit integer or floating-point gray to 8-bit RGB; see load_image's Notes."""
    values = _as_array(im)
    key = im.info.get("transparency")
    opaque = values != key if isinstance(key, int) else None
    if im.mode.startswith("I;16"):
        gray, note = _scale_16_to_8(values), _SIXTEEN_BIT_NOTE
    elif im.mode == "I":
        gray, note = _int_to_8(values)
    else:
        gray, note, finite = _float_to_8(values)
        opaque = finite if opaque is None or finite is None else opaque & finite
    return _gray_to_rgb(gray), opaque, [note]


def _int_to_8(values: np.ndarray) -> tuple[np.ndarray, str]:
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 255:
        return values.astype(np.uint8), "32-bit integer image: values within 0..255 kept."
    if low >= 0 and high <= 65535:
        note = "32-bit integer image holding 16-bit values scaled to 8 bits."
        return _scale_16_to_8(values), note
    note = f"32-bit integer image stretched from its range {low}..{high} to 0..255."
    return _stretch(values, low, high), note


def _float_to_8(values: np.ndarray) -> tuple[np.ndarray, str, np.ndarray | None]:
    """Scale floats to uint8; also return the finite-pixel mask, or None if all are finite."""
    finite = np.isfinite(values)
    if finite.all():
        finite, known = None, values
    elif finite.any():
        known = values[finite]
    else:
        raise ImageError(
            "Every pixel of this floating-point image is NaN or infinite, so there is "
            "nothing to show."
        )
    low, high = float(known.min()), float(known.max())
    if finite is not None:
        values = np.where(finite, values, low)  # placeholders, made transparent below
    if low >= 0 and high <= 1:
        gray = np.rint(values * 255).astype(np.uint8)
        note = "Floating-point image scaled from 0..1 to 0..255."
    else:
        gray = _stretch(values, low, high)
        note = f"Floating-point image stretched from its range {low:g}..{high:g} to 0..255."
    if finite is not None:
        gray[~finite] = 0
        n_unknown = np.count_nonzero(~finite)
        note += f" Its {n_unknown:,} NaN or infinite pixels are treated as transparent."
    return gray, note, finite


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map `low`..`high` (the values' own range) linearly onto 0..255."""
    if high == low:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values.astype(np.float64) - low) * (255 / (high - low))).astype(np.uint8)


def _exif_orientation(im: PIL.ImageFile.ImageFile, stream: IO[bytes]) -> tuple[int, list[str]]:
    """The EXIF orientation (1 to 8; 1 is upright) and any note about reading it."""
    try:
        if im.format == "PNG":
            # A PNG's EXIF may follow its pixels, and Pillow's getexif() would decode
            # them to get there; walking the chunks costs nothing.
            exif = PIL.Image.Exif()
            exif.load(_png_chunk_data(stream, b"eXIf"))
        else:
            exif = im.getexif()
        orientation = exif.get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block should not cost the person their pixels
        return 1, ["Its EXIF metadata is damaged, so any orientation in it was ignored."]
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        return orientation, []
    return 1, []


def _png_chunk_data(stream: IO[bytes], wanted: bytes) -> bytes:
    """The data of the first `wanted` chunk in a PNG, or b"" if it has none."""
    stream.seek(8)  # past the signature
    while len(head := stream.read(8)) == 8:
        length, kind = struct.unpack(">I4s", head)
        if kind == wanted:
            return stream.read(length)
        if kind == b"IEND":
            break
        stream.seek(length + 4, io.SEEK_CUR)  # the data and its CRC
    return b""


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF `orientation` (2 to 8) as ``PIL.ImageOps.exif_transpose`` does."""
    if orientation == 2:
        return cv2.flip(array, 1)
    if orientation == 3:
        return cv2.rotate(array, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(array, 0)
    if orientation == 5:
        return cv2.transpose(array)
    if orientation == 6:
        return cv2.rotate(array, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(array), cv2.ROTATE_180)
    return cv2.rotate(array, cv2.ROTATE_90_COUNTERCLOCKWISE)


def _frames_note(kind: str, frames: int) -> str:
    if kind == "TIFF":
        return f"Multi-page image: only the first of {frames} pages is used."
    if kind == "MPO":
        return f"Multi-picture JPEG: only the first of {frames} pictures is used."
    return f"Animated image: only the first of {frames} frames is used."
