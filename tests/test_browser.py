"""kseg's page in a real headless Chromium: open, upload, change k, download, errors, links.

One Streamlit server runs ``app.py`` for the whole module (its output is attached to any
failure's report); every test gets a fresh browser page. The page is driven the way a
visitor does it: files through the uploader's input, k through the slider's keyboard
handling, files through the download button. Synchronisation waits for the content that
must change (an image's ``src``, a caption, a row count) and then for the app to settle;
no fixed sleeps.

Run with ``python -m pytest -m browser tests/test_browser.py`` (about a minute).
"""

from __future__ import annotations

import importlib.util
import re
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from browser_support import ROOT, StreamlitServer, chromium, open_app, wait_until_settled

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms, for any one thing the page must show
FIRST_OPEN_TIMEOUT = 180_000  # the first run warms up the numba kernels
SEGMENTED_IMG = ".st-key-segmented [data-testid='stImage'] img"
ORIGINAL_IMG = ".st-key-original [data-testid='stImage'] img"
K_SLIDER = ".st-key-k input[type='range']"
K_SHOWN = ".st-key-k [data-testid='stSliderThumbValue']"
PALETTE_GRID = ".st-key-palette [role='grid']"
CENTRES_CHART = ".st-key-centres .js-plotly-plot"

# Five flat colours (RGB), far apart, for the uploaded test photo.
BLOCK_COLOURS = [(220, 40, 40), (40, 170, 60), (40, 70, 210), (235, 220, 60), (30, 30, 30)]


# ----------------------------------------------------------------------------- fixtures
class _ServerLogOnFailure:
    """Attaches the server's output to the report of any failing test that used it."""

    def __init__(self, server: StreamlitServer) -> None:
        self.server = server

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Iterator[Any]:
        report = yield
        if report.failed and "app_server" in getattr(item, "fixturenames", ()):
            lines = self.server.log().splitlines()[-200:]
            report.sections.append(("streamlit server output (last 200 lines)", "\n".join(lines)))
        return report


@pytest.fixture(scope="module")
def app_server(request: pytest.FixtureRequest) -> Iterator[StreamlitServer]:
    server = StreamlitServer("app.py")
    plugin = _ServerLogOnFailure(server)
    request.config.pluginmanager.register(plugin)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        request.config.pluginmanager.unregister(plugin)
        server.cleanup()


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    expect.set_options(timeout=TIMEOUT)
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def warmed_up(app_server: StreamlitServer, chromium_browser: Any) -> str:
    """The server's URL, after one full first run (numba warm-up) has finished."""
    page = chromium_browser.new_page()
    try:
        open_app(page, app_server.url, FIRST_OPEN_TIMEOUT)
    finally:
        page.close()
    return app_server.url


@pytest.fixture
def new_page(chromium_browser: Any, warmed_up: str) -> Iterator[Any]:
    """A fresh browser context and page (not yet on the app)."""
    context = chromium_browser.new_context(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def app_page(new_page: Any, warmed_up: str) -> Any:
    """A fresh page with the app open on its default sample."""
    open_app(new_page, warmed_up, TIMEOUT)
    return new_page


# ----------------------------------------------------------------------------- helpers
def blocks_photo(path: Path, *, seed: int = 0) -> Path:
    """A 600x400 photo of five vertical flat colour blocks with mild noise."""
    rgb = np.empty((400, 600, 3), np.float32)
    for i, colour in enumerate(BLOCK_COLOURS):
        rgb[:, i * 120 : (i + 1) * 120] = colour
    rgb += np.random.default_rng(seed).normal(0, 3.0, rgb.shape)
    bgr = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), bgr)
    return path


def segmented_src(page: Any) -> str:
    return page.locator(SEGMENTED_IMG).get_attribute("src")


def upload(page: Any, path: Path) -> None:
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))


def wait_for_new_segmented(page: Any, old_src: str, main_text: str = "") -> None:
    """Wait until the segmented image has a new src and has loaded, the main area shows
    ``main_text``, and the app has settled (all checked at once, as a replaced upload
    can pass through a run that shows the sample)."""
    page.wait_for_function(
        """([selector, old, text]) => {
            const img = document.querySelector(selector);
            const app = document.querySelector("[data-testid='stApp']");
            const main = document.querySelector("[data-testid='stMain']");
            return img !== null && img.src !== old && img.complete && img.naturalWidth > 0
                && main !== null && main.innerText.includes(text)
                && app.getAttribute("data-test-script-state") === "notRunning";
        }""",
        arg=[SEGMENTED_IMG, old_src, main_text],
        timeout=TIMEOUT,
    )
    wait_until_settled(page, TIMEOUT)


def palette_rows(page: Any) -> int:
    """Data rows of the palette table (the grid's aria-rowcount counts the header too)."""
    return int(page.locator(PALETTE_GRID).get_attribute("aria-rowcount")) - 1


def chart_centres(page: Any) -> int:
    """Markers of the 3D chart's "centres" trace, read from the plotly div's data."""
    return page.evaluate(
        """() => {
            for (const div of document.querySelectorAll(".st-key-centres .js-plotly-plot")) {
                const trace = (div.data || []).find((t) => t.name === "centres");
                if (trace) return trace.x.length;
            }
            return -1;
        }"""
    )


def assert_no_error(page: Any) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def expect_segment_view(page: Any, k: int) -> None:
    """Original and segmented images shown, k on the slider and in the caption, k palette rows."""
    expect(page.locator(ORIGINAL_IMG)).to_be_visible()
    expect(page.locator(SEGMENTED_IMG)).to_be_visible()
    expect(page.locator(".st-key-segmented")).to_contain_text(f"Segmented into {k} colours")
    expect(page.locator(K_SHOWN)).to_have_text(str(k))
    expect(page.locator(PALETTE_GRID)).to_have_attribute("aria-rowcount", str(k + 1))


def expect_centres_chart(page: Any, k: int) -> None:
    """The 3D chart (always on the Segment tab) draws k centres."""
    expect(page.locator(".st-key-centres").get_by_test_id("stPlotlyChart")).to_be_visible()
    page.wait_for_function(
        """([selector, k]) => [...document.querySelectorAll(selector)].some(
            (div) => (div.data || []).some((t) => t.name === "centres" && t.x.length === k))""",
        arg=[CENTRES_CHART, k],
        timeout=TIMEOUT,
    )
    wait_until_settled(page, TIMEOUT)
    assert chart_centres(page) == k


def load_bench_app() -> Any:
    spec = importlib.util.spec_from_file_location("bench_app", ROOT / "benchmarks" / "bench_app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_app"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- tests
def test_opens_on_a_sample_with_images_metrics_palette_and_chart(app_page: Any) -> None:
    page = app_page
    expect(
        page.get_by_test_id("stMarkdownContainer").filter(has_text="Coffee cup")
    ).not_to_have_count(0)
    assert_no_error(page)
    k = int(page.locator(K_SLIDER).get_attribute("value"))
    expect_segment_view(page, k)
    for img in (ORIGINAL_IMG, SEGMENTED_IMG):
        assert page.locator(img).evaluate("(el) => el.complete && el.naturalWidth > 0")
    metrics = page.get_by_test_id("stMetricValue")
    expect(metrics).to_have_count(5)
    assert all(text.strip() for text in metrics.all_inner_texts())
    expect(page.get_by_test_id("stMetric").filter(has_text="Image size")).to_contain_text(
        "600 x 400"
    )
    assert palette_rows(page) == k
    expect_centres_chart(page, k)
    assert "show_3d" not in page.url  # the chart is always shown: nothing to say in a link
    assert_no_error(page)


def test_upload_change_k_and_download_full_resolution(app_page: Any, tmp_path: Path) -> None:
    page = app_page
    photo = blocks_photo(tmp_path / "blocks.png")
    before = segmented_src(page)
    upload(page, photo)
    wait_for_new_segmented(page, before, "Your photo")
    expect(page.get_by_test_id("stMetric").filter(has_text="Image size")).to_contain_text(
        "600 x 400"
    )

    k = int(page.locator(K_SLIDER).get_attribute("value"))
    new_k = k + 1 if k < len(BLOCK_COLOURS) else k - 1
    before = segmented_src(page)
    page.locator(K_SLIDER).press("ArrowRight" if new_k > k else "ArrowLeft")
    expect(page.locator(K_SHOWN)).to_have_text(str(new_k))
    wait_for_new_segmented(page, before)
    expect_segment_view(page, new_k)
    assert palette_rows(page) == new_k
    expect_centres_chart(page, new_k)
    assert_no_error(page)
    assert re.search(rf"[?&]k={new_k}(&|$)", page.url), page.url  # the shareable link follows

    page.get_by_role("tab", name="Downloads").click()
    button = page.get_by_test_id("stDownloadButton").get_by_role(
        "button", name="Segmented image (PNG)"
    )
    expect(button).to_be_visible()
    with page.expect_download(timeout=TIMEOUT) as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".png")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    pixels = cv2.imread(str(saved), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, "the download is not a readable PNG"
    assert pixels.shape[:2] == (400, 600)  # full resolution, not the display copy
    colours = np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)
    assert len(colours) <= new_k
    if new_k == len(BLOCK_COLOURS):  # known answer: each block gets its own colour
        centres = {tuple(pixels[200, i * 120 + 60]) for i in range(len(BLOCK_COLOURS))}
        assert len(centres) == len(BLOCK_COLOURS)


def test_bad_upload_shows_an_error_and_keeps_the_previous_image(
    app_page: Any, tmp_path: Path
) -> None:
    """A bad file dropped over a good upload changes nothing but says why.

    Regression: Streamlit may rerun with no file between removing the old upload and
    adding the new one; the page took that for "photo removed" and went back to the
    sample, so the good photo was lost while the error said it was still shown. The
    race was hit about half the time, hence three rounds. The uploader now hands each
    file over and lists none, so there is no such run; refused SVG and HEIC files get
    kseg's message and do not pile up (issue 10); "Remove your photo" goes back to the
    sample the picker names.
    """
    page = app_page
    bad = tmp_path / "photo.jpg"
    bad.write_text("These are holiday notes, not a photo.\n" * 20)
    chips = page.get_by_test_id("stFileChip")
    alert = page.get_by_test_id("stAlert").filter(has_text="could not be used")
    for round_ in range(3):
        before = segmented_src(page)
        upload(page, blocks_photo(tmp_path / f"good{round_}.png", seed=round_))
        wait_for_new_segmented(page, before, f"good{round_}.png")
        good_src = segmented_src(page)
        good_original = page.locator(ORIGINAL_IMG).get_attribute("src")
        expect(chips).to_have_count(0)

        upload(page, bad)
        expect(alert).to_be_visible()
        expect(alert.get_by_test_id("stAlertContentError")).to_be_visible()
        wait_until_settled(page, TIMEOUT)
        expect(alert).to_contain_text("not a recognised image")
        expect(alert).to_contain_text("still shows your photo")
        # named, made safe (this name is safe as it is), so the visitor knows which file
        expect(alert).to_contain_text("photo.jpg could not be used")
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.locator(SEGMENTED_IMG)).to_be_visible()
        expect(page.locator(ORIGINAL_IMG)).to_be_visible()
        main_text = page.get_by_test_id("stMain").inner_text()
        assert f"good{round_}.png" in main_text, f"round {round_}: the good upload was dropped"
        assert segmented_src(page) == good_src
        assert page.locator(ORIGINAL_IMG).get_attribute("src") == good_original
        expect(chips).to_have_count(0)

    heic = struct.pack(">I", 24) + b"ftypheic" + bytes(4) + b"mif1heic" + bytes(64)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'
    refused = [("drawing.svg", "image/svg+xml", svg, "SVG"), ("IMG_0001.HEIC", "image/heic",
               heic, "HEIC photos from iPhones: choose 'Most compatible'")]  # fmt: skip
    for name, mime, data, says in refused * 2:
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}]
        )
        expect(alert).to_contain_text(says)
        wait_until_settled(page, TIMEOUT)
        expect(chips).to_have_count(0)
        expect(page.get_by_test_id("stUploadedFileErrorMessage")).to_have_count(0)
    assert "good2.png" in page.get_by_test_id("stMain").inner_text()

    before = segmented_src(page)
    page.get_by_role("button", name="Remove your photo and show the coffee sample").click()
    wait_for_new_segmented(page, before, "Coffee cup")
    expect(alert).to_have_count(0)
    assert "Your photo" not in page.get_by_test_id("stMain").inner_text()


def test_shareable_link_sets_the_controls(new_page: Any, warmed_up: str) -> None:
    page = new_page
    open_app(page, f"{warmed_up}/?k=7&space=CIELAB&seed=3&show_3d=true", TIMEOUT)
    expect(page.locator(K_SHOWN)).to_have_text("7")
    assert page.locator(K_SLIDER).get_attribute("value") == "7"
    expect(page.locator(".st-key-space input[type='radio'][value]:checked")).to_have_count(1)
    checked_space = page.locator(".st-key-space label").filter(has=page.locator("input:checked"))
    expect(checked_space).to_contain_text("CIELAB")
    expect(page.locator(".st-key-seed input")).to_have_value("3")
    expect_segment_view(page, 7)
    expect(page.locator(CENTRES_CHART)).to_have_count(1)  # an old link's show_3d: no harm
    expect_centres_chart(page, 7)
    assert_no_error(page)


def test_bench_app_quick_mode_prints_its_table(chromium_browser: Any, warmed_up: str) -> None:
    bench_app = load_bench_app()
    lines: list[str] = []
    result = bench_app.run(
        quick=True, browser=chromium_browser, kseg_url=warmed_up, log=lines.append
    )
    rows = result["table"].splitlines()
    assert rows[0] == "| page | action | median s | n | ratio recipe/kseg |"
    assert rows[1].startswith("|---")
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]
    assert [(c[0], c[1]) for c in cells] == [("kseg", "cold"), ("kseg", "warm")]
    for cell in cells:
        assert float(cell[2]) > 0 and cell[3] == "1" and cell[4] == "-"
    assert len(result["verdicts"]) == 2
    assert all(re.match(r"(PASS|FAIL): kseg (cold|warm) median", v) for v in result["verdicts"])
    assert (
        len(result["kseg_shown_k"]) == 2 and result["kseg_shown_k"][0] != result["kseg_shown_k"][1]
    )


# ----------------------------------------------------------------------------- superpixels tab
SP_SUPERPIXELS_IMG = ".st-key-sp_superpixels [data-testid='stImage'] img"
SP_SEGMENTED_IMG = ".st-key-sp_segmented [data-testid='stImage'] img"
SP_PALETTE_GRID = ".st-key-sp_palette [role='grid']"


def loaded_src(page: Any, selector: str, old: str | None = None) -> str:
    """The src of the image at ``selector`` once it has loaded (and differs from ``old``)."""
    page.wait_for_function(
        """([selector, old]) => {
            const img = document.querySelector(selector);
            return img !== null && img.src !== old && img.complete && img.naturalWidth > 0;
        }""",
        arg=[selector, old],
        timeout=TIMEOUT,
    )
    return page.locator(selector).get_attribute("src")


def assert_inside_their_columns(page: Any, selectors: list[str]) -> None:
    """Regression: the Superpixels tab drew its pictures at their own width (600 px for
    the default sample) in columns of about 440 px at 1400 px, so they overlapped each
    other and ran past the page's right edge."""
    boxes = []
    for selector in selectors:
        image = page.locator(selector).bounding_box()
        column = (
            page.locator(selector)
            .locator("xpath=ancestor::*[@data-testid='stColumn'][1]")
            .bounding_box()
        )
        assert image["x"] >= column["x"] - 1, selector
        assert image["x"] + image["width"] <= column["x"] + column["width"] + 1, selector
        boxes.append(image)
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left["x"] + left["width"] <= right["x"] + 1  # side by side, not overlapping


def test_a_link_opens_the_superpixels_tab(new_page: Any, warmed_up: str) -> None:
    page = new_page
    # The tab's first use on this server loads the superpixel kernels: the first-open wait.
    open_app(page, f"{warmed_up}/?tab=Superpixels", FIRST_OPEN_TIMEOUT)
    expect(page.get_by_role("tab", name="Superpixels")).to_have_attribute("aria-selected", "true")
    fill_src = loaded_src(page, SP_SUPERPIXELS_IMG)
    loaded_src(page, SP_SEGMENTED_IMG)
    regions = page.get_by_test_id("stMetric").filter(has_text="Regions")
    expect(regions.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"^\d[\d,]*$"))
    expect(page.locator(".st-key-sp_superpixels")).to_contain_text(
        f"{regions.get_by_test_id('stMetricValue').inner_text()} superpixels: mean colours"
    )
    expect(page.locator(".st-key-sp_segmented")).to_contain_text("Regions then colours: 4 colours")
    expect(page.locator(SP_PALETTE_GRID)).to_have_attribute("aria-rowcount", "5")
    assert_no_error(page)
    assert_inside_their_columns(page, [SP_SUPERPIXELS_IMG, SP_SEGMENTED_IMG])

    # The other view: the boundaries over the original, and the link follows.
    page.locator(".st-key-sp_view label").filter(has_text="Boundaries over the original").click()
    loaded_src(page, SP_SUPERPIXELS_IMG, fill_src)
    wait_until_settled(page, TIMEOUT)
    expect(page.locator(".st-key-sp_superpixels")).to_contain_text("boundaries over the original")
    assert "sp_view=Boundaries" in page.url, page.url
    assert_no_error(page)


# ----------------------------------------------------------------------------- any screen
CUT_TEXT = """(selector) => [...document.querySelectorAll(selector)]
    .flatMap((el) => [el, ...el.querySelectorAll("*")])
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => el.innerText)"""


def box(page: Any, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def test_no_metric_is_cut_at_1400_px(new_page: Any, warmed_up: str) -> None:
    """Regression: metrics were 170 px wide, so "Image size 1,024 x..." and "k-means
    compac..." were cut short with an ellipsis on a 1400 px screen."""
    page = new_page
    open_app(page, f"{warmed_up}/?tab=Superpixels", FIRST_OPEN_TIMEOUT)
    expect(page.locator(".st-key-sp_metrics").get_by_test_id("stMetric")).to_have_count(5)
    assert page.evaluate(CUT_TEXT, ".st-key-sp_metrics [data-testid='stMetric']") == []
    page.get_by_role("tab", name="Segment").click()
    expect(page.locator(".st-key-metrics").get_by_test_id("stMetric")).to_have_count(5)
    wait_until_settled(page, TIMEOUT)
    expect(page.locator(".st-key-metrics")).to_contain_text("Mean colour error")
    assert page.evaluate(CUT_TEXT, ".st-key-metrics [data-testid='stMetric']") == []
    # Desktop keeps the original beside the segmented image; no compare control.
    expect(page.locator(ORIGINAL_IMG)).to_be_visible()
    expect(page.locator(".st-key-compare_view")).to_be_hidden()
    original, segmented = box(page, ORIGINAL_IMG), box(page, SEGMENTED_IMG)
    assert abs(original["y"] - segmented["y"]) < 2 and original["x"] < segmented["x"]


def test_on_a_phone_the_result_comes_first_and_everything_fits(
    chromium_browser: Any, warmed_up: str
) -> None:
    """Regression: on a 390 x 844 phone the sidebar opened over the page, the original came
    before the result, and the palette table cut off its Share and Pixels columns."""
    context = chromium_browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    try:
        open_app(page, warmed_up, TIMEOUT)
        sidebar = box(page, "[data-testid='stSidebar']")
        assert sidebar is None or sidebar["x"] + sidebar["width"] <= 0  # collapsed
        expect(page.locator(SEGMENTED_IMG)).to_be_visible()
        expect(page.locator(ORIGINAL_IMG)).to_be_hidden()
        segmented = box(page, SEGMENTED_IMG)
        assert segmented["y"] + segmented["height"] <= 844  # above the fold
        assert segmented["x"] >= 0 and segmented["x"] + segmented["width"] <= 390

        # The palette: every column inside the viewport, no sideways scrolling.
        page.locator(".st-key-palette [data-testid='stDataFrame']").scroll_into_view_if_needed()
        table = box(page, ".st-key-palette [data-testid='stDataFrame']")
        assert table["x"] >= 0 and table["x"] + table["width"] <= 390
        scroller = page.evaluate(
            """() => { const s = document.querySelector(".st-key-palette .dvn-scroller");
                       return [s.scrollWidth, s.clientWidth]; }"""
        )
        assert scroller[0] <= scroller[1], scroller

        # The compare control switches the picture in place.
        control = page.locator(".st-key-compare_view")
        control.scroll_into_view_if_needed()
        control.locator("button", has_text="Original").click()
        expect(page.locator(".st-key-pictures-original")).to_be_visible()
        wait_until_settled(page, TIMEOUT)
        expect(page.locator(ORIGINAL_IMG)).to_be_visible()
        expect(page.locator(SEGMENTED_IMG)).to_be_hidden()
        control.locator("button", has_text="Side by side").click()
        expect(page.locator(".st-key-pictures-side")).to_be_visible()
        wait_until_settled(page, TIMEOUT)
        expect(page.locator(SEGMENTED_IMG)).to_be_visible()
        original, segmented = box(page, ORIGINAL_IMG), box(page, SEGMENTED_IMG)
        assert abs(original["y"] - segmented["y"]) < 2  # one row
        assert original["x"] + original["width"] <= segmented["x"] + 1
        assert segmented["x"] + segmented["width"] <= 390
        assert_no_error(page)
    finally:
        context.close()


# Every picture in the tab on show, and whether the page's checkerboard is behind it.
PICTURES_CHECKERED = """() => [...document.querySelectorAll(
        "[role='tabpanel']:not([hidden]) [data-testid='stImage'] img")]
    .filter((img) => img.offsetParent !== null)
    .map((img) => getComputedStyle(img).backgroundImage.includes("conic-gradient"))"""


def test_every_picture_of_a_transparent_photo_has_the_checkerboard(
    app_page: Any, tmp_path: Path
) -> None:
    """Regression: the Superpixels pictures and the Compare thumbnails had no checkerboard,
    so a transparent half read as the white page and the pictures looked cut in half."""
    page = app_page
    rgba = np.dstack([cv2.imread(str(blocks_photo(tmp_path / "b.png"))),
                      np.full((400, 600), 255, np.uint8)])  # fmt: skip
    rgba[:, 300:, 3] = 0
    assert cv2.imwrite(str(tmp_path / "half.png"), rgba)
    old = segmented_src(page)
    upload(page, tmp_path / "half.png")
    wait_for_new_segmented(page, old, "half.png")
    # The Isolate tab's clickable picture is in an iframe the page's CSS cannot reach: it
    # has the checkerboard drawn in (test_app_isolate.py); its whole-clusters mode's is here.
    for tab, pictures in (("Segment", 2), ("Compare", 3), ("Superpixels", 3)):
        page.get_by_role("tab", name=tab).click()
        wait_until_settled(page, FIRST_OPEN_TIMEOUT)
        page.wait_for_function(
            f"() => ({PICTURES_CHECKERED})().length >= {pictures}", timeout=FIRST_OPEN_TIMEOUT
        )
        checkered = page.evaluate(PICTURES_CHECKERED)
        assert checkered == [True] * len(checkered), (tab, checkered)
    expect(page.get_by_role("tabpanel").filter(has_text="Regions then colours")).to_contain_text(
        "50.0 % of this photo is transparent"
    )
    assert_no_error(page)


def test_on_a_phone_the_3d_toolbar_keeps_off_its_title_and_the_command_wraps(
    chromium_browser: Any, warmed_up: str
) -> None:
    """Regression: at 390 px plotly's toolbar covered "blue (0-255)" in the 3D chart's
    title, and the command line needed scrolling sideways."""
    context = chromium_browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    try:
        open_app(page, f"{warmed_up}/?show_3d=true&space=CIELAB", TIMEOUT)
        chart = page.locator(CENTRES_CHART)
        chart.scroll_into_view_if_needed()
        chart.hover()
        expect(page.locator(f"{CENTRES_CHART} .modebar")).to_be_visible()
        bar, title = box(page, f"{CENTRES_CHART} .modebar"), box(page, f"{CENTRES_CHART} .gtitle")
        apart = (
            bar["x"] >= title["x"] + title["width"]
            or bar["y"] >= title["y"] + title["height"]
            or title["y"] >= bar["y"] + bar["height"]
        )
        assert apart, (bar, title)
        chart_box = box(page, CENTRES_CHART)
        assert chart_box["x"] <= title["x"] and title["x"] + title["width"] <= bar["x"] + 1
        assert title["y"] >= chart_box["y"]  # not cut at the top
        page.get_by_role("tab", name="Downloads").click()
        wait_until_settled(page, TIMEOUT)
        code = page.get_by_test_id("stCode").first
        expect(code).to_contain_text("--engine histogram")
        overflow = code.evaluate(
            "(el) => [...el.querySelectorAll('pre, code')].some("
            "(e) => e.scrollWidth > e.clientWidth + 1)"
        )
        assert not overflow
        expect(page.get_by_role("tabpanel").filter(has_text="The same on the command line")
               ).to_contain_text("kseg's engine is called histogram")  # fmt: skip
        assert_no_error(page)
    finally:
        context.close()
