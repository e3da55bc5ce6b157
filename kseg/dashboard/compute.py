"""The page's cached calls into kseg: a chain keyed on the image's digest and plain values.

    bytes -> load() -> Loaded (Image, ColorHistogram, display copy)
          -> color_features(space), preview_index(side)     tables made once per photo
          -> segmentation(params) -> segmented_png(side), elbow_curve(), ...

Every result is kept in the server's one memory budget (server.results_cache) and is
owned by the photo it was made from: it is measured without the photo, dropped with
it, and never changes after it is stored. Parameters named with a leading underscore
are not part of the key (as with st.cache_resource); the digest and plain values
before them are.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import cv2
import numpy as np
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

import kseg
from kseg import export
from kseg._histogram import preview_grid
from kseg.dashboard import server
from kseg.dashboard.state import (
    ELBOW_ATTEMPTS,
    MAX_PIXELS,
    PREVIEW_SIDE,
    SP_DISPLAY_SIDE,
    Loaded,
    Params,
    Picked,
    SuperpixelParams,
)

T = TypeVar("T")
# Results computed at once by in_threads: the kernels of two runs fill the two cores
# between each other's phases; more only queue on kseg's own pool.
THREADS = 2


def kept(owner: Callable[..., Hashable] | None = None) -> Callable[[Callable], Callable]:
    """Keep a function's results in the server's cache, keyed on its name and arguments.

    ``owner(**arguments)`` gives the key of the entry each result is made from (see
    MemoryCache); results are shared by every session: treat them as read-only.
    """

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)
        keyed = [name for name in signature.parameters if not name.startswith("_")]

        def key_of(bound: dict) -> Hashable:
            return (function.__name__, *(bound[name] for name in keyed))

        @functools.wraps(function)
        def cached(*args, **kwargs):
            bound = signature.bind(*args, **kwargs).arguments
            return server.results_cache(server.CACHE_MB).get(
                key_of(bound),
                lambda: function(*args, **kwargs),
                owner=None if owner is None else owner(**bound),
            )

        def is_kept(*args, **kwargs) -> bool:
            """Whether the cache holds the result for these arguments (the keyed ones)."""
            bound = signature.bind_partial(*args, **kwargs).arguments
            return key_of(bound) in server.results_cache(server.CACHE_MB)

        cached.is_kept = is_kept
        return cached

    return decorate


def _photo(digest: str, **_) -> Hashable:
    """The key of load(digest): the owner of everything made from that photo."""
    return ("load", digest)


def _small_photo(digest: str, sp: SuperpixelParams, **_) -> Hashable:
    """The key of superpixel_input(digest, sp.side): the owner of the superpixel results."""
    return ("superpixel_input", digest, sp.side)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@kept()
def load(digest: str, _data: bytes) -> Loaded:
    """Decode and count colours once per image (keyed on the digest of its bytes).

    Raises kseg.ImageError for files that cannot be used, which is not cached.
    """
    with server.decode_slots():
        image = kseg.load_image(_data, max_pixels=MAX_PIXELS)
        hist = kseg.ColorHistogram.from_image(image)
    if hist.n_colors == 0:
        raise kseg.ImageError(
            "Every pixel of this image is fully transparent, so there is nothing to segment."
        )
    small = kseg.downscale(image.rgb, image.alpha, PREVIEW_SIDE)
    if image.has_alpha:
        preview = export.encode_png(small, compression=1)
    else:
        preview = export.encode_jpeg(small)
    return Loaded(image=image, hist=hist, preview=preview)


@kept(owner=_photo)
def color_features(digest: str, color_space: str, _hist: kseg.ColorHistogram):
    """The photo's distinct colours in one colour space, for every k and seed there."""
    return _hist.in_space(color_space)


@kept(owner=_photo)
def preview_index(digest: str, side: int, _hist: kseg.ColorHistogram) -> np.ndarray:
    """Each preview pixel's colour: a new result's preview is then one gather."""
    return _hist.preview_index(side)


@kept(owner=_photo)
def segmentation(digest: str, params: Params, _hist: kseg.ColorHistogram) -> kseg.Segmentation:
    """kseg.segment, once per image and parameters."""
    options = segment_options(params)
    if params.engine == "opencv":
        return server.run_opencv(lambda: kseg.segment(_hist, params.k, **options))
    features = color_features(digest, params.color_space, _hist)
    return kseg.segment(_hist, params.k, features=features, **options)


@kept(owner=_photo)
def segmented_png(digest: str, params: Params, max_side: int, _hist) -> bytes:
    """The segmented image at display size, as a palette PNG (flat colours stay flat)."""
    seg = segmentation(digest, params, _hist)
    index = preview_index(digest, max_side, _hist) if max(_hist.shape) > max_side else None
    return export.segmented_png(seg, max_side, index=index)


@kept(owner=_photo)
def preview_pixels(digest: str, _loaded: Loaded) -> np.ndarray:
    """The photo at display size as pixels (RGB, or RGBA with transparent pixels): what
    ``Loaded.preview`` encodes, for pictures drawn over it."""
    image = _loaded.image
    return kseg.downscale(image.rgb, image.alpha, PREVIEW_SIDE)


@kept(owner=_photo)
def picks(
    digest: str, params: Params, points: tuple[tuple[int, int], ...], _seg: kseg.Segmentation
) -> Picked:
    """kseg.pick_regions at `points` on the segmentation for `params`: each region's
    point, figures and display-size mask. Raises ValueError for a point off the image
    or on a transparent pixel (not kept)."""
    regions = kseg.pick_regions(_seg, points)
    rows, cols = preview_grid(_seg.shape, PREVIEW_SIDE)
    area = np.count_nonzero(np.logical_or.reduce([r.mask for r in regions])) if regions else 0
    return Picked(
        points=tuple(r.point for r in regions),
        figures=tuple(kseg.region_figures(_seg, r.mask) for r in regions),
        previews=tuple(r.mask[rows][:, cols] for r in regions),
        area=int(area),
    )


def picked_mask(seg: kseg.Segmentation, points: Sequence[tuple[int, int]]) -> np.ndarray:
    """The full-resolution mask of everything `points` pick (for the files: not kept)."""
    return np.logical_or.reduce([r.mask for r in kseg.pick_regions(seg, points)])


PICK_OUTLINE = (255, 221, 0)  # a yellow that stands out on photos and flat colours alike


@kept(owner=_photo)
def picked_picture(
    digest: str,
    params: Params,
    points: tuple[tuple[int, int], ...],
    segmented: bool,
    dim: int,
    _seg: kseg.Segmentation,
    _loaded: Loaded,
) -> tuple[bytes, str]:
    """The picture to click on, encoded, and its format ("PNG" or "JPEG").

    The segmented image or the photo at display size (a small photo enlarged, pixels as
    squares, so outlines stay thin and it does not blur); with picks, the picked regions
    at full strength, outlined and numbered at their pick points, over the rest in grey
    at `dim` % brightness. Transparent pixels show the page's checkerboard.
    """
    hist = _loaded.hist
    if segmented:
        big = max(hist.shape) > PREVIEW_SIDE
        index = preview_index(digest, PREVIEW_SIDE, hist) if big else None
        pixels = _seg.segmented_image(PREVIEW_SIDE, index=index)
    else:
        pixels = preview_pixels(digest, _loaded)
    factor = max(1, PREVIEW_SIDE // max(pixels.shape[:2]))
    pixels = _enlarge(pixels, factor) if factor > 1 else np.array(pixels, copy=True)
    if points:
        picked = picks(digest, params, points, _seg)
        _draw_picks(pixels, picked, hist.shape, factor, dim)
    if pixels.shape[2] == 4:  # the page's checkerboard cannot reach into the iframe
        pixels = _over_checkerboard(pixels)
    if segmented:
        return export.encode_png(pixels, compression=1), "PNG"
    return export.encode_jpeg(pixels), "JPEG"


CHECKER_LIGHT, CHECKER_DARK = 255, 212  # the page's checkerboard (styles.py): #fff, #d4d4d4


def _over_checkerboard(rgba: np.ndarray) -> np.ndarray:
    """`rgba` drawn over a grey and white checkerboard, as RGB (transparency shows as
    the page shows it everywhere else)."""
    height, width = rgba.shape[:2]
    cell = max(8, max(height, width) // 60)
    rows, cols = np.ogrid[:height, :width]
    board = np.where((rows // cell + cols // cell) % 2 == 0, CHECKER_LIGHT, CHECKER_DARK)
    alpha = rgba[:, :, 3:].astype(np.float32) / 255
    out = rgba[:, :, :3] * alpha + board[:, :, None].astype(np.float32) * (1 - alpha)
    return np.rint(out).astype(np.uint8)


def _enlarge(pixels: np.ndarray, factor: int) -> np.ndarray:
    """`pixels` `factor` times as wide and high, each pixel a square."""
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def _draw_picks(
    pixels: np.ndarray, picked: Picked, full_shape: tuple[int, int], factor: int, dim: int
) -> None:
    """On `pixels` (the display-size picture, `factor` times the preview): the picked
    regions kept, the rest dimmed to grey, each region outlined and numbered at its pick
    point."""
    masks = [_enlarge(preview, factor) for preview in picked.previews]
    keep = np.logical_or.reduce(masks)
    rgb = np.ascontiguousarray(pixels[:, :, :3])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rest = cv2.cvtColor(cv2.convertScaleAbs(gray, alpha=dim / 100), cv2.COLOR_GRAY2RGB)
    pixels[:, :, :3] = np.where(keep[:, :, None], rgb, rest)
    height, width = pixels.shape[:2]
    thick = max(2, round(max(height, width) / 600))
    alpha = (255,) if pixels.shape[2] == 4 else ()
    black, outline = (0, 0, 0, *alpha), (*PICK_OUTLINE, *alpha)
    for mask in masks:
        contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(pixels, contours, -1, black, thick + 2, cv2.LINE_AA)
        cv2.drawContours(pixels, contours, -1, outline, thick, cv2.LINE_AA)
    # A numbered badge at each pick point, as the figures' table numbers the regions.
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.25 * thick
    radius = 6 * thick
    for number, (x, y) in enumerate(picked.points, start=1):
        centre = (int((x + 0.5) * width / full_shape[1]), int((y + 0.5) * height / full_shape[0]))
        cv2.circle(pixels, centre, radius + 1, black, -1, cv2.LINE_AA)
        cv2.circle(pixels, centre, radius - 1, outline, -1, cv2.LINE_AA)
        (text_w, text_h), _ = cv2.getTextSize(str(number), font, scale, thick // 2 + 1)
        corner = (centre[0] - text_w // 2, centre[1] + text_h // 2)
        cv2.putText(pixels, str(number), corner, font, scale, black, thick // 2 + 1, cv2.LINE_AA)


def elbow_curve(digest: str, ks: tuple[int, int], color_space: str, seed: int, _hist) -> dict:
    """Compactness for k = ks[0]..ks[1] with a few attempts each.

    Each k is kept on its own (kseg.elbow computes each k alone), so a wider range
    computes only the k it adds, and the k not kept yet are computed together.
    """
    low, high = ks
    wanted = range(low, high + 1)
    missing = [k for k in wanted if not elbow_point.is_kept(digest, k, color_space, seed)]
    found = _elbow(digest, missing, color_space, seed, _hist) if len(missing) > 1 else {}
    return {
        k: elbow_point(digest, k, color_space, seed, _hist, _computed=found.get(k)) for k in wanted
    }


@kept(owner=_photo)
def elbow_point(
    digest: str, k: int, color_space: str, seed: int, _hist, _computed: float | None = None
) -> float:
    """One k of the elbow curve; ``_computed`` is its value when elbow_curve has just
    computed it with others (kseg.elbow gives every k the value it gives it alone)."""
    if _computed is not None:
        return _computed
    return _elbow(digest, [k], color_space, seed, _hist)[k]


def _elbow(digest: str, ks: list[int], color_space: str, seed: int, _hist) -> dict[int, float]:
    return kseg.elbow(
        _hist,
        ks,
        attempts=ELBOW_ATTEMPTS,
        color_space=color_space,
        seed=seed,
        features=color_features(digest, color_space, _hist),
    )


@kept(owner=_photo)
def default_centres(digest: str, k: int, _hist) -> tuple[str, ...]:
    """k colours spread over the image (a quick k-means++), as #rrggbb."""
    features = color_features(digest, "rgb", _hist)
    seg = kseg.segment(_hist, k, attempts=1, seed=0, features=features)
    hexes = [e.hex for e in seg.palette()]
    for i in range(len(hexes), k):  # fewer distinct colours than k: pad with greys
        level = round(255 * i / max(k - 1, 1))
        hexes.append(f"#{level:02x}{level:02x}{level:02x}")
    return tuple(hexes)


@kept(owner=_photo)
def superpixel_input(digest: str, side: int, _loaded: Loaded) -> kseg.ColorHistogram:
    """The photo at most `side` pixels on its longer side, with its colour histogram.

    Superpixels, regions then colours and the tab's pictures all work on this one
    image, so their labels line up pixel for pixel with what is shown. kseg.shrink is
    what ``kseg segment --max-side`` does too, so the command gives the same pixels.
    """
    return kseg.shrink(_loaded.hist, side)


@kept(owner=_small_photo)
def superpixel_regions(
    digest: str, sp: SuperpixelParams, _hist: kseg.ColorHistogram
) -> kseg.Superpixels:
    """kseg.superpixels of superpixel_input(), once per image and settings."""
    n_pixels = _hist.shape[0] * _hist.shape[1]
    return kseg.superpixels(_hist, min(sp.n_segments, n_pixels), compactness=sp.compactness)


@kept(owner=_small_photo)
def superpixel_picture(
    digest: str, sp: SuperpixelParams, fill: bool, _hist: kseg.ColorHistogram
) -> tuple[bytes, str]:
    """The superpixels as an encoded picture and its format ("PNG" or "JPEG"), at most
    SP_DISPLAY_SIDE on its longer side.

    Each region in its mean colour (PNG: flat colours stay flat), or the boundaries
    over the photo (JPEG); PNG with the alpha channel when there are transparent pixels.
    """
    regions = superpixel_regions(digest, sp, _hist)
    pixels = regions.mean_color_image() if fill else regions.overlay()
    if _hist.alpha is not None:
        pixels = np.dstack([pixels, _hist.alpha.astype(np.uint8) * 255])
    if max(_hist.shape) > SP_DISPLAY_SIDE:
        # Nearest neighbour keeps flat regions and transparency exact; averaging keeps
        # the one-pixel boundaries visible.
        if fill or _hist.alpha is not None:
            rows, cols = preview_grid(_hist.shape, SP_DISPLAY_SIDE)
            pixels = pixels[rows][:, cols]
        else:
            pixels = kseg.downscale(pixels, None, SP_DISPLAY_SIDE)
    if _hist.alpha is not None:
        return export.encode_png(pixels, compression=1), "PNG"
    if fill:
        return export.encode_png(pixels, compression=1), "PNG"
    return export.encode_jpeg(pixels, quality=95), "JPEG"


@kept(owner=_small_photo)
def region_segmentation(
    digest: str, sp: SuperpixelParams, params: Params, _hist: kseg.ColorHistogram
) -> kseg.Segmentation:
    """Regions then colours: kseg.segment over the superpixels."""
    regions = superpixel_regions(digest, sp, _hist)
    options = segment_options(params)
    return kseg.segment(_hist, params.k, regions=regions, max_side=sp.side, **options)


@kept(owner=_small_photo)
def region_segmented_png(
    digest: str, sp: SuperpixelParams, params: Params, _hist: kseg.ColorHistogram
) -> bytes:
    """The regions-then-colours image, at most SP_DISPLAY_SIDE a side, as a palette PNG."""
    return export.segmented_png(region_segmentation(digest, sp, params, _hist), SP_DISPLAY_SIDE)


def in_threads(calls: list[Callable[[], T]]) -> list[T]:
    """``[call() for call in calls]``, each call on a thread of its own, in order.

    The threads carry this run's Streamlit context, so the cache (an st.cache_resource)
    is reached as from the script; they end with the call, so the context goes with them.
    """
    if len(calls) < 2:
        return [call() for call in calls]
    context = get_script_run_ctx(suppress_warning=True)

    def run(call: Callable[[], T]) -> T:
        if context is not None:
            add_script_run_ctx(threading.current_thread(), context)
        return call()

    with ThreadPoolExecutor(max_workers=min(len(calls), THREADS)) as pool:
        return list(pool.map(run, calls))


def segment_options(params: Params) -> dict:
    """kseg.segment's keyword arguments for `params`.

    Custom centres go as the pickers' hex colours, which kseg converts as it does the
    photo's own colours (and keeps in the result's params, for the command line).
    """
    return {
        "init": params.init if isinstance(params.init, str) else list(params.init),
        "attempts": params.attempts,
        "max_iter": params.max_iter,
        "eps": params.eps,
        "criteria": params.criteria,
        "color_space": params.color_space,
        "seed": params.seed,
        "engine": params.engine,
        "min_region": params.min_region,
    }


def comparable(params: Params) -> Params:
    """Parameters that make sense for any k: the kseg engine, and k-means++ for custom."""
    init = params.init if isinstance(params.init, str) else "k-means++"
    max_iter = params.max_iter if isinstance(params.init, str) else 20
    return params._replace(init=init, engine="histogram", max_iter=max_iter)


def mask_png(seg: kseg.Segmentation, clusters: list[int]) -> bytes:
    """The chosen clusters' full-resolution mask: white inside, black elsewhere."""
    return export.encode_png(seg.mask(clusters).astype(np.uint8) * 255)


@kept(owner=_photo)
def engine_difference(
    digest: str, params: Params, _ours: kseg.Segmentation, _theirs: kseg.Segmentation
) -> int:
    """Opaque pixels in different clusters in two results for one photo.

    The engines number their clusters differently, so each of `_theirs`'s clusters is
    matched to the cluster of `_ours` whose centre colour is nearest (in RGB); a pixel
    differs when its cluster in `_ours` is not the match of its cluster in `_theirs`.
    """
    match = nearest_centres(_theirs.centers_rgb, _ours.centers_rgb)
    theirs = _theirs.labels
    opaque = theirs >= 0
    return int(np.count_nonzero((match[theirs] != _ours.labels) & opaque))


def nearest_centres(colours: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """For each RGB colour, the index of the nearest of `centres` (RGB)."""
    diff = colours.astype(np.float64)[:, None, :] - centres.astype(np.float64)[None, :, :]
    return np.einsum("ijk,ijk->ij", diff, diff).argmin(axis=1).astype(np.int16)
