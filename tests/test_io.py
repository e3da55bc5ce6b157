"""Tests for kseg.io: every file is made here, with Pillow, NumPy or OpenCV."""

from __future__ import annotations

import gc
import io
import struct
import sys
import time
import tracemalloc
import warnings
import zlib

import cv2
import images
import numpy as np
import PIL.Image
import PIL.ImageFile
import PIL.ImageOps
import pytest

import kseg._decode
from kseg import DEFAULT_MAX_PIXELS, SUPPORTED_FORMATS, Image, ImageError, load_image, read_size
from kseg.samples import SAMPLES, sample_path

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


def encode(image: PIL.Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def quadrants(size: int = 16) -> PIL.Image.Image:
    """Red, green / blue, yellow quadrants, each size x size (images.quadrants, as Pillow's)."""
    pixels = images.quadrants(
        2 * size, 2 * size, split=(size, size), colours=(RED, GREEN, BLUE, YELLOW)
    )
    return PIL.Image.fromarray(pixels)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit RGB pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3 * min(width, 64))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def assert_valid(image: Image) -> None:
    assert image.rgb.dtype == np.uint8
    assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3
    assert image.rgb.flags.c_contiguous
    if image.alpha is not None:
        assert image.alpha.dtype == np.bool_ and image.alpha.shape == image.shape
        assert not image.alpha.all()


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "tolerance"),
    [
        ("JPEG", {"quality": 95}, 12),
        ("PNG", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("GIF", {}, 0),
    ],
)
def test_each_format_loads_with_known_colours(kind, options, tolerance):
    image = load_image(encode(quadrants(), kind, **options))
    assert_valid(image)
    assert image.format == kind
    assert image.shape == (32, 32) and (image.height, image.width) == (32, 32)
    assert image.n_pixels == 32 * 32
    assert image.alpha is None and not image.has_alpha
    assert image.frames == 1 and not image.exif_rotated
    centres = image.rgb[[8, 8, 24, 24], [8, 24, 8, 24]].astype(int)
    assert np.abs(centres - [RED, GREEN, BLUE, YELLOW]).max() <= tolerance


def test_supported_formats_are_pillows_names():
    assert SUPPORTED_FORMATS == ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


def test_content_decides_the_format_not_the_name(tmp_path):
    path = tmp_path / "holiday.png"
    path.write_bytes(encode(quadrants(), "JPEG"))
    assert load_image(path).format == "JPEG"


# --- sources ------------------------------------------------------------------------------


class ReadOnlyStream:
    """A file-like object that can only be read forwards, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def seekable(self) -> bool:
        return False


@pytest.mark.parametrize(
    "wrap",
    [bytes, bytearray, memoryview, io.BytesIO, ReadOnlyStream],
    ids=["bytes", "bytearray", "memoryview", "BytesIO", "unseekable"],
)
def test_sources_in_memory(wrap):
    image = load_image(wrap(encode(quadrants(), "PNG")))
    assert image.rgb[0, 0].tolist() == list(RED)


def test_sources_on_disk(tmp_path):
    path = tmp_path / "quadrants.png"
    path.write_bytes(encode(quadrants(), "PNG"))
    for source in (path, str(path)):
        assert load_image(source).rgb[0, 0].tolist() == list(RED)


def test_an_open_file_is_read_from_its_start_and_left_open(tmp_path):
    path = tmp_path / "quadrants.png"
    path.write_bytes(encode(quadrants(), "PNG"))
    with open(path, "rb") as file:
        file.read()  # as if someone had already read the upload
        assert load_image(file).shape == (32, 32)
        assert not file.closed


def test_a_path_is_not_left_open(tmp_path):
    path = tmp_path / "quadrants.gif"
    path.write_bytes(encode(quadrants(), "GIF"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        load_image(path)
        read_size(path)
        gc.collect()


def test_wrong_source_types_are_type_errors(tmp_path):
    with pytest.raises(TypeError, match="Image.from_array"):
        load_image(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(TypeError, match="bytes, a path or a binary file"):
        load_image(42)
    path = tmp_path / "quadrants.png"
    path.write_bytes(encode(quadrants(), "PNG"))
    with open(path, encoding="latin-1") as text_file:
        with pytest.raises(TypeError, match="binary mode"):
            load_image(text_file)


@pytest.mark.parametrize("max_pixels", [0, -5, 1.5, "40", True])
def test_max_pixels_must_be_a_positive_whole_number(max_pixels):
    with pytest.raises(ValueError, match="max_pixels must be a positive whole number"):
        load_image(encode(quadrants(), "PNG"), max_pixels=max_pixels)


# --- modes --------------------------------------------------------------------------------


def test_grayscale_becomes_equal_channels():
    gray = np.array([[0, 100, 255]], np.uint8)
    image = load_image(encode(PIL.Image.fromarray(gray), "PNG"))
    assert image.mode == "L"
    np.testing.assert_array_equal(image.rgb, np.repeat(gray[:, :, None], 3, axis=2))


@pytest.mark.parametrize("kind", ["PNG", "BMP", "TIFF"])
def test_one_bit_images(kind):
    bits = PIL.Image.fromarray(np.array([[0, 255, 0]], np.uint8)).convert("1")
    image = load_image(encode(bits, kind))
    assert image.mode == "1"
    assert image.rgb[0, :, 0].tolist() == [0, 255, 0]


def test_gray_with_alpha_marks_only_fully_transparent_pixels():
    gray_alpha = np.array([[[10, 0], [20, 1], [30, 255]]], np.uint8)
    image = load_image(encode(PIL.Image.fromarray(gray_alpha, "LA"), "PNG"))
    assert image.mode == "LA"
    assert image.alpha.tolist() == [[False, True, True]]
    assert image.rgb[0, :, 1].tolist() == [10, 20, 30]  # colour kept, even half-transparent


def test_rgba_alpha_and_colours():
    rgba = np.array([[[1, 2, 3, 0], [4, 5, 6, 128], [7, 8, 9, 255]]], np.uint8)
    image = load_image(encode(PIL.Image.fromarray(rgba), "PNG"))
    assert image.mode == "RGBA"
    assert image.alpha.tolist() == [[False, True, True]]
    assert image.rgb[0, 1:].tolist() == [[4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize("kind", ["PNG", "WEBP", "TIFF"])
def test_fully_opaque_rgba_has_no_alpha(kind):
    opaque = PIL.Image.new("RGBA", (4, 3), (9, 99, 199, 255))
    image = load_image(encode(opaque, kind, **({"lossless": True} if kind == "WEBP" else {})))
    assert image.alpha is None
    assert image.rgb[0, 0].tolist() == [9, 99, 199]


@pytest.mark.parametrize("kind", ["PNG", "GIF"])
def test_palette_transparency_becomes_alpha(kind):
    palette = PIL.Image.fromarray(np.array([[0, 1, 2, 1]], np.uint8), "P")
    palette.putpalette([*RED, *GREEN, *BLUE])
    image = load_image(encode(palette, kind, transparency=1))
    assert image.mode == "P"
    assert image.alpha.tolist() == [[True, False, True, False]]
    assert image.rgb[0, [0, 2]].tolist() == [list(RED), list(BLUE)]


def test_palette_without_transparency():
    palette = PIL.Image.fromarray(np.array([[0, 1, 2]], np.uint8), "P")
    palette.putpalette([*RED, *GREEN, *BLUE])
    image = load_image(encode(palette, "PNG"))
    assert image.alpha is None
    assert image.rgb[0].tolist() == [list(RED), list(GREEN), list(BLUE)]


def test_colour_key_transparency_becomes_alpha():
    rgb = PIL.Image.fromarray(np.array([[RED, GREEN]], np.uint8))
    image = load_image(encode(rgb, "PNG", transparency=GREEN))
    assert image.alpha.tolist() == [[True, False]]


@pytest.mark.parametrize("kind", ["JPEG", "TIFF"])
def test_cmyk_pure_cyan(kind):
    data = encode(PIL.Image.new("CMYK", (8, 8), (255, 0, 0, 0)), kind)
    image = load_image(data)
    assert image.mode == "CMYK"
    assert np.abs(image.rgb[4, 4].astype(int) - [0, 255, 255]).max() <= 2
    assert "CMYK converted to RGB." in image.notes


def test_inverted_adobe_cmyk_jpeg():
    """Pillow writes CMYK JPEGs the way Adobe does (inverted) and undoes it on reading."""
    data = encode(PIL.Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG")
    assert b"Adobe" in data
    assert np.abs(load_image(data).rgb[4, 4].astype(int) - RED).max() <= 2


@pytest.mark.parametrize("mode", ["LAB", "YCbCr"])
def test_other_colour_spaces_are_converted(mode):
    colour = (200, 30, 60)
    data = encode(PIL.Image.new("RGB", (4, 4), colour).convert(mode), "TIFF")
    image = load_image(data)
    assert image.mode == mode
    assert np.abs(image.rgb[0, 0].astype(int) - colour).max() <= 3
    assert f"{mode} converted to RGB." in image.notes


def test_hsv_pixels_are_converted():
    # No file format stores HSV, so this goes through the private decoder.
    hsv = PIL.Image.new("RGB", (2, 2), (200, 30, 60)).convert("HSV")
    rgb, alpha, notes = kseg._decode._pixels(hsv, io.BytesIO())
    assert np.abs(rgb[0, 0].astype(int) - (200, 30, 60)).max() <= 3
    assert alpha is None and notes == ["HSV converted to RGB."]


SIXTEEN_BIT = np.array([[0, 129, 200, 32768, 65535]], np.uint16)
SIXTEEN_BIT_AS_8 = [0, 1, 1, 128, 255]  # round(v / 257); Pillow's high byte would give 0 for 129


@pytest.mark.parametrize(("mode", "kind"), [("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF")])
def test_sixteen_bit_gray(mode, kind):
    stored = PIL.Image.frombytes(mode, (5, 1), SIXTEEN_BIT.astype(">u2" if "B" in mode else "<u2"))
    image = load_image(encode(stored, kind))
    assert image.mode.startswith("I;16")
    assert image.rgb[0, :, 0].tolist() == SIXTEEN_BIT_AS_8
    assert "16-bit image scaled to 8 bits." in image.notes


def test_sixteen_bit_scaling_is_exact_for_every_value():
    every_value = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    ok, data = cv2.imencode(".png", every_value)
    image = load_image(data.tobytes())
    expected = (every_value.astype(np.int64) * 255 + 32767) // 65535
    np.testing.assert_array_equal(image.rgb[:, :, 0], expected)


@pytest.mark.parametrize("extension", [".png", ".tiff"])
def test_sixteen_bit_colour_is_read_exactly(extension):
    """Regression: looking for a PNG's EXIF through Pillow decoded it at 8 bits first,
    which silently turned off this exact path (129 came out as 0)."""
    rgb = np.zeros((2, 3, 3), np.uint16)
    rgb[0, 0] = (65535, 32768, 129)
    rgb[1, 2] = (200, 0, 65535)
    ok, data = cv2.imencode(extension, rgb[:, :, ::-1])  # OpenCV writes BGR
    image = load_image(data.tobytes())
    assert image.mode == "RGB"
    assert image.rgb[0, 0].tolist() == [255, 128, 1]
    assert image.rgb[1, 2].tolist() == [1, 0, 255]
    assert "16-bit image scaled to 8 bits." in image.notes


def test_sixteen_bit_alpha_counts_any_opacity():
    bgra = np.full((1, 3, 4), 40000, np.uint16)
    bgra[0, :, 3] = (0, 100, 65535)  # alpha 100 of 65535 would round to 0 in 8 bits
    ok, data = cv2.imencode(".png", bgra)
    image = load_image(data.tobytes())
    assert image.mode == "RGBA"
    assert image.alpha.tolist() == [[False, True, True]]


def test_float_within_zero_to_one():
    values = np.array([[0.0, 0.5, 1.0]], np.float32)
    image = load_image(encode(PIL.Image.fromarray(values), "TIFF"))
    assert image.mode == "F"
    assert image.rgb[0, :, 0].tolist() == [0, 128, 255]


def test_float_outside_zero_to_one_is_stretched():
    values = np.array([[-1.0, 1.0, 3.0]], np.float32)
    image = load_image(encode(PIL.Image.fromarray(values), "TIFF"))
    assert image.rgb[0, :, 0].tolist() == [0, 128, 255]
    assert any("stretched from its range -1..3" in note for note in image.notes)


def test_float_nan_and_infinity_become_transparent():
    values = np.array([[0.0, np.nan, 1.0, np.inf]], np.float32)
    image = load_image(encode(PIL.Image.fromarray(values), "TIFF"))
    assert image.alpha.tolist() == [[True, False, True, False]]
    assert image.rgb[0, :, 0].tolist() == [0, 0, 255, 0]


def test_float_with_nothing_finite_is_an_error():
    values = np.full((2, 2), np.nan, np.float32)
    with pytest.raises(ImageError, match="NaN or infinite"):
        load_image(encode(PIL.Image.fromarray(values), "TIFF"))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 100, 255], [0, 100, 255]),  # kept as they are
        ([0, 32768, 65535], [0, 128, 255]),  # 16-bit data stored as 32-bit
        ([-1000, 0, 1000], [0, 128, 255]),  # stretched from its own range
        ([7, 7, 70000], [0, 0, 255]),
    ],
)
def test_32_bit_integers(values, expected):
    stored = PIL.Image.fromarray(np.array([values], np.int32))
    image = load_image(encode(stored, "TIFF"))
    assert image.mode == "I"
    assert image.rgb[0, :, 0].tolist() == expected


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "I;16"])
def test_large_images_are_copied_out_whole(mode):
    """Pixels are copied out of Pillow in strips: check several strips and the last, short one."""
    rng = np.random.default_rng(5)
    channels = {"RGB": 3, "RGBA": 4}.get(mode)
    shape = (300, 2048) if channels is None else (300, 2048, channels)
    if mode == "I;16":
        values = rng.integers(0, 65536, shape, dtype=np.uint16)
        stored = PIL.Image.frombytes(mode, (2048, 300), values.astype("<u2").tobytes())
    else:
        values = rng.integers(0, 256, shape, dtype=np.uint8)
        stored = PIL.Image.fromarray(values, mode)
    image = load_image(encode(stored, "PNG", compress_level=1))
    if mode == "I;16":
        expected = (values.astype(np.int64) * 255 + 32767) // 65535
        np.testing.assert_array_equal(image.rgb[:, :, 1], expected)
    elif mode == "L":
        np.testing.assert_array_equal(image.rgb[:, :, 2], values)
    else:
        np.testing.assert_array_equal(image.rgb, values[:, :, :3])
    if mode == "RGBA":
        np.testing.assert_array_equal(image.alpha, values[:, :, 3] > 0)


# --- EXIF orientation ---------------------------------------------------------------------


def asymmetric() -> PIL.Image.Image:
    """4 wide x 2 high, every pixel a different colour."""
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 4, 3) * 10
    return PIL.Image.fromarray(pixels)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["PNG", "TIFF", "WEBP"])
def test_orientation_matches_pillows_exif_transpose(kind, orientation):
    """Regression: Pillow's TIFF decoder turns a single-page TIFF upright by itself (and
    drops the tag), and kseg turned it a second time."""
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    options = {"lossless": True} if kind == "WEBP" else {}
    data = encode(asymmetric(), kind, exif=exif, **options)
    expected = np.asarray(PIL.ImageOps.exif_transpose(PIL.Image.open(io.BytesIO(data))))
    image = load_image(data)
    np.testing.assert_array_equal(image.rgb, expected)
    assert image.exif_rotated == (orientation != 1)
    assert ("Rotated according to its EXIF orientation." in image.notes) == (orientation != 1)


def test_jpeg_orientation_six_turns_the_photo_upright():
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # stored on its side: the top of the scene is on the right
    stored = quadrants().resize((64, 32))
    image = load_image(encode(stored, "JPEG", exif=exif, quality=95))
    assert image.shape == (64, 32)
    # Rotated 90 degrees clockwise, the stored bottom-left (blue) becomes the top-left.
    assert np.abs(image.rgb[2, 2].astype(int) - BLUE).max() <= 12


def test_orientation_applies_to_alpha_and_to_sixteen_bit_colour():
    bgra = np.zeros((2, 4, 4), np.uint16)
    bgra[0, 0] = (0, 0, 65535, 65535)  # opaque red top-left, the rest transparent
    ok, encoded = cv2.imencode(".png", bgra)
    # OpenCV cannot write EXIF: put an eXIf chunk (orientation 8) before the pixels.
    exif = PIL.Image.Exif()
    exif[0x0112] = 8
    data = encoded.tobytes()
    idat = data.index(b"IDAT") - 4
    data = data[:idat] + png_chunk(b"eXIf", exif.tobytes()[6:]) + data[idat:]
    image = load_image(data)
    assert image.exif_rotated and image.shape == (4, 2)
    assert "16-bit image scaled to 8 bits." in image.notes
    # Turned 90 degrees anticlockwise, the top-left corner ends up bottom-left.
    assert image.rgb[3, 0].tolist() == list(RED)
    assert image.alpha[3, 0] and image.alpha.sum() == 1


def test_png_exif_after_the_pixels_is_found():
    exif = PIL.Image.Exif()
    exif[0x0112] = 3
    data = encode(asymmetric(), "PNG")
    iend = data.rindex(b"IEND") - 4
    data = data[:iend] + png_chunk(b"eXIf", exif.tobytes()[6:]) + data[iend:]
    image = load_image(data)
    assert image.exif_rotated
    np.testing.assert_array_equal(image.rgb, np.asarray(asymmetric())[::-1, ::-1])


def test_damaged_exif_keeps_the_pixels():
    data = encode(asymmetric(), "PNG")
    idat = data.index(b"IDAT") - 4
    data = data[:idat] + png_chunk(b"eXIf", b"MM\x00\x2a\xff\xff\xff\xff") + data[idat:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's "Corrupt EXIF data" warning, now raised
        image = load_image(data)
    assert not image.exif_rotated
    assert "Its EXIF metadata is damaged, so any orientation in it was ignored." in image.notes
    np.testing.assert_array_equal(image.rgb, np.asarray(asymmetric()))


def test_read_size_is_the_stored_size():
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    assert read_size(encode(asymmetric(), "JPEG", exif=exif)) == (4, 2)


# --- animations and pages -----------------------------------------------------------------


def three_frames() -> list[PIL.Image.Image]:
    return [PIL.Image.new("RGB", (4, 4), colour) for colour in (RED, GREEN, BLUE)]


@pytest.mark.parametrize(
    ("kind", "options", "note"),
    [
        ("GIF", {}, "Animated image: only the first of 3 frames is used."),
        ("PNG", {}, "Animated image: only the first of 3 frames is used."),
        ("WEBP", {"lossless": True}, "Animated image: only the first of 3 frames is used."),
        ("TIFF", {}, "Multi-page image: only the first of 3 pages is used."),
    ],
)
def test_only_the_first_frame_is_used(kind, options, note):
    first, *rest = three_frames()
    data = encode(first, kind, save_all=True, append_images=rest, **options)
    image = load_image(data)
    assert image.frames == 3
    assert note in image.notes
    assert image.rgb[0, 0].tolist() == list(RED)


def test_multi_picture_jpeg_counts_as_jpeg():
    first, second, _ = three_frames()
    image = load_image(encode(first, "MPO", save_all=True, append_images=[second]))
    assert image.format == "JPEG" and image.frames == 2
    assert "Multi-picture JPEG: only the first of 2 pictures is used." in image.notes
    assert np.abs(image.rgb[0, 0].astype(int) - RED).max() <= 2


# --- errors -------------------------------------------------------------------------------


def test_loading_leaves_pillows_truncated_image_setting_alone():
    assert PIL.ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageError):
        load_image(encode(quadrants(64), "JPEG")[:600])
    assert PIL.ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("source", [b"", bytearray(), io.BytesIO()])
def test_empty_input(source):
    with pytest.raises(ImageError, match="The file is empty."):
        load_image(source)


def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="The file is empty."):
        load_image(tmp_path / "empty.jpg")


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(ImageError, match="No file at .*nothing-here.png"):
        load_image(tmp_path / "nothing-here.png")
    with pytest.raises(ImageError, match="is a folder, not an image file"):
        load_image(tmp_path)


def test_text_is_not_an_image_and_is_not_repeated():
    data = b"Dear visitor, this is my secret diary, not a photo.\n" * 20
    with pytest.raises(ImageError, match="not a recognised image") as caught:
        load_image(data)
    assert "secret" not in str(caught.value)
    assert "JPEG, PNG, WebP, BMP, TIFF and GIF" in str(caught.value)


def test_random_bytes_are_not_an_image():
    data = np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(ImageError, match="not a recognised image"):
        load_image(data)


def test_heic_is_named():
    ftyp = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    noise = np.random.default_rng(3).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    with pytest.raises(ImageError, match="HEIC/HEIF photo, an unsupported kind of image"):
        load_image(ftyp + noise)


def test_svg_is_a_vector_image():
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    with pytest.raises(ImageError, match=r"vector images \(SVG\) are not supported") as caught:
        load_image(svg)
    assert "not an image kseg can read" in str(caught.value)
    assert "PNG" in str(caught.value)


def test_pdf_is_an_unsupported_kind():
    with pytest.raises(ImageError, match="PDF document, an unsupported kind"):
        load_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")


@pytest.mark.parametrize(("kind", "name"), [("ICO", "ICO"), ("PPM", "PPM"), ("QOI", "QOI")])
def test_other_pillow_formats_are_an_unsupported_kind(kind, name):
    with pytest.raises(ImageError, match=f"unsupported kind of image: .*\\({name}\\)"):
        load_image(encode(quadrants(), kind))


@pytest.mark.parametrize(("kind", "cut"), [("PNG", 0.5), ("GIF", 0.5)])
def test_truncated_data(kind, cut):
    noisy = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(PIL.Image.fromarray(noisy), kind)
    with pytest.raises(ImageError, match="damaged or incomplete") as caught:
        load_image(data[: int(len(data) * cut)])
    assert caught.value.__cause__ is not None


def test_truncated_header():
    data = encode(quadrants(), "PNG")[:20]
    with pytest.raises(ImageError, match="starts like a PNG image, but its header is damaged"):
        load_image(data)


def test_zero_size_image():
    with pytest.raises(ImageError, match="header is damaged"):
        load_image(png_claiming(0, 10))


def test_a_decompression_bomb_is_refused_from_its_header():
    bomb = png_claiming(30000, 30000)
    assert len(bomb) < 1000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImageError) as caught:
            load_image(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 50_000_000
    assert str(caught.value) == (
        "The image is 30000 x 30000 pixels (900 megapixels); kseg accepts at most "
        "40 megapixels. Downscale it first."
    )
    assert read_size(bomb) == (30000, 30000)


def test_pillows_bomb_limit_still_holds_when_max_pixels_is_raised():
    with pytest.raises(ImageError, match="over Pillow's decompression-bomb limit"):
        load_image(png_claiming(30000, 30000), max_pixels=10**12)


def test_pillows_decompression_bomb_error_becomes_an_image_error():
    # A GIF whose first frame reaches far beyond its 10 x 10 screen: Pillow refuses
    # it while reading the header, with its own DecompressionBombError.
    screen = b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, 30000, 30000, 0) + b"\x02\x02\x44\x01\x00;"
    with pytest.raises(ImageError, match="too large to decode safely") as caught:
        load_image(screen + frame)
    assert isinstance(caught.value.__cause__, PIL.Image.DecompressionBombError)


def test_max_pixels_is_checked_exactly():
    data = encode(PIL.Image.new("RGB", (10, 10)), "PNG")
    assert load_image(data, max_pixels=100).n_pixels == 100
    with pytest.raises(ImageError, match=r"10 x 10 pixels \(100 pixels\); kseg accepts at most 99"):
        load_image(data, max_pixels=99)


def test_the_default_limit_is_40_megapixels():
    assert DEFAULT_MAX_PIXELS == 40_000_000
    with pytest.raises(ImageError, match=r"8001 x 5000 pixels \(40.1 megapixels\)"):
        load_image(png_claiming(8001, 5000))


DAMAGED = "The file is damaged: part of the picture may be wrong."


def _photo_jpeg(**options) -> bytes:
    """A real photo (the chelsea sample) encoded again: smooth areas, edges, texture."""
    return encode(PIL.Image.open(sample_path("chelsea")).convert("RGB"), "JPEG", **options)


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_with_garbled_middle_bytes_loads_and_says_it_is_damaged(progressive):
    """Regression: overwriting a third of the compressed data with noise gave a photo
    with a smeared lower half, and not a word about it."""
    data = _photo_jpeg(progressive=progressive)
    good = load_image(data)
    start = data.index(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    bad = bytearray(data)
    middle = start + (end - start) // 2
    noise = np.random.default_rng(4).integers(0, 0xFF, 3000, dtype=np.uint8)  # no 0xFF
    bad[middle : middle + noise.size] = noise.tobytes()
    image = load_image(bytes(bad))
    assert image.damaged and image.notes[0] == DAMAGED
    assert image.shape == good.shape == (300, 451)
    assert not good.damaged and DAMAGED not in good.notes
    # What decoded is shown as it decoded: the pixels differ from the good file's.
    assert np.abs(image.rgb.astype(int) - good.rgb).mean() > 1


@pytest.mark.parametrize("progressive", [False, True])
def test_a_cut_short_jpeg_loads_with_what_arrived_and_says_it_is_damaged(progressive):
    """Regression: a JPEG cut short was refused outright, though libjpeg decodes the
    rows that arrived; it now loads, with the missing rows grey, marked damaged."""
    data = _photo_jpeg(progressive=progressive)
    good = load_image(data)
    image = load_image(data[: len(data) * 2 // 3])
    assert image.damaged and image.notes[0] == DAMAGED
    assert image.shape == good.shape
    if not progressive:  # the rows that arrived are the good file's, the rest is grey
        assert np.abs(image.rgb[:50].astype(int) - good.rgb[:50]).max() == 0
        assert (image.rgb[-20:] == 128).all()
    assert PIL.ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"optimize": True}, {"subsampling": 0}, {"quality": 15}],
)
def test_sound_jpegs_are_not_called_damaged(options):
    assert not load_image(_photo_jpeg(**options)).damaged
    # ... nor with bytes after the end marker (phones append data there).
    assert not load_image(_photo_jpeg(**options) + b"\0trailing" * 50).damaged


def test_the_bundled_samples_and_other_formats_are_not_called_damaged():
    for sample in SAMPLES:
        image = load_image(sample.path)
        assert not image.damaged and DAMAGED not in image.notes, sample.name
    for kind in ("PNG", "WEBP", "GIF", "BMP", "TIFF"):
        assert not load_image(encode(quadrants(), kind)).damaged, kind
    assert not load_image(encode(quadrants().convert("CMYK"), "JPEG")).damaged
    assert not Image.from_array(np.asarray(quadrants())).damaged


def test_a_few_padding_bytes_before_the_end_marker_are_not_damage():
    """libjpeg warns about "2 extraneous bytes before marker 0xd9", which some encoders
    leave: a quirk of a sound file, not damage."""
    data = _photo_jpeg()
    padded = data[:-2] + b"\x00\x00" + data[-2:]
    assert not load_image(padded).damaged


def test_the_damage_check_leaves_standard_error_to_others(capfd):
    data = _photo_jpeg()
    bad = bytearray(data)
    bad[len(data) // 2 : len(data) // 2 + 500] = bytes(range(1, 251)) * 2
    load_image(bytes(bad))
    load_image(data)
    _, err = capfd.readouterr()
    assert "Corrupt JPEG data" not in err  # libjpeg's warnings were read, not printed
    print("after", file=sys.stderr, flush=True)
    assert "after" in capfd.readouterr().err  # and standard error works as before


def test_corrupt_jpeg_scan_data_does_not_crash():
    noisy = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = bytearray(encode(PIL.Image.fromarray(noisy), "JPEG"))
    data[len(data) // 2 : len(data) // 2 + 40] = bytes(range(40))
    try:
        image = load_image(bytes(data))
    except ImageError:
        return
    assert_valid(image)
    assert image.shape == (64, 64)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("kind", "options"),
    [("PNG", {}), ("JPEG", {}), ("GIF", {}), ("WEBP", {}), ("TIFF", {}), ("BMP", {})],
)
def test_mutated_files_load_or_raise_image_error(kind, options):
    """Fuzz: damaged bytes give an Image or an ImageError, never another exception."""
    rng = np.random.default_rng(sum(kind.encode()))
    noisy = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    noisy[:4, :4, 3] = 0
    mode = "RGBA" if kind in ("PNG", "WEBP", "TIFF") else "RGB"
    valid = encode(PIL.Image.fromarray(noisy).convert(mode), kind, **options)
    n_mutations = 100 if kind in ("PNG", "JPEG") else 40
    for _ in range(n_mutations):
        data = bytearray(valid)
        for position in rng.integers(0, len(data), rng.integers(1, 5)):
            data[position] = rng.integers(0, 256)
        if rng.random() < 0.2:
            data = data[: rng.integers(1, len(data))]
        try:
            image = load_image(bytes(data))
        except ImageError:
            continue
        assert_valid(image)


# --- Image and Image.from_array ---------------------------------------------------------


def test_from_array_rgb_copies_and_is_read_only():
    pixels = np.zeros((2, 3, 3), np.uint8)
    image = Image.from_array(pixels)
    pixels[:] = 9
    assert image.rgb.max() == 0
    assert image.mode == "RGB" and image.format == "" and image.alpha is None
    with pytest.raises(ValueError, match="read-only"):
        image.rgb[0, 0, 0] = 1


def test_from_array_rgba_and_gray():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (1, 2, 3, 255)
    image = Image.from_array(rgba)
    assert image.mode == "RGBA" and image.rgb.flags.c_contiguous
    assert image.alpha.tolist() == [[True, False], [False, False]]
    assert image.rgb[0, 0].tolist() == [1, 2, 3]
    gray = Image.from_array(np.array([[0, 7]], np.uint8))
    assert gray.mode == "L" and gray.rgb.tolist() == [[[0, 0, 0], [7, 7, 7]]]
    assert Image.from_array(np.full((2, 2, 1), 5, np.uint8)).rgb.max() == 5


def test_from_array_single_pixel_rgba_is_copied():
    """A (1, 1, 4) array's first three channels count as contiguous: still copy them."""
    rgba = np.array([[[1, 2, 3, 255]]], np.uint8)
    image = Image.from_array(rgba)
    rgba[0, 0, 0] = 99
    assert image.rgb[0, 0, 0] == 1


@pytest.mark.parametrize("alpha", [np.array([[True, False]]), np.array([[255, 0]], np.uint8)])
def test_from_array_separate_alpha(alpha):
    image = Image.from_array(np.zeros((1, 2, 3), np.uint8), alpha=alpha)
    assert image.alpha.tolist() == [[True, False]]
    opaque = Image.from_array(np.zeros((1, 2, 3), np.uint8), alpha=np.ones((1, 2), bool))
    assert opaque.alpha is None


@pytest.mark.parametrize(
    ("array", "alpha", "message"),
    [
        (np.zeros((2, 2, 3)), None, r"Expected uint8 pixels \(0-255\), got float64"),
        (np.zeros((2, 2, 2), np.uint8), None, r"\(H, W, 3\) RGB, \(H, W, 4\) RGBA or \(H, W\)"),
        (np.zeros(5, np.uint8), None, "got shape"),
        (np.zeros((0, 4, 3), np.uint8), None, "no pixels"),
        (np.zeros((2, 2, 3), np.uint8), np.ones((3, 2), bool), "alpha must have the image's"),
        (np.zeros((2, 2, 3), np.uint8), np.ones((2, 2)), "alpha must be bool"),
        (np.zeros((2, 2, 4), np.uint8), np.ones((2, 2), bool), "not both"),
    ],
)
def test_from_array_errors(array, alpha, message):
    with pytest.raises(ImageError, match=message):
        Image.from_array(array, alpha=alpha)


def test_image_checks_what_it_is_given():
    with pytest.raises(ImageError, match="C-contiguous"):
        Image(np.zeros((4, 4, 3), np.uint8)[:, ::2])
    with pytest.raises(ImageError, match="bool array"):
        Image(np.zeros((2, 2, 3), np.uint8), alpha=np.ones((2, 2), np.uint8))


def test_image_repr_is_short():
    image = load_image(encode(quadrants(), "PNG"))
    assert repr(image) == "Image(32 x 32, format='PNG', mode='RGB', has_alpha=False, frames=1)"


def test_loaded_arrays_are_read_only():
    rgba = PIL.Image.new("RGBA", (2, 2), (1, 2, 3, 0))
    rgba.putpixel((0, 0), (1, 2, 3, 255))
    image = load_image(encode(rgba, "PNG"))
    assert not image.rgb.flags.writeable and not image.alpha.flags.writeable


def test_read_size_errors():
    with pytest.raises(ImageError, match="The file is empty."):
        read_size(b"")
    with pytest.raises(ImageError, match="not a recognised image"):
        read_size(b"hello")
    assert read_size(encode(PIL.Image.new("RGB", (7, 3)), "WEBP")) == (7, 3)
