"""Hostile and awkward input through the library: ``kseg.load_image`` and ``kseg.segment``.

Every file of tests/hostile_corpus.py (empty, renamed, damaged, decompression bombs of
every format, 1 x 1 and 1 x 5000, hidden colours under alpha, 16-bit, float, CMYK,
animated, rotated, SVG, HEIC, a PNG with a script and a ZIP appended, ...) gives the
right pixels or a clear `kseg.ImageError`; nothing hangs or allocates much; a colour
under fully transparent pixels never becomes a cluster or shows in a picture the library
makes. Then a quick fuzz of ``load_image``. The same files go through the command line
in test_hostile_cli.py and through the page in test_hostile_page.py.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from hostile_corpus import (
    CANARY,
    CASES,
    Case,
    case,
    expected_pixels,
    fuzz_seeds,
    ids,
    mutate,
)

import kseg
from kseg.dashboard.state import MAX_PIXELS as PAGE_MAX_PIXELS

ROOT = Path(__file__).resolve().parents[1]
LOADABLE = [c for c in CASES if c.loads or c.may_fail]
BOMBS = [c for c in CASES if c.bomb]


# ----------------------------------------------------------------------------- load_image
@pytest.mark.parametrize("c", CASES, ids=ids())
def test_load_image_gives_the_pixels_or_a_clear_error(c: Case):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
        try:
            image = kseg.load_image(c.data)
        except kseg.ImageError as err:
            message = str(err)
            assert c.error or c.may_fail, f"{c.key} should load, got: {message}"
            assert re.search(c.error or c.may_fail, message), message
            assert message.endswith(".") and len(message) < 300
            assert CANARY not in message  # load_image never sees a name, and repeats no text
            return
    assert c.loads or c.may_fail, f"{c.key} should fail with {c.error!r}"
    expected_pixels(c, image)


# ----------------------------------------------------------------------------- bombs
@pytest.mark.parametrize("c", BOMBS, ids=ids(BOMBS))
def test_bombs_cost_little_time_and_python_memory(c: Case):
    for max_pixels in (kseg.DEFAULT_MAX_PIXELS, PAGE_MAX_PIXELS):
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with contextlib.suppress(kseg.ImageError):
                kseg.load_image(c.data, max_pixels=max_pixels)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert time.perf_counter() - started < 2.0
        assert peak < 8_000_000, f"{c.key}: {peak / 1e6:.1f} MB"


_BOMB_RSS_SCRIPT = """
import resource, sys
sys.path[:0] = {paths!r}
import kseg
from kseg.samples import sample_path
from hostile_corpus import CASES
kseg.load_image(sample_path("coffee"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for c in CASES:
    if c.bomb and c.key in {keys!r}:
        for max_pixels in (kseg.DEFAULT_MAX_PIXELS, {app_limit}):
            try:
                kseg.load_image(c.data, max_pixels=max_pixels)
            except kseg.ImageError:
                pass
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024)
"""


def test_bombs_do_not_raise_the_peak_resident_memory():
    """Pillow allocates pixels outside Python's allocator: measure the process's peak RSS.

    One fresh process loads every bomb after a warm-up; its peak resident memory
    (ru_maxrss, a high-water mark) may not grow by more than 64 MB. A bomb that got
    as far as allocating its pixels would add gigabytes.
    """
    growth = peak_rss_growth([c.key for c in BOMBS], PAGE_MAX_PIXELS)
    assert growth < 64 * 2**20, f"peak RSS grew by {growth / 2**20:.0f} MB"


def peak_rss_growth(keys: list[str], app_limit: int) -> int:
    """Bytes the peak RSS of a fresh, warmed-up process grows by loading the cases `keys`."""
    script = _BOMB_RSS_SCRIPT.format(
        paths=[str(ROOT), str(ROOT / "tests")], app_limit=app_limit, keys=set(keys)
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


def test_a_16_bit_png_whose_chunk_claims_4_gb_costs_no_memory():
    """Regression: 16-bit colour PNGs are decoded by OpenCV, whose PNG reader allocated
    what a chunk's length field claimed: a 5 KB file whose IDAT claimed 4 GB took 4.2 GB
    of memory and 7 s (found by benchmarks/fuzz_load.py). load_image now hands OpenCV
    only files whose chunks fit in them; Pillow reads the others."""
    c = case("png16-chunk-4gb")
    started = time.perf_counter()
    with contextlib.suppress(kseg.ImageError):
        kseg.load_image(c.data)
    assert time.perf_counter() - started < 1.0
    assert peak_rss_growth([c.key], PAGE_MAX_PIXELS) < 64 * 2**20


# ----------------------------------------------------------------------------- segment
@pytest.mark.parametrize("c", LOADABLE, ids=ids(LOADABLE))
def test_segment_gives_a_correct_result(c: Case):
    try:
        image = kseg.load_image(c.data)
    except kseg.ImageError:
        assert c.may_fail
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # degenerate outcomes are in seg.warnings only
        seg = kseg.segment(image, c.k)
    hist = kseg.ColorHistogram.from_image(image)
    assert seg.k == min(c.k, hist.n_colors)
    if seg.k < c.k:
        assert any("distinct" in w for w in seg.warnings)
    labels = seg.labels
    assert labels.shape == image.shape
    transparent = np.zeros(image.shape, bool) if image.alpha is None else ~image.alpha
    np.testing.assert_array_equal(labels < 0, transparent)
    assert labels.max() < seg.k
    assert np.bincount(labels[labels >= 0], minlength=seg.k).tolist() == seg.counts.tolist()
    assert np.isfinite(seg.compactness)
    # Compactness is what it says, recomputed from the pixels (RGB space: centres as given).
    rgb_seg = kseg.segment(image, c.k, color_space="rgb")
    pixels = image.rgb[~transparent].astype(np.float64)
    residual = pixels - rgb_seg.centers[rgb_seg.labels[~transparent]]
    assert rgb_seg.compactness == pytest.approx(float((residual**2).sum()), rel=1e-9, abs=1e-6)
    # Few colours: the clusters are exactly those colours.
    exact = c.distinct_opaque_colours()
    if exact is not None and len(exact) <= c.k:
        assert {tuple(int(v) for v in row) for row in seg.centers_rgb} == exact
    if image.alpha is not None:
        # Colours under fully transparent pixels play no part: any others there give
        # the same result, and one far from every opaque colour is never near a centre.
        other = np.array(image.rgb)
        other[transparent] = np.random.default_rng(0).integers(0, 256, (transparent.sum(), 3))
        again = kseg.segment(kseg.Image.from_array(other, alpha=image.alpha), c.k)
        np.testing.assert_array_equal(again.centers, seg.centers)
        np.testing.assert_array_equal(again.counts, seg.counts)
        opaque_colours = np.unique(image.rgb[~transparent], axis=0).astype(int)
        for hidden in np.array(c.hidden, dtype=int).reshape(-1, 3):
            if np.abs(opaque_colours - hidden).sum(axis=1).min() > 100:
                assert np.abs(seg.centers_rgb.astype(int) - hidden).sum(axis=1).min() > 30
    painted = seg.segmented_image()
    assert painted.shape[:2] == image.shape
    if image.alpha is not None:
        assert painted.shape[2] == 4
        assert (painted[transparent] == 0).all()


# ----------------------------------------------------------------------------- regressions
def test_colours_under_transparent_pixels_never_show_in_the_preview():
    """Regression: the preview's downscale (figures.downscale, now kseg.downscale) kept
    the colours stored under alpha 0 (the preview PNG carried them) and, when shrinking,
    averaged them into opaque neighbours, so a hidden magenta patch showed as a magenta
    fringe on the page's "Original"."""
    c = case("rgba-hidden")
    image = kseg.load_image(c.data)
    for side in (1200, 20):
        small = kseg.downscale(image.rgb, image.alpha, side)
        visible = small[small[:, :, 3] > 0][:, :3].astype(int)
        for colour in (np.array(c.hidden[0]), np.array(c.hidden[1])):
            assert np.abs(visible - colour).sum(axis=1).min() > 200
        assert (small[small[:, :, 3] == 0][:, :3] == 0).all()
        # Opaque colours stay what they were, even where an area is partly transparent.
        near = lambda p, q: np.abs(p - np.array(q)).sum(axis=1) <= 6  # noqa: E731
        assert (near(visible, (220, 30, 30)) | near(visible, (20, 40, 220))).all()


def test_colours_under_transparent_pixels_never_show_when_isolating():
    """Regression: figures.isolate (now kseg.isolate) drew transparent pixels as a grey of
    the colour stored under them, so the Isolate tab revealed a hidden patch's shape."""
    c = case("rgba-hidden")
    image = kseg.load_image(c.data)
    seg = kseg.segment(image, 2)
    for dim in (1.0, 0.2):
        out = kseg.isolate(seg, [0], dim=dim)
        assert (out[~image.alpha] == 0).all()


def test_superpixel_boundaries_never_show_colours_under_transparent_pixels():
    """Regression: Superpixels.overlay() copied the stored colours of transparent pixels,
    so `kseg superpixels --boundaries` (an RGB PNG) showed a hidden patch as it was."""
    c = case("rgba-hidden")
    image = kseg.load_image(c.data)
    drawn = kseg.superpixels(image, 20).overlay()
    assert (drawn[~image.alpha] == 0).all()


def test_opencv_engine_on_a_single_opaque_pixel():
    """Regression: the opencv engine failed with a NumPy broadcasting ValueError on an
    image with one opaque pixel (a 1 x 1 upload): cv2.kmeans reads a one-row (1, 3)
    array as three one-dimensional points."""
    one = kseg.load_image(case("1x1").data)
    seg = kseg.segment(one, 4, engine="opencv")
    assert seg.k == 1 and seg.labels.tolist() == [[0]] and seg.compactness == 0
    assert seg.centers_rgb.tolist() == [[12, 200, 99]]
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[1, 2] = (40, 50, 60, 255)
    seg = kseg.segment(kseg.Image.from_array(rgba), 2, engine="opencv")
    assert seg.k == 1 and (seg.labels >= 0).sum() == 1 and seg.labels[1, 2] == 0


def test_opencv_engine_with_more_centres_than_pixels_is_an_image_error():
    """Regression: custom centres with the opencv engine on an image with fewer opaque
    pixels than centres raised cv2.error: the page broke (Streamlit's generic error, for
    as long as the link kept those settings) and the CLI crashed with a traceback. The
    CLI's and the page's side: test_hostile_cli.py and test_hostile_page.py."""
    two = np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)
    centres = [[0, 0, 0], [9, 9, 9], [200, 200, 200]]
    with pytest.raises(kseg.ImageError, match=r"at least as many opaque pixels as clusters"):
        kseg.segment(two, 3, init=centres, engine="opencv")


# ----------------------------------------------------------------------------- fuzzing
def test_load_image_fuzz_quick():
    """Mutated bytes of valid images of every format: an Image or an ImageError, never
    another exception, a hang or a broken Image. benchmarks/fuzz_load.py runs longer."""
    seeds = fuzz_seeds()
    others = tuple(seeds.values())
    rng = np.random.default_rng(20261125)
    loaded = 0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about damaged EXIF and the like
        for i in range(200 * len(seeds)):
            data = mutate(seeds[list(seeds)[i % len(seeds)]], rng, others)
            t = time.perf_counter()
            try:
                image = kseg.load_image(data)
            except kseg.ImageError:
                continue
            finally:
                assert time.perf_counter() - t < 5.0
            loaded += 1
            assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3
            assert image.rgb.shape[2] == 3 and image.rgb.flags.c_contiguous
            assert image.alpha is None or image.alpha.shape == image.shape
            if i % 25 == 0:
                kseg.segment(image, 3, attempts=1)
    assert loaded > 100  # the mutations leave plenty of loadable files too
    assert time.perf_counter() - started < 60
