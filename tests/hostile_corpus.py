"""A corpus of bad and awkward image files, generated in memory (no binary blobs in git).

Each `Case` holds the bytes a visitor might send, the name they might send them under,
and what kseg must make of them: either the exact pixels (and opacity) it must decode, or
the `kseg.ImageError` message it must give. The tests in test_hostile_library.py,
test_hostile_cli.py and test_hostile_page.py drive every case through ``kseg.load_image``,
``kseg.segment``, the command line and the page, and check what comes out with the
helpers at the end of this module (`expected_pixels`, `contains_payload`, `hexes`).

    from hostile_corpus import CASES, case
    for c in CASES: ...

Decompression bombs are built by hand (a PNG IHDR claiming a huge size over a tiny zlib
stream, and the like for other formats), so building them allocates nothing big.
Every file that can carry text carries `CANARY`, so a test can check that nothing the
visitor sent comes back verbatim.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import cv2
import images
import numpy as np
import PIL.Image

if TYPE_CHECKING:
    import kseg

__all__ = [
    "CANARY",
    "CASES",
    "Case",
    "case",
    "contains_payload",
    "expected_pixels",
    "hexes",
    "ids",
    "png_chunk",
    "png_claiming",
    "quadrants",
]

CANARY = "KSEG-CANARY-7f3a"
"""A marker written into every file that can carry text: it must never be shown back."""

PILLOW_WARNING_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS, Pillow's warning limit

RED, GREEN, BLUE, WHITE = (220, 30, 30), (30, 170, 50), (20, 40, 220), (245, 245, 245)
MAGENTA, LIME = (255, 0, 255), (0, 255, 0)  # colours hidden under transparent pixels


@dataclass(frozen=True, eq=False)
class Case:
    """One hostile or awkward file and what kseg must make of it.

    Attributes
    ----------
    key : str
        Short id, used in test names.
    filename : str
        The name the file is sent under (kseg must not care).
    data : bytes
        The file.
    mime : str
        The MIME type a browser would send.
    error : str or None
        A regular expression the `ImageError` message must match; None if the file loads.
    may_fail : str or None
        For damaged files that may decode anyway: either they load (and match `rgb` or
        `shape`) or they fail with an `ImageError` matching this expression.
    rgb : (H, W, 3) uint8 ndarray or None
        The pixels `load_image` must give (upright), where known.
    opaque : (H, W) bool ndarray or None
        Where the pixels are opaque; None when all are.
    tolerance : float
        Largest mean absolute difference allowed from `rgb` (lossy formats); 0 is exact.
    shape : (int, int) or None
        ``(height, width)`` once loaded, when `rgb` is not known exactly.
    hidden : tuple of (int, int, int)
        Colours stored only under fully transparent pixels: never a cluster.
    note : str or None
        A substring one of `Image.notes` must contain.
    fmt : str or None
        ``Image.format`` once loaded.
    k : int
        The k to segment with.
    payload : bytes
        Bytes appended after the image: never in any output.
    bomb : bool
        A decompression bomb: refused from its header, with almost no memory.
    app_filename : str or None
        The name used when uploading through the page, if `filename` has an extension
        the page's uploader refuses by itself (the browser never sends those).
    """

    key: str
    filename: str
    data: bytes = field(repr=False)
    mime: str = "application/octet-stream"
    error: str | None = None
    rgb: np.ndarray | None = field(default=None, repr=False)
    opaque: np.ndarray | None = field(default=None, repr=False)
    tolerance: float = 0.0
    shape: tuple[int, int] | None = None
    hidden: tuple[tuple[int, int, int], ...] = ()
    note: str | None = None
    fmt: str | None = None
    k: int = 4
    payload: bytes = field(default=b"", repr=False)
    bomb: bool = False
    app_filename: str | None = None
    may_fail: str | None = None

    @property
    def loads(self) -> bool:
        return self.error is None

    @property
    def expected_shape(self) -> tuple[int, int] | None:
        return self.rgb.shape[:2] if self.rgb is not None else self.shape

    @property
    def upload_name(self) -> str:
        return self.app_filename or self.filename

    def distinct_opaque_colours(self) -> set[tuple[int, int, int]] | None:
        """The distinct colours of the opaque pixels, when the pixels are known exactly."""
        if self.rgb is None or self.tolerance:
            return None
        pixels = self.rgb if self.opaque is None else self.rgb[self.opaque]
        return {tuple(int(v) for v in p) for p in np.unique(pixels.reshape(-1, 3), axis=0)}


# ----------------------------------------------------------------------------- builders
def encode(image: PIL.Image.Image, kind: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, kind, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_claiming(width: int, height: int, *, idat: bytes | None = None) -> bytes:
    """A PNG whose IHDR claims width x height 8-bit RGB pixels over a tiny zlib stream."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def quadrants(width: int = 48, height: int = 32) -> np.ndarray:
    """Four flat colours over unequal areas (tests/images.py), in the corpus's colours."""
    return images.quadrants(width, height, colours=(RED, GREEN, BLUE, WHITE))


def photo(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus mild noise: JPEG-friendly, many distinct colours."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.dstack([255 * x / width, 255 * y / height, 128 + 60 * np.sin(x / 7 + y / 11)])
    rgb += np.random.default_rng(seed).normal(0, 4, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def jpeg_scan_offset(data: bytes) -> int:
    """Offset of the first byte of entropy-coded data (after the SOS segment)."""
    sos = data.index(b"\xff\xda")
    length = struct.unpack(">H", data[sos + 2 : sos + 4])[0]
    return sos + 2 + length


def corrupt_entropy(data: bytes, seed: int = 3) -> bytes:
    """Overwrite a stretch of the scan data with random non-marker bytes."""
    start, end = jpeg_scan_offset(data), data.rindex(b"\xff\xd9")
    out = bytearray(data)
    rng = np.random.default_rng(seed)
    lo = start + (end - start) // 3
    noise = rng.integers(0, 0xFF, size=(end - start) // 3, dtype=np.uint8)  # no 0xFF
    out[lo : lo + noise.size] = noise.tobytes()
    return bytes(out)


def hidden_under_alpha() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGBA pixels: two opaque colours (one half-transparent), magenta/lime under alpha 0."""
    rgb = np.empty((40, 60, 3), np.uint8)
    alpha = np.full((40, 60), 255, np.uint8)
    rgb[:, :30] = RED
    rgb[:, 30:] = BLUE
    alpha[:, 50:] = 128  # half-transparent pixels are opaque and keep their colour
    rgb[5:35, 10:25] = MAGENTA  # a big hidden patch: would win a cluster if counted
    rgb[5:35, 35:48] = LIME
    alpha[5:35, 10:25] = 0
    alpha[5:35, 35:48] = 0
    return rgb, alpha, alpha > 0


def zip_payload() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", f"{CANARY} zip member\n" * 20)
        archive.writestr("run.sh", "#!/bin/sh\necho pwned\n")
    return buf.getvalue()


def exif_rotated() -> tuple[bytes, np.ndarray]:
    """A JPEG stored 48 wide x 32 high with orientation 6: upright it is 32 x 48."""
    stored = np.full((32, 48, 3), 235, np.uint8)
    stored[:8, :8] = (200, 20, 20)  # top-left as stored: top-right once upright
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    data = encode(PIL.Image.fromarray(stored), "JPEG", quality=95, exif=exif)
    return data, cv2.rotate(stored, cv2.ROTATE_90_CLOCKWISE)


def cmyk_blocks() -> tuple[bytes, np.ndarray]:
    """Pure cyan, magenta, yellow and black blocks as a CMYK JPEG, and their RGB."""
    cmyk = np.zeros((32, 64, 4), np.uint8)
    cmyk[:, :16, 0] = 255
    cmyk[:, 16:32, 1] = 255
    cmyk[:, 32:48, 2] = 255
    cmyk[:, 48:, 3] = 255
    rgb = np.zeros((32, 64, 3), np.uint8)
    rgb[:, :16] = (0, 255, 255)
    rgb[:, 16:32] = (255, 0, 255)
    rgb[:, 32:48] = (255, 255, 0)
    rgb[:, 48:] = (0, 0, 0)
    return encode(PIL.Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95), rgb


def animated_gif() -> tuple[bytes, np.ndarray]:
    first = quadrants()
    second = np.full_like(first, 90)
    frames = [PIL.Image.fromarray(first), PIL.Image.fromarray(second)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue(), first


def palette_with_transparent_index() -> tuple[bytes, np.ndarray, np.ndarray]:
    index = np.zeros((30, 40), np.uint8)
    index[:, 20:] = 1
    index[10:20, 5:35] = 2  # the transparent index, a hidden magenta
    im = PIL.Image.fromarray(index, "P")
    im.putpalette([*RED, *GREEN, *MAGENTA] + [0] * (3 * 253))
    data = encode(im, "PNG", transparency=2)
    table = np.array([RED, GREEN, MAGENTA], np.uint8)
    return data, table[index], index != 2


def gray_alpha() -> tuple[bytes, np.ndarray, np.ndarray]:
    gray = np.tile(np.linspace(0, 250, 50).astype(np.uint8), (20, 1))
    alpha = np.full_like(gray, 255)
    gray[5:15, 10:40] = 77  # hidden grey level
    alpha[5:15, 10:40] = 0
    data = encode(PIL.Image.fromarray(np.dstack([gray, alpha]), "LA"), "PNG")
    return data, np.dstack([gray] * 3), alpha > 0


def sixteen_bit_gray() -> tuple[bytes, np.ndarray]:
    values = np.linspace(0, 65535, 40 * 30).astype(np.uint16).reshape(30, 40)
    ok, buf = cv2.imencode(".png", values)
    assert ok
    eight = ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return buf.tobytes(), np.dstack([eight] * 3)


def sixteen_bit_rgb() -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(16)
    rgb16 = rng.integers(0, 65536, (24, 36, 3), dtype=np.uint16)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    assert ok
    eight = ((rgb16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return buf.tobytes(), eight


def float_tiff() -> tuple[bytes, np.ndarray]:
    values = np.linspace(0.0, 1.0, 32 * 20, dtype=np.float32).reshape(20, 32)
    data = encode(PIL.Image.fromarray(values, "F"), "TIFF")
    eight = np.rint(values.astype(np.float64) * 255).astype(np.uint8)
    return data, np.dstack([eight] * 3)


def polyglot_png() -> tuple[bytes, bytes, np.ndarray]:
    """A valid PNG with a script and a ZIP archive after its IEND chunk."""
    rgb = quadrants(40, 30)
    payload = f"<script>alert('{CANARY}')</script>".encode() + zip_payload()
    return encode(PIL.Image.fromarray(rgb), "PNG") + payload, payload, rgb


def svg() -> bytes:
    return (
        '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="30000" '
        f'height="30000"><script>alert("{CANARY}")</script>'
        '<rect width="100" height="100" fill="red"/></svg>\n'
    ).encode()


def heic_like() -> bytes:
    """An ISO-BMFF "ftyp" box with the HEIC brand, then random bytes."""
    ftyp = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic"
    return ftyp + np.random.default_rng(7).bytes(2000)


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian baseline TIFF header claiming width x height 8-bit RGB, no data."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 2),  # Photometric: RGB
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 3),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HHI", tag, kind, count)
        packed += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += packed
    ifd += struct.pack("<I", 0)
    body = b"\0" * 16
    return b"II*\x00" + struct.pack("<I", 8 + len(body)) + body + ifd


def gif_claiming(width: int, height: int) -> bytes:
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00;"
    return screen + frame


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose SOF0 frame header is rewritten to claim width x height."""
    data = bytearray(encode(PIL.Image.fromarray(photo(16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    """A BMP header (BITMAPINFOHEADER, 24-bit, top-down) claiming width x height."""
    info = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    header = b"BM" + struct.pack("<IHHI", 14 + len(info) + 64, 0, 0, 14 + len(info))
    return header + info + b"\0" * 64


def webp_claiming(width: int, height: int) -> bytes:
    """A lossless WebP whose VP8L header is rewritten to claim width x height."""
    data = bytearray(encode(PIL.Image.fromarray(quadrants(8, 8)), "WEBP", lossless=True))
    at = data.index(b"VP8L") + 8 + 1  # chunk header, then the 0x2f signature byte
    bits = (
        (width - 1)
        | ((height - 1) << 14)
        | (int.from_bytes(data[at : at + 4], "little") & (0xF << 28))
    )
    data[at : at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


@cache
def _zeros_deflated(megabytes: int = 32) -> bytes:
    """A zlib stream of `megabytes` MB of zero bytes (about 150 KB), built a MB at a time."""
    packer = zlib.compressobj(1)
    zeros = bytes(1 << 20)
    return b"".join([packer.compress(zeros) for _ in range(megabytes)] + [packer.flush()])


def idat_bomb() -> bytes:
    """An honest 64 x 64 PNG header over a zlib stream that inflates to 32 MB of zeros.

    The zeros are black rows with filter type 0, then far more data than the image needs.
    """
    return png_claiming(64, 64, idat=_zeros_deflated())


def iccp_bomb() -> bytes:
    """A small valid PNG with an iCCP chunk (colour profile) that inflates to 32 MB."""
    good = encode(PIL.Image.fromarray(quadrants(16, 16)), "PNG")
    ihdr_end = 8 + 25  # the signature, then the IHDR chunk
    chunk = png_chunk(b"iCCP", b"bomb\0\0" + _zeros_deflated())
    return good[:ihdr_end] + chunk + good[ihdr_end:]


def text_bomb() -> bytes:
    """A small valid PNG with a zTXt text chunk that inflates to about 17 MB of text."""
    text = (CANARY + " ").encode() * (1 << 20)
    body = b"Comment\0\0" + zlib.compress(text, 1)
    good = encode(PIL.Image.fromarray(quadrants(16, 16)), "PNG")
    return good[:33] + png_chunk(b"zTXt", body) + good[33:]


def wrong_chunk_length() -> bytes:
    """A PNG whose first IDAT chunk claims to be 4 GB long."""
    good = bytearray(encode(PIL.Image.fromarray(quadrants(16, 16)), "PNG"))
    at = good.index(b"IDAT") - 4
    good[at : at + 4] = b"\xff\xff\xff\xf0"
    return bytes(good)


def wrong_chunk_length_16bit() -> tuple[bytes, np.ndarray]:
    """A 16-bit RGB PNG (read through OpenCV) whose IDAT chunk claims to be 4 GB long."""
    good, eight = sixteen_bit_rgb()
    data = bytearray(good)
    at = data.index(b"IDAT") - 4
    data[at : at + 4] = b"\xff\xff\xff\xf0"
    return bytes(data), eight


def sixteen_bit_tiff(alpha: bool = False) -> bytes:
    rgb16 = np.random.default_rng(17).integers(0, 65536, (12, 20, 4 if alpha else 3), np.uint16)
    ok, buf = cv2.imencode(".tiff", rgb16)
    assert ok
    return buf.tobytes()


# ----------------------------------------------------------------------------- the corpus
def _one_by_n(width: int, height: int) -> np.ndarray:
    n = width * height
    values = np.arange(n, dtype=np.uint32) * 3001
    rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=-1)
    return rgb.astype(np.uint8).reshape(height, width, 3)


@cache
def _build() -> tuple[Case, ...]:
    damaged = r"damaged or incomplete|header is damaged"
    cases: list[Case] = []
    add = cases.append

    add(Case("empty", "empty.jpg", b"", "image/jpeg", error=r"^The file is empty\.$"))
    text = f"Dear visitor,\n{CANARY} this is a text file renamed to .jpg\n".encode() * 20
    add(Case("text-as-jpg", "letter.jpg", text, "image/jpeg", error=r"not a recognised image"))

    good_jpeg = encode(PIL.Image.fromarray(photo()), "JPEG", quality=90)
    # Damaged JPEGs that libjpeg decodes anyway load, and say they are damaged.
    is_damaged = "The file is damaged: part of the picture may be wrong."
    add(Case("truncated-jpeg", "cut.jpg", good_jpeg[: len(good_jpeg) * 3 // 5], "image/jpeg",
             shape=(64, 96), fmt="JPEG", note=is_damaged))  # fmt: skip
    add(Case("corrupt-entropy-jpeg", "noisy.jpg", corrupt_entropy(good_jpeg), "image/jpeg",
             shape=(64, 96), fmt="JPEG", note=is_damaged))  # fmt: skip

    add(Case("bomb-png-30000", "bomb.png", png_claiming(30000, 30000), "image/png",
             error=r"30000 x 30000 pixels \(900 megapixels\)", bomb=True))  # fmt: skip
    just_over = (9460, 9459)  # 89,482,140 pixels: just over Pillow's warning limit
    assert just_over[0] * just_over[1] > PILLOW_WARNING_PIXELS
    add(Case("bomb-png-pillow-limit", "big.png", png_claiming(*just_over), "image/png",
             error=r"9460 x 9459 pixels \(89.5 megapixels\)", bomb=True))  # fmt: skip
    add(Case("bomb-tiff", "bomb.tif", tiff_claiming(60000, 60000), "image/tiff",
             error=r"60000 x 60000 pixels", bomb=True))  # fmt: skip
    add(Case("bomb-gif", "bomb.gif", gif_claiming(65535, 65535), "image/gif",
             error=r"65535 x 65535 pixels", bomb=True))  # fmt: skip
    add(Case("bomb-jpeg", "bomb.jpg", jpeg_claiming(65000, 65000), "image/jpeg",
             error=r"65000 x 65000 pixels", bomb=True))  # fmt: skip
    add(Case("bomb-bmp", "bomb.bmp", bmp_claiming(40000, 40000), "image/bmp",
             error=r"40000 x 40000 pixels", bomb=True))  # fmt: skip
    add(Case("bomb-webp", "bomb.webp", webp_claiming(8000, 8000), "image/webp",
             error=r"8000 x 8000 pixels \(64 megapixels\)", bomb=True))  # fmt: skip
    # Pillow's WebP reader refuses sizes over twice its limit itself, before kseg can.
    add(Case("bomb-webp-pillow", "huge.webp", webp_claiming(16000, 16000), "image/webp",
             error=r"too large to decode safely", bomb=True))  # fmt: skip
    add(Case("bomb-idat", "inflate.png", idat_bomb(), "image/png",
             rgb=np.zeros((64, 64, 3), np.uint8), bomb=True))  # fmt: skip
    too_much = r"metadata .* decompresses to far more data than is safe"
    add(Case("bomb-iccp", "profile.png", iccp_bomb(), "image/png", error=too_much, bomb=True))
    add(Case("bomb-ztxt", "text.png", text_bomb(), "image/png", error=too_much, bomb=True))
    add(Case("png-chunk-4gb", "chunk.png", wrong_chunk_length(), "image/png",
             rgb=quadrants(16, 16), may_fail=damaged))  # fmt: skip

    # OpenCV reads 16-bit colour PNGs for kseg, and allocated what the chunk claimed: 4 GB.
    data, eight = wrong_chunk_length_16bit()
    add(Case("png16-chunk-4gb", "deep-chunk.png", data, "image/png", rgb=eight, tolerance=1,
             may_fail=damaged, bomb=True))  # fmt: skip

    one = np.array([[[12, 200, 99]]], np.uint8)
    add(Case("1x1", "dot.png", encode(PIL.Image.fromarray(one), "PNG"), "image/png", rgb=one))
    tall, wide = _one_by_n(1, 5000), _one_by_n(5000, 1)
    add(Case("1x5000", "tall.png", encode(PIL.Image.fromarray(tall), "PNG"), "image/png",
             rgb=tall, k=8))  # fmt: skip
    add(Case("5000x1", "wide.png", encode(PIL.Image.fromarray(wide), "PNG"), "image/png",
             rgb=wide, k=8))  # fmt: skip
    flat = np.full((48, 64, 3), (17, 99, 201), np.uint8)
    add(Case("single-colour", "flat.png", encode(PIL.Image.fromarray(flat), "PNG"), "image/png",
             rgb=flat))  # fmt: skip
    two = np.zeros((30, 40, 3), np.uint8)
    two[:, :13] = (250, 250, 10)
    two[:, 13:] = (5, 5, 60)
    add(Case("two-colours-k10", "two.png", encode(PIL.Image.fromarray(two), "PNG"), "image/png",
             rgb=two, k=10))  # fmt: skip

    rgb, alpha, opaque = hidden_under_alpha()
    add(Case("rgba-hidden", "hidden.png", encode(PIL.Image.fromarray(np.dstack([rgb, alpha])),
             "PNG"), "image/png", rgb=rgb, opaque=opaque, hidden=(MAGENTA, LIME), k=4))  # fmt: skip
    data, pixels, opaque = gray_alpha()
    add(Case("gray-alpha", "la.png", data, "image/png", rgb=pixels, opaque=opaque,
             hidden=((77, 77, 77),), k=6))  # fmt: skip
    data, pixels, opaque = palette_with_transparent_index()
    add(Case("palette-transparent", "indexed.png", data, "image/png", rgb=pixels, opaque=opaque,
             hidden=(MAGENTA,), k=3))  # fmt: skip
    data, pixels = sixteen_bit_gray()
    add(Case("gray16", "deep-gray.png", data, "image/png", rgb=pixels, note="16-bit"))
    data, pixels = sixteen_bit_rgb()
    add(Case("rgb16", "deep.png", data, "image/png", rgb=pixels, note="16-bit"))
    data, pixels = float_tiff()
    add(Case("float-tiff", "float.tif", data, "image/tiff", rgb=pixels, note="Floating-point"))
    data, pixels = cmyk_blocks()
    add(Case("cmyk-jpeg", "print.jpg", data, "image/jpeg", rgb=pixels, tolerance=6,
             note="CMYK", fmt="JPEG"))  # fmt: skip
    data, pixels = animated_gif()
    add(Case("animated-gif", "anim.gif", data, "image/gif", rgb=pixels, note="first of 2 frames",
             fmt="GIF"))  # fmt: skip
    data, pixels = exif_rotated()
    add(Case("exif-rotated", "phone.jpg", data, "image/jpeg", rgb=pixels, tolerance=3,
             note="EXIF orientation"))  # fmt: skip
    q = quadrants()
    add(Case("webp", "q.webp", encode(PIL.Image.fromarray(q), "WEBP", lossless=True),
             "image/webp", rgb=q, fmt="WEBP"))  # fmt: skip
    add(Case("bmp", "q.bmp", encode(PIL.Image.fromarray(q), "BMP"), "image/bmp", rgb=q, fmt="BMP"))
    add(Case("svg", "drawing.svg", svg(), "image/svg+xml", error=r"SVG",
             app_filename="drawing.png"))  # fmt: skip
    add(Case("random-heic", "IMG_0001.heic", np.random.default_rng(1).bytes(4096), "image/heic",
             error=r"not a recognised image", app_filename="IMG_0001.jpg"))  # fmt: skip
    add(Case("heic-brand", "IMG_0002.heic", heic_like(), "image/heic", error=r"HEIC",
             app_filename="IMG_0002.jpg"))  # fmt: skip
    add(Case("jpeg-as-png", "really-a-jpeg.png", good_jpeg, "image/png", rgb=photo(),
             tolerance=4, fmt="JPEG"))  # fmt: skip
    data, payload, pixels = polyglot_png()
    add(Case("png-with-zip", "polyglot.png", data, "image/png", rgb=pixels, payload=payload,
             fmt="PNG"))  # fmt: skip
    return tuple(cases)


CASES: tuple[Case, ...] = _build()


def case(key: str) -> Case:
    """The corpus entry called `key`."""
    for c in CASES:
        if c.key == key:
            return c
    raise KeyError(key)


def ids(cases=CASES) -> list[str]:
    return [c.key for c in cases]


# ----------------------------------------------------------------------------- checks
def expected_pixels(c: Case, image: kseg.Image) -> None:
    """`image` is what `c` holds: shape, opacity, pixels (exact or within tolerance)."""
    assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
    if c.expected_shape is not None:
        assert image.shape == c.expected_shape
    if c.opaque is None:
        assert image.alpha is None
    else:
        np.testing.assert_array_equal(image.alpha, c.opaque)
    if c.rgb is not None:
        opaque = np.ones(image.shape, bool) if c.opaque is None else c.opaque
        diff = np.abs(image.rgb.astype(int) - c.rgb.astype(int))[opaque]
        if c.tolerance:
            assert diff.mean() <= c.tolerance, diff.mean()
        else:
            assert diff.max() == 0
    if c.fmt:
        assert image.format == c.fmt
    if c.note:
        assert any(c.note in note for note in image.notes), image.notes


def contains_payload(c: Case, data: bytes) -> bool:
    """Whether `data` (something kseg wrote) carries what was appended to `c`'s file."""
    return bool(c.payload) and (c.payload[:40] in data or b"PK\x03\x04" in data)


def hexes(colours) -> set[str]:
    """(r, g, b) colours as the #rrggbb strings palettes show."""
    return {"#{:02x}{:02x}{:02x}".format(*colour) for colour in colours}


# ----------------------------------------------------------------------------- fuzzing
@cache
def fuzz_seeds() -> dict[str, bytes]:
    """Small valid images of every format and mode kseg reads: what the fuzzer mutates."""
    rgb = photo(24, 16, seed=5)
    rgba = np.dstack(
        [rgb, np.where(np.arange(24) < 6, 0, 255).astype(np.uint8)[None].repeat(16, 0)]
    )
    pil_rgb, pil_rgba = PIL.Image.fromarray(rgb), PIL.Image.fromarray(rgba)
    exif = PIL.Image.Exif()
    exif[0x0112] = 8
    seeds = {
        "png-rgb": encode(pil_rgb, "PNG"),
        "png-rgba": encode(pil_rgba, "PNG"),
        "png-la": gray_alpha()[0],
        "png-p-transparent": palette_with_transparent_index()[0],
        "png-gray16": sixteen_bit_gray()[0],
        "png-rgb16": sixteen_bit_rgb()[0],
        "png-rgba16": _rgba16_png(),
        "png-1bit": encode(pil_rgb.convert("1"), "PNG"),
        "jpeg": encode(pil_rgb, "JPEG", quality=80),
        "jpeg-progressive": encode(pil_rgb, "JPEG", progressive=True),
        "jpeg-exif": encode(pil_rgb, "JPEG", exif=exif),
        "jpeg-cmyk": cmyk_blocks()[0],
        "jpeg-gray": encode(pil_rgb.convert("L"), "JPEG"),
        "gif": encode(pil_rgb.convert("P"), "GIF"),
        "gif-animated": animated_gif()[0],
        "webp-lossy": encode(pil_rgb, "WEBP", quality=70),
        "webp-lossless-rgba": encode(pil_rgba, "WEBP", lossless=True),
        "bmp": encode(pil_rgb, "BMP"),
        "bmp-p": encode(pil_rgb.convert("P"), "BMP"),
        "tiff": encode(pil_rgb, "TIFF"),
        "tiff-lzw": encode(pil_rgba, "TIFF", compression="tiff_lzw"),
        "tiff-deflate": encode(pil_rgb, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-float": float_tiff()[0],
        "tiff-pages": _multipage_tiff(pil_rgb),
        "tiff-rgb16": sixteen_bit_tiff(),
        "tiff-rgba16": sixteen_bit_tiff(alpha=True),
    }
    return seeds


def _rgba16_png() -> bytes:
    rgba16 = np.random.default_rng(18).integers(0, 65536, (12, 20, 4), np.uint16)
    ok, buf = cv2.imencode(".png", rgba16)
    assert ok
    return buf.tobytes()


def _multipage_tiff(image: PIL.Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "TIFF", save_all=True, append_images=[image.transpose(0)])
    return buf.getvalue()


_EXTREMES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def mutate(data: bytes, rng: np.random.Generator, others: tuple[bytes, ...] = ()) -> bytes:
    """`data` damaged in one of the ways files get damaged (or crafted).

    Flipped bytes, a header field set to an extreme value, a cut, a duplicated or
    dropped stretch, inserted random bytes, a zeroed stretch, or the tail of
    another file spliced on.
    """
    out = bytearray(data)
    n = len(out)
    if n < 2:
        return bytes(out) + rng.bytes(int(rng.integers(1, 16)))
    kind = int(rng.integers(8))
    if kind == 0:  # a few random bytes changed
        for position in rng.integers(0, n, int(rng.integers(1, 9))):
            out[position] = int(rng.integers(256))
    elif kind == 1:  # a 2- or 4-byte field near the start set to an extreme value
        width = 2 if rng.random() < 0.5 else 4
        at = int(rng.integers(0, max(1, min(n, 200) - width)))
        value = int(rng.choice(_EXTREMES)) & ((1 << (8 * width)) - 1)
        order = "big" if rng.random() < 0.5 else "little"
        out[at : at + width] = value.to_bytes(width, order)
    elif kind == 2:  # cut short
        out = out[: int(rng.integers(1, n))]
    elif kind == 3:  # a stretch repeated
        lo = int(rng.integers(0, n))
        hi = min(n, lo + int(rng.integers(1, 64)))
        out[hi:hi] = out[lo:hi] * int(rng.integers(1, 4))
    elif kind == 4:  # a stretch dropped
        lo = int(rng.integers(0, n))
        del out[lo : lo + int(rng.integers(1, 64))]
    elif kind == 5:  # random bytes inserted
        at = int(rng.integers(0, n))
        out[at:at] = rng.bytes(int(rng.integers(1, 32)))
    elif kind == 6:  # a stretch zeroed
        lo = int(rng.integers(0, n))
        hi = min(n, lo + int(rng.integers(1, 128)))
        out[lo:hi] = bytes(hi - lo)
    else:  # spliced: our head, another file's tail
        other = others[int(rng.integers(len(others)))] if others else data
        out = out[: int(rng.integers(1, n))] + other[int(rng.integers(0, len(other))) :]
    return bytes(out)
