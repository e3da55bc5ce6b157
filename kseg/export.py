"""Files made from a segmentation: PNG images, label maps, palettes, parameters, regions.

Every output is encoded here from pixels and numbers; nothing a visitor sent is
ever passed through unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import re
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
    "load_init",
    "load_palette",
    "palette_csv",
    "palette_json",
    "params_json",
    "load_params",
    "cli_command",
    "isolate_command",
    "mask_png",
    "cutout_png",
    "regions_csv",
    "regions_json",
]

PALETTE_FORMAT = "kseg-palette/1"
PARAMS_FORMAT = "kseg-params/1"
REGIONS_FORMAT = "kseg-regions/1"
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


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
    """The labels as a PNG whose pixel values are the cluster numbers, 1..k.

    Value 0 marks pixels in no cluster (transparent ones). Up to 255 clusters it is
    a palette ("P") PNG: entry i is cluster i's colour and entry 0 is fully
    transparent (tRNS), so any viewer shows the segmented image while the raw
    values are the cluster numbers. Above 255 clusters, a 16-bit grey PNG with the
    same values. Label i of the library (``seg.labels``) is cluster i + 1 here.
    """
    numbers = segmentation.labels.astype(np.int32) + 1  # label -1 (transparent) -> 0
    if segmentation.k > 255:
        return encode_png(numbers.astype(np.uint16))
    height, width = numbers.shape
    picture = PIL.Image.frombytes(
        "P", (width, height), np.ascontiguousarray(numbers, dtype=np.uint8).tobytes()
    )
    colors = np.zeros((segmentation.k + 1, 3), np.uint8)
    colors[1:] = segmentation.centers_rgb
    picture.putpalette(colors.tobytes(), rawmode="RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG", transparency=0)
    return out.getvalue()


def mask_png(mask: np.ndarray) -> bytes:
    """A region's mask as an 8-bit grey PNG at full resolution: 255 inside, 0 outside.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        As from ``Segmentation.region_at`` or the union of ``kseg.pick_regions``' masks.

    Raises
    ------
    ValueError
        If the mask is not two-dimensional.
    """
    mask = _as_mask(mask)
    return encode_png(mask.astype(np.uint8) * np.uint8(255))


def cutout_png(seg, mask: np.ndarray, *, crop: bool = True) -> bytes:
    """The original pixels inside ``mask``, fully transparent elsewhere, as an RGBA PNG.

    Parameters
    ----------
    seg : Segmentation
        Its full-resolution photo (``seg.histogram``) gives the pixels.
    mask : (H, W) bool ndarray
        The region, of the segmentation's size. Transparent pixels of the photo
        stay transparent even when the mask holds them.
    crop : bool
        Crop to the mask's bounding box (True) or keep the photo's full size.

    Returns
    -------
    bytes
        An RGBA PNG: inside the mask the photo's RGB with alpha 255, elsewhere
        (0, 0, 0, 0), so no hidden colour of the rest of the photo is kept.

    Raises
    ------
    ValueError
        If the mask is not of the segmentation's size, or is empty.
    """
    mask = _as_mask(mask)
    hist = seg.histogram
    if mask.shape != hist.shape:
        height, width = hist.shape
        raise ValueError(
            f"The mask is {mask.shape[1]} x {mask.shape[0]} pixels but the image is "
            f"{width} x {height}; a mask must be of the segmentation's size."
        )
    if hist.alpha is not None:
        mask = mask & (hist.alpha != 0)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("The mask is empty, so there is nothing to cut out.")
    window = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] if crop else np.s_[:, :]
    inside = mask[window]
    rgba = np.zeros((*inside.shape, 4), np.uint8)
    rgba[inside, :3] = hist.rgb[window][inside]
    rgba[inside, 3] = 255
    return encode_png(rgba)


def _as_mask(mask) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"A mask must be an (H, W) array, got {mask.ndim} dimensions.")
    return mask.astype(bool, copy=False)


def palette_json(segmentation) -> str:
    """The palette as JSON: colour space, and per cluster its number (1..k, largest
    first), hex, RGB, share, count and centre.

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
    """The palette as CSV: cluster (1..k), hex, r, g, b, count, share, and the centre."""
    names = {"rgb": ("r", "g", "b"), "lab": ("L", "a", "b"), "hsv": ("h", "s", "v")}
    axes = [f"center_{n}" for n in names[segmentation.color_space]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["cluster", "hex", "r", "g", "b", "count", "share", *axes])
    for e in segmentation.palette():
        writer.writerow(
            [e.index + 1, e.hex, *e.rgb, e.count, f"{e.share:.6f}", *(f"{v:.4f}" for v in e.center)]
        )
    return buf.getvalue()


def regions_json(figures, points=None, params=None) -> str:
    """The figures of picked regions as JSON: one object per region, numbered 1..n.

    Parameters
    ----------
    figures : list of RegionFigures
        As from ``kseg.region_figures``, in the order the regions were picked.
    points : list of (x, y), optional
        Each region's pick point, written as ``"point": {"x", "y"}``.
    params : dict, optional
        The Segmentation's ``params``, written beside the regions.

    Raises
    ------
    ValueError
        If ``points`` is given and does not hold one point per region.
    """
    points = _points_for(figures, points)
    regions = []
    for number, fig in enumerate(figures, start=1):
        entry: dict[str, Any] = {"region": number}
        if points is not None:
            x, y = points[number - 1]
            entry["point"] = {"x": x, "y": y}
        entry.update(fig.to_dict())
        regions.append(entry)
    doc: dict[str, Any] = {"format": REGIONS_FORMAT, "kseg": _version()}
    if params is not None:
        doc["params"] = params
    doc["regions"] = regions
    return json.dumps(doc, indent=2)


def regions_csv(figures, points=None) -> str:
    """The figures of picked regions as CSV: one row per region, numbered 1..n.

    Columns: region, then point_x and point_y when ``points`` is given, area,
    share, bbox_x, bbox_y, bbox_width, bbox_height, centroid_x, centroid_y, r, g,
    b, hex, perimeter.
    """
    points = _points_for(figures, points)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["region", *(["point_x", "point_y"] if points is not None else [])]
    header += ["area", "share", "bbox_x", "bbox_y", "bbox_width", "bbox_height"]
    writer.writerow([*header, "centroid_x", "centroid_y", "r", "g", "b", "hex", "perimeter"])
    for number, fig in enumerate(figures, start=1):
        row = [number, *(points[number - 1] if points is not None else ())]
        row += [fig.area, f"{fig.share:.6f}", *fig.bbox]
        row += [*(f"{v:.2f}" for v in fig.centroid), *fig.mean_rgb, fig.hex, fig.perimeter]
        writer.writerow(row)
    return buf.getvalue()


def _points_for(figures, points) -> list[tuple[int, int]] | None:
    if points is None:
        return None
    points = [_whole_point(p) for p in points]
    if len(points) != len(figures):
        raise ValueError(
            f"There are {len(figures)} regions but {len(points)} points; give one point per region."
        )
    return points


def params_json(
    segmentation, *, source_name: str = "IMAGE", params_name: str = "PARAMS.json"
) -> str:
    """The run's parameters and results as JSON, with the CLI command that reproduces it.

    ``params`` holds the starting centres when they were given (the page's as hex
    colours), so ``kseg segment --init`` this file starts from the same ones;
    ``params_name`` is the name this file is saved under, for the command.
    """
    doc = {
        "format": PARAMS_FORMAT,
        "kseg": _version(),
        "params": segmentation.params,
        "result": {
            "k": segmentation.k,
            "compactness": segmentation.compactness,
            "n_iter": segmentation.n_iter,
            "seconds": round(segmentation.seconds, 4),
            "warnings": list(segmentation.warnings),
        },
        "cli": cli_command(segmentation.params, source_name=source_name, params_name=params_name),
    }
    return json.dumps(doc, indent=2)


def cli_command(
    params: dict[str, Any], *, source_name: str = "IMAGE", params_name: str = "PARAMS.json"
) -> str:
    """The ``kseg segment`` command line for ``params`` (a Segmentation's ``params``).

    Every setting is written out, so the command gives the same result. Given
    starting centres are read from the run parameters file (:func:`params_json`),
    saved as ``params_name``.
    """
    parts = ["kseg", "segment", source_name, *_segment_options(params, params_name)]
    return shlex.join([*parts, "-o", "OUTDIR"])


def isolate_command(
    params: dict[str, Any],
    points,
    *,
    source_name: str = "IMAGE",
    fill_holes: bool = True,
    connectivity: int = 8,
    params_name: str = "PARAMS.json",
) -> str:
    """The ``kseg isolate`` command line that cuts out the regions picked at ``points``.

    Parameters
    ----------
    params : dict
        A Segmentation's ``params``; every setting is written out, as by
        :func:`cli_command`.
    points : sequence of (x, y) ints
        The picks in the order they were made (full-resolution column, row): a
        point inside a region picked before drops it again, so the order matters.
    source_name, params_name : str
        As for :func:`cli_command`.
    fill_holes : bool
        False writes ``--no-fill-holes``.
    connectivity : {8, 4}
        4 writes ``--connectivity 4``.

    Raises
    ------
    ValueError
        If there is no point, or a point is not two whole numbers.
    """
    at = []
    for x, y in (_whole_point(point) for point in points):
        # "--at -3,4" would read as an option; the page's points are never negative anyway
        at += [f"--at={x},{y}"] if min(x, y) < 0 else ["--at", f"{x},{y}"]
    if not at:
        raise ValueError("isolate_command needs at least one point.")
    parts = ["kseg", "isolate", source_name, *at, *_segment_options(params, params_name)]
    if not fill_holes:
        parts.append("--no-fill-holes")
    if connectivity != 8:
        parts += ["--connectivity", str(int(connectivity))]
    return shlex.join([*parts, "-o", "OUTDIR"])


def _whole_point(point) -> tuple[int, int]:
    try:
        x, y = point
        if int(x) != x or int(y) != y:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError("Each point must be two whole numbers, x (column) and y (row).") from None
    return int(x), int(y)


def _segment_options(params: dict[str, Any], params_name: str) -> list[str]:
    """The options of ``kseg segment`` (and ``kseg isolate``) that give ``params``."""
    init = params["init"]
    parts = ["-k", str(params["k"])]
    parts += ["--init", init if isinstance(init, str) else params_name]
    parts += [
        "--attempts", str(params["attempts"]),
        "--max-iter", str(params["max_iter"]),
        "--eps", str(params["eps"]),
        "--criteria", params["criteria"],
        "--color-space", params["color_space"],
        "--seed", str(params["seed"]),
        "--engine", params["engine"],
    ]  # fmt: skip
    if params.get("max_side"):
        parts += ["--max-side", str(params["max_side"])]
    if params.get("regions"):
        parts += ["--regions", str(params["regions"])]
        for name, option in _REGION_OPTIONS.items():
            if name in params:
                parts += [option, str(params[name])]
    if params.get("min_region"):
        parts += ["--min-region", str(params["min_region"])]
    return parts


# Segmentation params of regions then colours -> the CLI options that set them.
_REGION_OPTIONS = {
    "region_compactness": "--region-compactness",
    "region_max_iter": "--region-max-iter",
    "region_color_space": "--region-color-space",
}


def load_init(source, color_space: str) -> list[str] | np.ndarray:
    """Starting centres from a run parameters file (:func:`params_json`) or a palette.

    From run parameters: the centres the run started from, in the order given (the
    page's hex colours as they are, so the run starts exactly where the page's did);
    from a palette: :func:`load_palette`. ``source`` is a path, a JSON string or a dict.

    Raises
    ------
    ValueError
        If the file cannot be read, or holds neither starting centres nor clusters.
    """
    space = _spaces.check_space(color_space)
    doc = _read_json(source, "file")
    if not isinstance(doc, dict) or "params" not in doc:
        return load_palette(doc, space)
    params = doc["params"] if isinstance(doc["params"], dict) else {}
    init = params.get("init")
    if isinstance(init, str):
        raise ValueError(
            "These run parameters start from a named initialisation, not from given "
            "centres; pass that name to --init instead."
        )
    if isinstance(init, list) and init and all(isinstance(h, str) for h in init):
        if not all(_HEX.fullmatch(h) for h in init):
            raise ValueError("The run parameters' centres must be #rrggbb colours.")
        return [h.lower() for h in init]
    try:
        centers = np.array(init, dtype=np.float64)
    except (TypeError, ValueError):
        centers = np.empty(0)
    if centers.ndim != 2 or centers.shape[1:] != (3,) or not np.isfinite(centers).all():
        raise ValueError("The run parameters hold no starting centres.")
    if params.get("color_space") != space:
        raise ValueError(
            "The run parameters' centres are in another colour space; use the "
            "--color-space they were made in."
        )
    return centers


def load_params(source) -> dict[str, Any]:
    """The settings of a run parameters file (:func:`params_json`), as ``params``.

    ``source`` is a path, a JSON string or a dict. The values are as the file holds
    them: check them before use (``kseg segment --params`` does, as it does its
    own options).

    Raises
    ------
    ValueError
        If the file cannot be read or is not a run parameters file.
    """
    doc = _read_json(source, "file")
    params = doc.get("params") if isinstance(doc, dict) else None
    if not isinstance(params, dict):
        raise ValueError(
            "The file holds no run parameters; expected the page's run parameters JSON."
        )
    return params


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
    doc = _read_json(source, "palette")
    clusters = doc.get("clusters") if isinstance(doc, dict) else None
    if (
        not clusters
        or not isinstance(clusters, list)
        or not all(isinstance(c, dict) for c in clusters)
    ):
        raise ValueError("The palette holds no clusters; expected a kseg palette JSON file.")
    try:
        # In cluster order: "cluster" 1..k, or "index" 0..k-1 in older palettes.
        clusters = sorted(clusters, key=lambda c: c.get("cluster", c.get("index", 0) + 1))
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


def _read_json(source, what: str):
    """``source`` parsed: a path or a JSON string read, or a dict as it is."""
    doc = source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith("{")
    ):
        try:
            doc = Path(source).read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"Cannot read the {what}: {err.strerror}.") from err
        except UnicodeDecodeError as err:
            raise ValueError(f"The {what} is not a text file.") from err
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as err:
            raise ValueError(f"The {what} is not valid JSON (line {err.lineno}).") from err
        except RecursionError as err:
            raise ValueError(f"The {what} is nested too deeply to be a kseg file.") from err
    return doc


def _version() -> str:
    from kseg import __version__

    return __version__
