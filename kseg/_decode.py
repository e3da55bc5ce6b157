"""Pixels out of a decoded file header: modes, bit depths, EXIF orientation, frames.

`load_image` (in ``kseg._io``) opens and checks the file; everything here turns
Pillow's view of its first frame into 8-bit RGB and an opacity mask.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
import threading
from typing import IO

import cv2
import numpy as np
import PIL.Image
import PIL.ImageFile

from kseg._errors import ImageError
from kseg._image import Image, _gray_to_rgb, _none_if_all_opaque, _read_only

_ORIENTATION_TAG = 0x0112
_CONVERSION_NOTES = {
    "CMYK": "CMYK converted to RGB.",
    "YCbCr": "YCbCr converted to RGB.",
    "LAB": "LAB converted to RGB.",
    "HSV": "HSV converted to RGB.",
}
_SIXTEEN_BIT_NOTE = "16-bit image scaled to 8 bits."
DAMAGED_NOTE = "The file is damaged: part of the picture may be wrong."
_JPEG_KINDS = ("JPEG", "MPO")


def decode(header: PIL.ImageFile.ImageFile, stream: IO[bytes]) -> Image:
    kind, mode = header.format, header.mode
    # Counting frames seeks through the file and back to the first frame.
    frames = getattr(header, "n_frames", 1)
    # Read before decoding: Pillow's TIFF decoder turns a single-page image upright
    # itself, then drops the tag, and we must not turn it a second time.
    orientation, orientation_notes = _exif_orientation(header, stream)
    damaged = False
    try:
        rgb, alpha, notes = _pixels(header, stream)
    except OSError as exc:
        if kind not in _JPEG_KINDS or not str(exc).startswith("image file is truncated"):
            raise
        ended, stream = _jpeg_ended_where_it_stops(stream)
        header.close()  # and its half-decoded pixels
        header = ended
        rgb, alpha, notes = _pixels(header, stream)
        damaged = True
    if kind in _JPEG_KINDS and not damaged:
        stream.seek(0)
        damaged = _libjpeg_finds_corruption(stream.read())
    upright_already = _exif_orientation(header, stream)[0] != orientation
    header.close()  # frees Pillow's copy of the pixels before we make a turned one
    if damaged:
        notes.insert(0, DAMAGED_NOTE)
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
        damaged=damaged,
    )


def _jpeg_ended_where_it_stops(
    stream: IO[bytes],
) -> tuple[PIL.ImageFile.ImageFile, IO[bytes]]:
    """A cut-short JPEG, ended where its data stops: what libjpeg itself reads.

    Pillow refuses such a file ("image file is truncated") unless its process-wide
    LOAD_TRUNCATED_IMAGES is set, which kseg never changes. The end-of-image marker
    appended here makes libjpeg do what it does on running out of data: keep the rows
    it has and fill the rest with grey.
    """
    stream.seek(0)
    ended = io.BytesIO(stream.read() + b"\xff\xd9")
    factory, _ = PIL.Image.OPEN["JPEG"]
    return factory(ended, ""), ended


# libjpeg's warnings about the compressed data (its other warnings are about metadata).
_CORRUPTION_SIGNS = ("Corrupt JPEG data", "Premature end of JPEG file")
_EXTRANEOUS = re.compile(r"Corrupt JPEG data: (\d+) extraneous bytes before marker")
# Some encoders leave a byte or two of padding before the end marker: a quirk, not damage.
_PADDING_BYTES = 16
_STDERR_LOCK = threading.Lock()


def _libjpeg_finds_corruption(data: bytes) -> bool:
    """True if libjpeg warns that a JPEG's compressed picture data is corrupt.

    libjpeg goes on decoding past corrupt data (a garbled stretch decodes as wrong
    colours and blocks; data missing at the end as grey) and says so only in warnings
    ("Corrupt JPEG data: 1153 extraneous bytes before marker 0xd9", "... bad Huffman
    code", "... premature end of data segment"). Pillow discards them; OpenCV's
    decoder prints them on the process's standard error, so this decodes the file
    once more with OpenCV at 1/8 scale (every coefficient is still read, little is
    computed) while file descriptor 2 is redirected. Whatever else was written there
    meanwhile is written back afterwards.
    """
    try:
        with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
            saved = os.dup(2)
            try:
                os.dup2(sink.fileno(), 2)
                flags = cv2.IMREAD_REDUCED_GRAYSCALE_8 | cv2.IMREAD_IGNORE_ORIENTATION
                cv2.imdecode(np.frombuffer(data, np.uint8), flags)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            lines = sink.read().decode("ascii", "replace").splitlines()
    except (OSError, cv2.error):  # no standard error to borrow: no verdict either
        return False
    others = [line for line in lines if not line.startswith(_CORRUPTION_SIGNS)]
    if others:
        os.write(2, ("\n".join(others) + "\n").encode())
    for line in lines:
        if line.startswith(_CORRUPTION_SIGNS):
            padding = _EXTRANEOUS.match(line)
            if padding is None or int(padding.group(1)) >= _PADDING_BYTES:
                return True
    return False


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
