"""Files made from a segmentation: PNG images, label maps, palettes, parameters.

Every output is encoded here from pixels and numbers; nothing a visitor sent is
ever passed through unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PIL.Image

from kseg import _spaces

__all__ = [
    "encode_jpeg",
    "encode_png",
    "segmented_png",
    "label_map_png",
    "load_palette",
    "palette_csv",
    "palette_json",
    "params_json",
    "cli_command",
]

PALETTE_FORMAT = "kseg-palette/1"


def encode_png(pixels: np.ndarray, *, compression: int = 3) -> bytes:
    """PNG bytes of an (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA uint8/uint16 array."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid arrays
        raise ValueError("Could not encode the image as PNG.")
    return buf.tobytes()


def encode_jpeg(pixels: np.ndarray, *, quality: int = 90) -> bytes:
    """JPEG bytes of an (H, W, 3) RGB uint8 array, for photos shown at display size."""
    bgr = cv2.cvtColor(np.asarray(pixels), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid arrays
        raise ValueError("Could not encode the image as JPEG.")
    return buf.tobytes()


def segmented_png(
    seg, max_side: int | None = None, *, compress_level: int = 1, index: np.ndarray | None = None
) -> bytes:
    """The segmented image as an indexed-colour PNG: one byte per pixel, k colours.

    The same pixels as ``seg.segmented_image(max_side)``, but a palette PNG is about
    half the size of an RGB one and two to three times quicker to encode, which
    matters on every change of k.

    Parameters
    ----------
    seg : Segmentation
        With more than 255 clusters an RGB(A) PNG comes back instead.
    max_side : int or None
        Nearest-neighbour preview size, as for ``Segmentation.segmented_image``;
        None for full resolution.
    compress_level : int
        zlib level, 0 (none) to 9 (smallest, slowest).
    index : (h, w) int32 ndarray, optional
        The histogram's ``preview_index(max_side)``, when kept.

    Returns
    -------
    bytes
        A PNG in palette mode ("P"); transparent pixels (label -1) use an extra
        palette entry marked fully transparent.
    """
    if seg.k > 255:  # a palette holds 256 entries: clusters plus one transparent
        return encode_png(seg.segmented_image(max_side, index=index), compression=compress_level)
    labels = seg.preview_labels(max_side, index=index)
    transparent = bool((labels < 0).any())
    index = labels.astype(np.uint8)  # label -1 becomes 255 ...
    if transparent:
        index[labels < 0] = seg.k  # ... and then the entry after the clusters
    height, width = index.shape
    picture = PIL.Image.frombytes("P", (width, height), np.ascontiguousarray(index).tobytes())
    colors = np.zeros((seg.k + 1, 3), np.uint8)
    colors[: seg.k] = seg.centers_rgb
    picture.putpalette(colors.tobytes(), rawmode="RGB")
    out = io.BytesIO()
    options = {"transparency": seg.k} if transparent else {}
    picture.save(out, format="PNG", compress_level=compress_level, **options)
    return out.getvalue()


def label_map_png(segmentation) -> bytes:
    """The labels as a grayscale PNG: value i for cluster i, 255 for transparent pixels.

    8-bit when there are at most 255 clusters, else 16-bit with 65535 for transparent.
    """
    labels = segmentation.labels
    if segmentation.k <= 255:
        out = labels.astype(np.uint8)  # -1 wraps to 255
    else:
        out = labels.astype(np.uint16)  # -1 wraps to 65535
    return encode_png(out)


def palette_json(segmentation) -> str:
    """The palette as JSON: colour space, and per cluster hex, RGB, share, count and centre.

    :func:`load_palette` reads it back, so a palette can be applied to other
    images (``kseg segment --init palette.json --max-iter 0``).
    """
    doc = {
        "format": PALETTE_FORMAT,
        "color_space": segmentation.color_space,
        "compactness": segmentation.compactness,
        "clusters": [entry.to_dict() for entry in segmentation.palette()],
    }
    return json.dumps(doc, indent=2)


def palette_csv(segmentation) -> str:
    """The palette as CSV: index, hex, r, g, b, count, share, and the centre's coordinates."""
    names = {"rgb": ("r", "g", "b"), "lab": ("L", "a", "b"), "hsv": ("h", "s", "v")}
    axes = [f"center_{n}" for n in names[segmentation.color_space]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index", "hex", "r", "g", "b", "count", "share", *axes])
    for e in segmentation.palette():
        writer.writerow(
            [e.index, e.hex, *e.rgb, e.count, f"{e.share:.6f}", *(f"{v:.4f}" for v in e.center)]
        )
    return buf.getvalue()


def params_json(segmentation, *, source_name: str = "IMAGE") -> str:
    """The run's parameters and results as JSON, with the CLI command that reproduces it."""
    doc = {
        "kseg": _version(),
        "params": segmentation.params,
        "result": {
            "k": segmentation.k,
            "compactness": segmentation.compactness,
            "n_iter": segmentation.n_iter,
            "seconds": round(segmentation.seconds, 4),
            "warnings": list(segmentation.warnings),
        },
        "cli": cli_command(segmentation.params, source_name=source_name),
    }
    return json.dumps(doc, indent=2)


def cli_command(params: dict[str, Any], *, source_name: str = "IMAGE") -> str:
    """The ``kseg segment`` command line for ``params`` (a Segmentation's ``params``)."""
    init = params["init"]
    parts = ["kseg", "segment", source_name, "-k", str(params["k"])]
    if isinstance(init, str):
        parts += ["--init", init]
    else:
        parts += ["--init", "PALETTE.json"]
    parts += [
        "--attempts", str(params["attempts"]),
        "--max-iter", str(params["max_iter"]),
        "--eps", str(params["eps"]),
        "--criteria", params["criteria"],
        "--color-space", params["color_space"],
        "--seed", str(params["seed"]),
        "--engine", params["engine"],
    ]  # fmt: skip
    if params.get("regions"):
        parts += ["--regions", str(params["regions"])]
    parts += ["-o", "OUTDIR"]
    return shlex.join(parts)


def load_palette(source, color_space: str) -> np.ndarray:
    """Initial centres, (k, 3) in ``color_space``, from a palette written by :func:`palette_json`.

    ``source`` is a path, a JSON string or the parsed dict. Centres saved in the
    same colour space are used as they are; otherwise the clusters' RGB colours
    are converted.

    Raises
    ------
    ValueError
        If the palette cannot be read or holds no clusters.
    """
    space = _spaces.check_space(color_space)
    doc = source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith("{")
    ):
        try:
            doc = Path(source).read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"Cannot read the palette file: {err.strerror}.") from err
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as err:
            raise ValueError(f"The palette is not valid JSON (line {err.lineno}).") from err
    clusters = doc.get("clusters") if isinstance(doc, dict) else None
    if not clusters:
        raise ValueError("The palette holds no clusters; expected a kseg palette JSON file.")
    try:
        if doc.get("color_space") == space and all("center" in c for c in clusters):
            centers = np.array([c["center"] for c in clusters], dtype=np.float64)
        else:
            rgb = np.array([c["rgb"] for c in clusters], dtype=np.float64)
            if rgb.min() < 0 or rgb.max() > 255:
                raise ValueError
            features = _spaces.to_features(rgb.astype(np.uint8), space)
            centers = _spaces.features_to_centers(features, space)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError("The palette's clusters need 'rgb' triples in 0..255.") from err
    if centers.ndim != 2 or centers.shape[1] != 3 or not np.isfinite(centers).all():
        raise ValueError("The palette's centres must be finite triples.")
    return centers


def _version() -> str:
    from kseg import __version__

    return __version__
