"""Hostile and awkward input, end to end: the library, the command line and the page.

Every file of tests/hostile_corpus.py (empty, renamed, damaged, decompression bombs of
every format, 1 x 1 and 1 x 5000, hidden colours under alpha, 16-bit, float, CMYK,
animated, rotated, SVG, HEIC, a PNG with a script and a ZIP appended, ...) goes through
``kseg.load_image``, ``kseg.segment``, ``kseg.cli.main`` and the page (AppTest). Each
gives the right pixels or a clear `kseg.ImageError`; nothing hangs or allocates much;
a colour under fully transparent pixels never becomes a cluster or shows; nothing the
visitor sent comes back verbatim (outputs are re-encoded from pixels) and neither the
file's name nor its text reaches the page. Then the server's limits, its configuration,
a quick fuzz of ``load_image``, and one browser test for what only a browser shows
(the uploader's own checks, XSRF, the upload size limit).

The page tests share one visitor session (module scope), as a person uploading file
after file would: each test compares the page with what it showed just before.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import streamlit.config
import streamlit.testing.v1.app_test as app_test_module
from app_support import APP, ROOT, TIMEOUT, metric, ok, palette_hexes, start, unescape, upload
from hostile_corpus import (
    CANARY,
    CASES,
    Case,
    case,
    fuzz_seeds,
    ids,
    mutate,
    png_claiming,
    quadrants,
)
from streamlit.testing.v1 import AppTest

import kseg
from kseg import export, figures
from kseg.cli import main as cli_main
from kseg.dashboard.cache import MemoryCache

PAGE_K = 5  # the visitor's k, kept through every upload
PAGE_SPACE = "CIELAB"
LOADABLE = [c for c in CASES if c.loads or c.may_fail]


# ----------------------------------------------------------------------------- helpers
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
    return bool(c.payload) and (c.payload[:40] in data or b"PK\x03\x04" in data)


def hexes(colours) -> set[str]:
    return {"#{:02x}{:02x}{:02x}".format(*colour) for colour in colours}


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


@pytest.mark.parametrize("c", [c for c in CASES if c.bomb], ids=ids([c for c in CASES if c.bomb]))
def test_bombs_cost_little_time_and_python_memory(c: Case, app_module):
    for max_pixels in (kseg.DEFAULT_MAX_PIXELS, app_module.MAX_PIXELS):
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


def test_bombs_do_not_raise_the_peak_resident_memory(app_module):
    """Pillow allocates pixels outside Python's allocator: measure the process's peak RSS.

    One fresh process loads every bomb after a warm-up; its peak resident memory
    (ru_maxrss, a high-water mark) may not grow by more than 64 MB. A bomb that got
    as far as allocating its pixels would add gigabytes.
    """
    growth = peak_rss_growth([c.key for c in CASES if c.bomb], app_module.MAX_PIXELS)
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


def test_a_16_bit_png_whose_chunk_claims_4_gb_costs_no_memory(app_module):
    """Regression: 16-bit colour PNGs are decoded by OpenCV, whose PNG reader allocated
    what a chunk's length field claimed: a 5 KB file whose IDAT claimed 4 GB took 4.2 GB
    of memory and 7 s (found by benchmarks/fuzz_load.py). load_image now hands OpenCV
    only files whose chunks fit in them; Pillow reads the others."""
    c = case("png16-chunk-4gb")
    started = time.perf_counter()
    with contextlib.suppress(kseg.ImageError):
        kseg.load_image(c.data)
    assert time.perf_counter() - started < 1.0
    assert peak_rss_growth([c.key], app_module.MAX_PIXELS) < 64 * 2**20


# ----------------------------------------------------------------------------- segment
@pytest.mark.parametrize("c", LOADABLE, ids=ids(LOADABLE))
def test_segment_gives_a_correct_result(c: Case):
    try:
        image = kseg.load_image(c.data)
    except kseg.ImageError:
        assert c.may_fail
        return
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


# ----------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("c", CASES, ids=ids())
def test_cli_writes_correct_files_or_reports_the_error(c: Case, tmp_path: Path, capsys):
    source = tmp_path / "in" / c.filename
    source.parent.mkdir()
    source.write_bytes(c.data)
    out = tmp_path / "out"
    argv = ["segment", str(source), "-k", str(c.k), "-o", str(out), "--labels", "--palette", "-q"]
    status = cli_main(argv)
    err = capsys.readouterr().err
    try:
        image = kseg.load_image(c.data)
    except kseg.ImageError as error:
        assert status == 1
        assert str(error) in err
        assert list(out.iterdir()) == []
        return
    assert status == 0, err
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    stem = Path(c.filename).stem
    assert set(written) == {f"{stem}.segmented.png", f"{stem}.labels.png", f"{stem}.palette.json"}
    segmented = np.asarray(PIL.Image.open(io.BytesIO(written[f"{stem}.segmented.png"])))
    assert segmented.shape[:2] == image.shape
    labels = np.asarray(PIL.Image.open(io.BytesIO(written[f"{stem}.labels.png"])))
    assert labels.shape == image.shape
    palette = json.loads(written[f"{stem}.palette.json"])
    for hidden in hexes(c.hidden):
        assert hidden not in {entry["hex"] for entry in palette["clusters"]}
    for data in written.values():
        assert not contains_payload(c, data)
        assert CANARY.encode() not in data


@pytest.mark.parametrize("c", CASES, ids=ids())
def test_cli_superpixels_writes_correct_files_or_reports_the_error(c: Case, tmp_path, capsys):
    source = tmp_path / "in" / c.filename
    source.parent.mkdir()
    source.write_bytes(c.data)
    out = tmp_path / "out"
    argv = ["superpixels", str(source), "-n", "30", "-o", str(out), "--boundaries", "-q"]
    status = cli_main([*argv, "--labels"])
    err = capsys.readouterr().err
    try:
        image = kseg.load_image(c.data)
    except kseg.ImageError as error:
        assert status == 1 and str(error) in err
        return
    assert status == 0, err
    for path in out.iterdir():
        data = path.read_bytes()
        assert not contains_payload(c, data) and CANARY.encode() not in data
        pixels = np.asarray(PIL.Image.open(io.BytesIO(data)))
        assert pixels.shape[:2] == image.shape
        if pixels.ndim == 3 and c.hidden:
            colours = {tuple(int(v) for v in p[:3]) for p in pixels.reshape(-1, pixels.shape[2])}
            assert not colours & set(c.hidden), path.name


# ----------------------------------------------------------------------------- the page
def page_text(at: AppTest) -> str:
    """Every element the page sent, as protobuf text: what a browser would receive."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


@pytest.fixture(scope="module")
def visitor() -> AppTest:
    """One visitor with their own k and colour space, uploading every file in turn."""
    at = start()
    ok(at.slider(key="k").set_value(PAGE_K).run())
    ok(at.radio(key="space").set_value(PAGE_SPACE).run())
    return at


@pytest.mark.parametrize("c", CASES, ids=ids())
def test_page_shows_the_result_or_a_clear_error_and_stays_usable(
    c: Case, visitor: AppTest, app_module
):
    at = visitor
    before = (metric(at, "Image size"), metric(at, "Distinct colours"), palette_hexes(at))
    name = f"visitor-{c.key}-{c.upload_name}"
    ok(upload(at, c.data, name, c.mime))
    # The visitor's parameters survive any upload, good or bad.
    assert at.slider(key="k").value == PAGE_K
    assert at.radio(key="space").value == PAGE_SPACE
    text = page_text(at)
    assert f"visitor-{c.key}" not in text and CANARY not in text
    try:
        image = kseg.load_image(c.data, max_pixels=app_module.MAX_PIXELS)
    except kseg.ImageError as error:
        assert len(at.error) == 1
        shown = unescape(at.error[0].value)
        assert str(error) in shown and "still shows the previous image" in shown
        assert (
            metric(at, "Image size"),
            metric(at, "Distinct colours"),
            palette_hexes(at),
        ) == before
        # Still usable: a new k works on the previous image, and back.
        ok(at.slider(key="k").set_value(PAGE_K + 1).run())
        assert len(palette_hexes(at)) == min(PAGE_K + 1, int(before[1].replace(",", "")))
        ok(at.slider(key="k").set_value(PAGE_K).run())
        assert palette_hexes(at) == before[2]
        return
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "Image size") == f"{image.width:,} x {image.height:,}"
    n_colours = kseg.ColorHistogram.from_image(image).n_colors
    assert metric(at, "Distinct colours") == f"{n_colours:,}"
    exact = c.distinct_opaque_colours()
    if exact is not None:
        assert n_colours == len(exact)
    shown = palette_hexes(at)
    assert len(shown) == min(PAGE_K, n_colours)
    assert not hexes(c.hidden) & set(shown)


def test_a_file_the_uploader_refuses_by_name_never_reaches_the_page():
    """The uploader takes JPEG, PNG, WebP, BMP, TIFF and GIF names only.

    A browser refuses other names before uploading ("image/heic files are not allowed",
    see the browser test); a crafted request that sends one anyway stops that visitor's
    own script run inside Streamlit, before the page's code runs. kseg's own message for
    such files is reached by renaming them, which the corpus does (``app_filename``).
    """
    at = start()
    at.file_uploader(key="upload").set_value(("IMG_0001.heic", b"\0" * 64, "image/heic")).run()
    assert at.exception and "Invalid file extension" in at.exception[0].value
    assert not at.metric  # nothing of the page ran: in particular kseg never saw the bytes


# ----------------------------------------------------------------------------- echoes
@pytest.fixture
def served(monkeypatch):
    """Every MediaFileManager AppTest makes (one per run): the files the page serves."""
    managers = []
    real = app_test_module.MediaFileManager

    class Recording(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    return managers


def served_files(managers) -> dict[str, bytes]:
    """Images and media of every run, and every download button's file (made on click)."""
    files: dict[str, bytes] = {}
    for i, manager in enumerate(managers):
        for file_id, stored in manager._storage._files_by_id.items():
            files[f"run{i}/media/{file_id}"] = bytes(stored.content)
        for entry in manager._deferred_callables.values():
            data = entry["callable"]()
            files[f"run{i}/download/{entry['filename']}"] = (
                data.encode() if isinstance(data, str) else bytes(data)
            )
    return files


def test_nothing_uploaded_is_echoed_back(served):
    """The PNG with a script and a ZIP after IEND: every image, preview and download the
    page serves is made from pixels, so the appended bytes are never in any of them."""
    c = case("png-with-zip")
    at = start()
    ok(upload(at, c.data, c.filename))
    assert metric(at, "Image size") == "40 x 30"
    for tab in ("Segment", "Compare", "Isolate", "Downloads"):
        at.session_state["tab"] = tab
        ok(at.run())
    files = served_files(served)
    downloads = [name for name in files if "/download/" in name]
    assert len(downloads) >= 6  # the mask and the five files of the Downloads tab
    for name, data in files.items():
        assert data != c.data, name
        assert not contains_payload(c, data), name
        assert CANARY.encode() not in data, name
    # And the library's own outputs.
    seg = kseg.segment(kseg.load_image(c.data), 4)
    for data in (
        export.segmented_png(seg),
        export.label_map_png(seg),
        export.palette_json(seg).encode(),
        export.palette_csv(seg).encode(),
        export.params_json(seg).encode(),
    ):
        assert not contains_payload(c, data)


def test_a_script_in_the_file_name_never_reaches_the_page_or_the_downloads(served):
    names = [
        "<script>alert(1)</script>.png",
        "../../etc/passwd.png",
        '"><img src=x onerror=alert(1)>.png',
    ]
    at = start()
    good = export.encode_png(quadrants(30, 20))
    for name in names:
        ok(upload(at, good, name))
        assert not at.error
        ok(upload(at, b"<script>alert(1)</script>", name))  # and as an error
        assert len(at.error) == 1
        text = page_text(at) + "".join(e.value for e in at.error)
        for needle in ("alert(1)", "<script", "passwd", "onerror", "<img"):
            assert needle not in text, (name, needle)
    at.session_state["tab"] = "Downloads"
    ok(at.run())
    assert "kseg segment IMAGE " in at.code[0].value
    names_served = [n.split("/download/")[1] for n in served_files(served) if "/download/" in n]
    assert names_served and all(re.fullmatch(r"kseg-upload-k\d+[\w.-]*", n) for n in names_served)


_WRITES: list[str] | None = None


def _record_writes(event: str, args: tuple) -> None:
    if _WRITES is None or event != "open":
        return
    path, mode, flags = args
    writing = (isinstance(mode, str) and any(ch in mode for ch in "wax+")) or (
        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    )
    if writing:
        _WRITES.append(str(path))


def test_uploads_never_touch_the_disk():
    """Nothing is opened for writing while the page reads an upload and segments it, and
    no file appears in the temporary folder or the working directory."""
    global _WRITES
    at = start()
    data = export.encode_png(quadrants(50, 40)) + b"UNIQUE-UPLOAD-MARKER"
    folders = [Path(tempfile.gettempdir()), Path.cwd(), ROOT]
    listings = [set(folder.iterdir()) for folder in folders]
    if not getattr(sys, "_kseg_write_hook", False):
        sys.addaudithook(_record_writes)  # hooks cannot be removed: it records only on demand
        sys._kseg_write_hook = True
    _WRITES = []
    try:
        ok(upload(at, data, "photo.png"))
        ok(at.slider(key="k").set_value(3).run())
        writes, _WRITES = _WRITES, None
    finally:
        _WRITES = None
    assert metric(at, "Image size") == "50 x 40"
    # numba may update its on-disk cache of compiled kernels; nothing else is written.
    writes = [w for w in writes if "__pycache__" not in w and not w.endswith((".nbi", ".nbc"))]
    assert writes == []
    # Other processes share the temporary folder: only a new file holding the upload counts.
    new = [p for f, old in zip(folders, listings, strict=True) for p in set(f.iterdir()) - old]
    assert not [p for p in new if p.is_file() and b"UNIQUE-UPLOAD-MARKER" in _head(p)]


def _head(path: Path, size: int = 1 << 20) -> bytes:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return f.read(size)
    return b""


# ----------------------------------------------------------------------------- what shows
def test_the_page_never_renders_text_as_html():
    source = (ROOT / "app.py").read_text()
    assert "unsafe_allow_html" not in source
    assert not re.search(r"\bst\.html\(|components\.v1|components\.html|st\.components", source)


def test_messages_from_files_are_escaped_before_markdown():
    """Text that comes from an image (kseg's messages, notes and warnings) is shown as
    text: everywhere the page puts it into Markdown it goes through plain(), which
    escapes every Markdown and HTML special character (tested in test_app.py)."""
    elements = ("error", "warning", "info", "success", "markdown", "caption", "write", "toast")
    from_image = re.compile(r"\b(err|error|exc|note|notes|warning|warnings|message)\b|_error")

    def escaped(node: ast.expr) -> bool:
        return isinstance(node, ast.Call) and getattr(node.func, "id", "") == "plain"

    unsafe = []
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in elements or not node.args:
            continue
        text = node.args[0]
        parts = (
            [v.value for v in text.values if isinstance(v, ast.FormattedValue)]
            if (isinstance(text, ast.JoinedStr))
            else [text]
        )
        for part in parts:
            if not escaped(part) and from_image.search(ast.unparse(part)):
                unsafe.append(ast.unparse(node)[:100])
    assert unsafe == []


def test_visitors_never_see_a_stack_trace(monkeypatch):
    """With the page's config (client.showErrorDetails = "none"), an unexpected error in
    the page shows Streamlit's generic message: no exception text, no traceback."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    streamlit.config.get_option("client.showErrorDetails")
    streamlit.config.set_option("client.showErrorDetails", "none")
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()

        def broken(*args, **kwargs):
            raise RuntimeError(f"secret {CANARY} /srv/app/internal.py line 42")

        monkeypatch.setattr(kseg, "segment", broken)
        at.number_input(key="seed").set_value(987_654).run()  # a new result: no cache hit
    finally:
        streamlit.config.set_option("client.showErrorDetails", "full")
    assert at.exception
    assert "redacted" in at.exception[0].message
    assert not at.exception[0].stack_trace
    assert CANARY not in page_text(at) and "internal.py" not in page_text(at)


# ----------------------------------------------------------------------------- limits
def test_config_protects_the_server():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    assert server.get("enableCORS", True) is True
    assert 1 <= server["maxUploadSize"] <= 50
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["browser"]["gatherUsageStats"] is False
    assert server.get("maxMessageSize", 200) <= 200


def test_the_pixel_limit_is_what_a_visitor_sees(app_module):
    limit = app_module.MAX_PIXELS
    assert limit == 25_000_000
    at = start()
    ok(upload(at, png_claiming(5001, 5000), "huge.png"))
    shown = unescape(at.error[0].value)
    assert "5001 x 5000 pixels (25.1 megapixels); kseg accepts at most 25 megapixels" in shown
    assert metric(at, "Image size") == "600 x 400"
    # Exactly at the limit the size is accepted (this one then fails as truncated).
    with pytest.raises(kseg.ImageError, match="damaged or incomplete"):
        kseg.load_image(png_claiming(5000, 5000), max_pixels=limit)


def test_caches_keyed_on_visitor_images_are_bounded(app_module):
    """Every function of app.py that takes an image digest keeps its results in the one
    memory-bounded cache (never in an unbounded st.cache_*), which has a lifetime: the
    server keeps a bounded amount of visitors' photos and results, however many come."""
    tree = ast.parse((ROOT / "app.py").read_text())
    checked = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        if "digest" not in [a.arg for a in node.args.args]:
            continue
        if node.name in ("segmentation", "region_segmentation"):
            continue  # they put the histogram back on a kept result (_segmentation() ...)
        decorators = [ast.unparse(d) for d in node.decorator_list]
        assert decorators == ["kept"], (node.name, decorators)
        checked += 1
    assert checked >= 8
    cache = app_module.results_cache(app_module.CACHE_MB)
    assert cache.max_bytes == app_module.CACHE_MB * 2**20
    assert 0 < cache.ttl <= 24 * 3600


def test_security_md_states_the_limits_in_force(app_module):
    text = (ROOT / "SECURITY.md").read_text()
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert f"{config['server']['maxUploadSize']} MB" in text
    assert f"{app_module.MAX_PIXELS // 1_000_000} megapixels" in text
    assert f"{kseg.DEFAULT_MAX_PIXELS // 1_000_000} megapixels" in text
    assert "enableXsrfProtection" in text and "showErrorDetails" in text


# ----------------------------------------------------------------------------- regressions
def test_colours_under_transparent_pixels_never_show_in_the_preview():
    """Regression: figures.downscale kept the colours stored under alpha 0 (the preview
    PNG carried them) and, when shrinking, averaged them into opaque neighbours, so a
    hidden magenta patch showed as a magenta fringe on the page's "Original"."""
    c = case("rgba-hidden")
    image = kseg.load_image(c.data)
    for side in (1200, 20):
        small = figures.downscale(image.rgb, image.alpha, side)
        visible = small[small[:, :, 3] > 0][:, :3].astype(int)
        for colour in (np.array(c.hidden[0]), np.array(c.hidden[1])):
            assert np.abs(visible - colour).sum(axis=1).min() > 200
        assert (small[small[:, :, 3] == 0][:, :3] == 0).all()
        # Opaque colours stay what they were, even where an area is partly transparent.
        near = lambda p, q: np.abs(p - np.array(q)).sum(axis=1) <= 6  # noqa: E731
        assert (near(visible, (220, 30, 30)) | near(visible, (20, 40, 220))).all()


def test_colours_under_transparent_pixels_never_show_when_isolating():
    """Regression: figures.isolate drew transparent pixels as a grey of the colour stored
    under them, so the Isolate tab revealed a hidden patch's shape."""
    c = case("rgba-hidden")
    image = kseg.load_image(c.data)
    seg = kseg.segment(image, 2)
    for dim in (1.0, 0.2):
        out = figures.isolate(seg, [0], dim=dim)
        assert (out[~image.alpha] == 0).all()


def test_superpixel_boundaries_never_show_colours_under_transparent_pixels(tmp_path):
    """Regression: Superpixels.overlay() copied the stored colours of transparent pixels,
    so `kseg superpixels --boundaries` (an RGB PNG) showed a hidden patch as it was."""
    c = case("rgba-hidden")
    image = kseg.load_image(c.data)
    drawn = kseg.superpixels(image, 20).overlay()
    assert (drawn[~image.alpha] == 0).all()


def test_cached_segmentations_do_not_keep_evicted_photos_alive(monkeypatch):
    """Regression: the page's segmentation cache (48 entries) kept each result's histogram,
    hence the decoded photo, alive after load() evicted it: one visitor uploading photo
    after photo grew the server by every photo (gigabytes at 12 MP). With a 1 MB cache,
    a dozen 180 KB photos: the cache stays within its budget and so do the live photos."""
    monkeypatch.setenv("KSEG_CACHE_MB", "1")
    at = start()
    shape = (200, 300)
    for i in range(12):
        rng = np.random.default_rng(i)
        rgb = rng.integers(0, 256, (40, 3), dtype=np.uint8)[rng.integers(0, 40, shape)]
        ok(upload(at, export.encode_png(rgb), f"p{i}.png"))
        assert metric(at, "Image size") == "300 x 200"
    gc.collect()
    objects = gc.get_objects()
    cache = next(o for o in objects if isinstance(o, MemoryCache) and o.max_bytes == 2**20)
    assert 0 < cache.nbytes <= cache.max_bytes
    alive = [o for o in objects if isinstance(o, kseg.ColorHistogram) and o.shape == shape]
    # Each holds its 180 KB of pixels: at most what 1 MB holds, plus the one on show.
    assert 1 <= len(alive) <= 1 + 2**20 // (200 * 300 * 3)


def test_eight_visitors_photos_stay_decoded_together(app_module, monkeypatch):
    """Regression: load() kept six photos, so eight visitors at once evicted each other's
    and every rerun (a new k) decoded a 12 MP photo again: under benchmarks/load.py the
    k steps' p95 went from 10 s to 17 s."""
    # A 12 MP photo holds 36 MB of pixels and about 15 MB of colour tables once shown.
    assert app_module.CACHE_MB * 2**20 >= 8 * 51e6
    decoded = []
    real = kseg.load_image

    def counting(data, **kwargs):
        decoded.append(data)
        return real(data, **kwargs)

    monkeypatch.setattr(kseg, "load_image", counting)
    photos = [export.encode_png(np.full((6, 7 + i, 3), 40 + i, np.uint8)) for i in range(8)]
    for _ in range(3):  # three rounds of reruns by the eight visitors
        for data in photos:
            app_module.load(app_module._digest(data), data)
    assert len(decoded) == 8


_TRIM_SCRIPT = """
import sys
sys.path[:0] = {paths!r}
import numpy as np, psutil
import app
process = psutil.Process()
# 3,000 arrays of 60 KB (under glibc's mmap threshold, so on its heap); keep every tenth,
# so the freed ones sit between live ones and glibc cannot give them back by itself.
arrays = [np.ones(7_500) for _ in range(3_000)]
kept = arrays[::10]
del arrays
before = process.memory_info().rss
app.give_back_memory()
print(before - process.memory_info().rss)
"""


def test_the_page_gives_freed_memory_back(app_module):
    """Regression: after each rerun, memory numpy had freed stayed in glibc's heaps, so
    the server's RSS in benchmarks/soak.py wandered by +-40 MB with the same live data
    (and sat hundreds of MB above it). app.py trims the heaps at the end of every run."""
    assert app_module._malloc_trim() is not None  # glibc, as on Debian and Streamlit Cloud
    script = _TRIM_SCRIPT.format(paths=[str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    given_back = int(done.stdout.split()[-1])
    assert given_back > 100 * 2**20, f"{given_back / 2**20:.0f} MB given back"
    source = (ROOT / "app.py").read_text()
    assert "    try:\n        main()\n    finally:\n        give_back_memory()" in source


def test_at_most_two_photos_are_decoded_at_once(app_module, monkeypatch):
    """Regression: eight 12 MP uploads at once were all decoded at once, sending the
    server's peak memory as high as 2.2 GB of its 2.5 GB budget (benchmarks/load.py)."""
    import threading

    running, most = [0], [0]
    lock = threading.Lock()
    real = kseg.load_image

    def slow(data, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return real(data, **kwargs)

    monkeypatch.setattr(kseg, "load_image", slow)
    photos = [export.encode_png(np.full((5, 9 + i, 3), 90 + i, np.uint8)) for i in range(6)]
    threads = [
        threading.Thread(target=app_module.load, args=(app_module._digest(d), d)) for d in photos
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most[0] == app_module.DECODE_SLOTS == 2


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


def test_opencv_engine_with_more_centres_than_pixels_is_a_clear_error(tmp_path, capsys):
    """Regression: custom centres with the opencv engine on an image with fewer opaque
    pixels than centres raised cv2.error: the page broke (Streamlit's generic error, for
    as long as the link kept those settings) and the CLI crashed with a traceback."""
    two = np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)
    centres = [[0, 0, 0], [9, 9, 9], [200, 200, 200]]
    with pytest.raises(kseg.ImageError, match=r"at least as many opaque pixels as clusters"):
        kseg.segment(two, 3, init=centres, engine="opencv")
    # The command line reports it and goes on.
    (tmp_path / "two.png").write_bytes(export.encode_png(two))
    saved = export.palette_json(kseg.segment(quadrants(), 3))
    (tmp_path / "palette.json").write_text(saved)
    argv = ["segment", str(tmp_path / "two.png"), "--init", str(tmp_path / "palette.json")]
    status = cli_main([*argv, "--engine", "opencv", "-o", str(tmp_path / "out"), "-q"])
    assert status == 1
    assert "at least as many opaque pixels" in capsys.readouterr().err
    # The page shows why and keeps working.
    at = start()
    ok(upload(at, export.encode_png(two), "two.png"))
    ok(at.radio(key="engine").set_value("OpenCV").run())
    ok(at.radio(key="init").set_value("custom").run())
    ok(at.slider(key="k").set_value(3).run())
    assert "at least as many opaque pixels" in unescape(at.error[0].value)
    ok(at.radio(key="engine").set_value("kseg").run())
    assert not at.error and len(palette_hexes(at)) == 2


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


# ----------------------------------------------------------------------------- a browser
@pytest.mark.browser
def test_in_a_browser_names_sizes_and_forged_requests_are_refused(tmp_path: Path):
    """What only a real server and browser show.

    - an upload without the XSRF token is refused (403), so other sites cannot post
      files into a visitor's session;
    - a file named ``<script>alert(1)</script>.png`` runs no script: the uploader lists
      the name as text, the page shows it nowhere else;
    - a name the uploader does not take (.heic) and a file over server.maxUploadSize
      are refused in the browser with the uploader's own message, the photo stays;
    - a forged upload over the limit, with a valid token, is refused by the server (413).
    """
    playwright_sync = pytest.importorskip("playwright.sync_api")
    from browser_support import StreamlitServer, chromium, open_app, wait_until_settled

    expect = playwright_sync.expect
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    limit_mb = config["server"]["maxUploadSize"]
    with StreamlitServer("app.py") as server, chromium() as browser:
        assert forged_upload(server.url, "/_stcore/upload_file/any/any", None, [b"x"]) == 403
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        dialogs, upload_urls = [], []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda r: upload_urls.append(r.url) if "upload_file" in r.url else 0)
        open_app(page, server.url, 180_000)
        size = page.get_by_test_id("stMetricValue").last
        uploader = page.get_by_test_id("stFileUploader")
        dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")

        name = "<script>alert(1)</script>.png"
        png = export.encode_png(quadrants(60, 40))
        dropzone.set_input_files(files=[{"name": name, "mimeType": "image/png", "buffer": png}])
        expect(size).to_have_text("60 x 40")
        wait_until_settled(page)
        assert dialogs == []
        html = page.content()
        assert name not in html
        assert not page.evaluate("[...document.scripts].some(s => s.text.includes('alert(1)'))")
        body = page.locator("[data-testid='stMain']").inner_text()
        assert "alert" not in body and "script" not in body

        dropzone.set_input_files(
            files=[{"name": "IMG_0001.heic", "mimeType": "image/heic", "buffer": b"x" * 64}]
        )
        expect(uploader).to_contain_text("files are not allowed")
        big = tmp_path / "big.png"
        big.write_bytes(b"\0" * ((limit_mb * 2**20) + 1))
        dropzone.set_input_files(big)
        expect(uploader).to_contain_text(f"File must be {limit_mb:.1f}MB or smaller")
        wait_until_settled(page)
        expect(size).to_have_text("60 x 40")
        assert not page.get_by_test_id("stAlert").count()

        session = upload_urls[0].split("/upload_file/")[1].split("/")[0]
        token = next(c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf")
        path = f"/_stcore/upload_file/{session}/forged"  # the page's session stays open
        assert forged_upload(server.url, path, None, [png]) == 403  # no token
        assert forged_upload(server.url, path, token, [png]) == 204  # the token is the key
        megabyte = bytes(2**20)
        too_big = [megabyte] * (limit_mb + 1)
        assert forged_upload(server.url, path, token, too_big) == 413  # streamed, no length
        assert forged_upload(server.url, path, token, [png], claim=(limit_mb + 1) * 2**20) == 413
        context.close()


def forged_upload(url: str, path: str, token: str | None, parts, claim: int | None = None) -> int:
    """PUT a multipart upload the way a script (not the page) would; the HTTP status.

    Without `claim` the body is sent chunked, with no length, as a request that hides its
    size would; with it, the Content-Length header claims `claim` bytes.
    """
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    boundary = "kseg-forged-upload"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if token is not None:
        headers |= {"X-Xsrftoken": token, "Cookie": f"_streamlit_xsrf={token}"}
    try:
        if claim is None:
            body = iter([head, *parts, tail])
            connection.request("PUT", path, body=body, headers=headers, encode_chunked=True)
        else:
            connection.request("PUT", path, body=head + b"".join(parts) + tail,
                               headers=headers | {"Content-Length": str(claim)})  # fmt: skip
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the whole body was sent
    try:
        return connection.getresponse().status
    finally:
        connection.close()
