"""The Segment tab's 3D chart in a real headless Chromium (issue 11).

On the first load the original, the segmented image and the 3D chart of the centres (a
plotly WebGL scene) are on the Segment tab, no expander to open; a k change keeps the
camera the visitor left; on a phone the chart fits the screen and lets the page scroll.

Streamlit mounts a new chart whenever its figure changes (the element's id hashes the
figure), so the camera outliving a k change is the page's own doing (``widgets.CAMERA_JS``):
these tests turn the camera with plotly's API, as a drag ends, and read it back.

Run with ``python -m pytest -m browser tests/test_browser_chart.py`` (about a minute).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import StreamlitServer, chromium, open_app, wait_until_settled

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms, for any one thing the page must show
FIRST_OPEN_TIMEOUT = 180_000  # the first run warms up the numba kernels
ORIGINAL_IMG = ".st-key-original [data-testid='stImage'] img"
SEGMENTED_IMG = ".st-key-segmented [data-testid='stImage'] img"
K_SLIDER = ".st-key-k input[type='range']"
CHART = ".st-key-centres .js-plotly-plot"
TURNED = {"eye": {"x": 0.4, "y": -1.9, "z": 0.7}, "up": {"x": 0, "y": 0, "z": 1},
          "center": {"x": 0, "y": 0, "z": 0}}  # fmt: skip

# The chart is drawn: a plotly div with a 3D scene on a WebGL canvas, and k centres.
CHART_DRAWN_JS = """([selector, k]) => {
    const gd = document.querySelector(selector);
    if (gd === null || !gd._fullLayout || !gd._fullLayout.scene) return false;
    const scene = gd._fullLayout.scene._scene;
    const gl = scene && scene.glplot && scene.glplot.gl;
    const webgl = gl instanceof WebGLRenderingContext
        || (window.WebGL2RenderingContext !== undefined && gl instanceof WebGL2RenderingContext);
    const centres = (gd.data || []).find((t) => t.name === "centres");
    return webgl && gd.contains(scene.glplot.canvas)
        && centres !== undefined && (k === null || centres.x.length === k);
}"""


# Counts the page's Plotly.react calls from now on (window.__draws).
COUNT_DRAWS_JS = """() => {
    window.__draws = 0;
    const react = window.Plotly.react;
    window.Plotly.react = function (...args) {
        window.__draws += 1;
        return react.apply(this, args);
    };
}"""


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    expect.set_options(timeout=TIMEOUT)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def app_url(chromium_browser: Any) -> Iterator[str]:
    """A server for this module, after one full first run (the numba warm-up)."""
    with StreamlitServer("app.py") as server:
        page = chromium_browser.new_page()
        try:
            open_app(page, server.url, FIRST_OPEN_TIMEOUT)
        finally:
            page.close()
        yield server.url


def open_page(browser: Any, url: str, width: int = 1400, height: int = 1000) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    open_app(page, url, TIMEOUT)
    return page


def wait_for_chart(page: Any, k: int | None = None) -> None:
    page.wait_for_function(CHART_DRAWN_JS, arg=[CHART, k], timeout=TIMEOUT)
    wait_until_settled(page, TIMEOUT)


def camera_eye(page: Any) -> dict:
    return page.evaluate(f"document.querySelector('{CHART}')._fullLayout.scene.camera.eye")


def turn(page: Any, camera: dict) -> None:
    """Turn the camera as a drag would end: plotly_relayout with the new scene.camera."""
    page.evaluate(
        "([selector, camera]) => window.Plotly.relayout("
        "document.querySelector(selector), {'scene.camera': camera})",
        [CHART, camera],
    )


def press_k(page: Any, key: str) -> int:
    """One step of the k slider; waits for the new segmented image and the new chart."""
    slider = page.locator(K_SLIDER)
    k = int(slider.get_attribute("value")) + (1 if key == "ArrowRight" else -1)
    old = page.locator(SEGMENTED_IMG).get_attribute("src")
    slider.focus()
    slider.press(key)
    page.wait_for_function(
        "([selector, old]) => { const img = document.querySelector(selector);"
        " return img !== null && img.src !== old && img.complete && img.naturalWidth > 0; }",
        arg=[SEGMENTED_IMG, old],
        timeout=TIMEOUT,
    )
    wait_for_chart(page, k)
    return k


def test_first_load_shows_both_pictures_and_the_3d_chart(
    chromium_browser: Any, app_url: str
) -> None:
    page = open_page(chromium_browser, app_url)
    try:
        k = int(page.locator(K_SLIDER).get_attribute("value"))
        wait_for_chart(page, k)  # no click: nothing to open
        for selector in (ORIGINAL_IMG, SEGMENTED_IMG, CHART):
            expect(page.locator(selector)).to_be_visible()
        for selector in (ORIGINAL_IMG, SEGMENTED_IMG):
            assert page.locator(selector).evaluate("(el) => el.complete && el.naturalWidth > 0")
        expect(page.get_by_role("tabpanel").get_by_test_id("stExpander")).to_have_count(0)
        traces = page.evaluate(f"document.querySelector('{CHART}').data.map((t) => t.type)")
        assert traces == ["scatter3d", "scatter3d"]  # the pixel cloud and the centres
        # Beside the palette on a desktop, both below the pictures.
        chart, palette = box(page, CHART), box(page, ".st-key-palette")
        segmented = box(page, SEGMENTED_IMG)
        assert chart["x"] >= palette["x"] + palette["width"] - 1
        assert chart["y"] >= segmented["y"] + segmented["height"]
        expect(page.get_by_test_id("stException")).to_have_count(0)
    finally:
        page.context.close()


def test_the_camera_stays_when_k_changes_even_from_an_old_link(
    chromium_browser: Any, app_url: str
) -> None:
    page = open_page(chromium_browser, f"{app_url}/?show_3d=true")  # a link from the opt-in days
    try:
        assert "show_3d" not in page.url
        k = int(page.locator(K_SLIDER).get_attribute("value"))
        wait_for_chart(page, k)
        default = camera_eye(page)
        turn(page, TURNED)
        assert camera_eye(page) == pytest.approx(TURNED["eye"])
        chart = page.locator(CHART).element_handle()
        k = press_k(page, "ArrowRight")
        assert camera_eye(page) == pytest.approx(TURNED["eye"])  # kept through a new chart
        assert not chart.evaluate("(el) => el.isConnected")  # Streamlit drew a new chart
        k = press_k(page, "ArrowRight")
        assert camera_eye(page) == pytest.approx(TURNED["eye"])
        # Regression: a copy of the layout with the camera in it made react-plotly and
        # Streamlit draw the chart again and again (about 1 s a draw in software).
        page.evaluate(COUNT_DRAWS_JS)
        page.wait_for_timeout(2000)
        assert page.evaluate("window.__draws") == 0
        # A reload starts from the default view again.
        open_app(page, page.url, TIMEOUT)
        wait_for_chart(page, k)
        assert camera_eye(page) == pytest.approx(default)
    finally:
        page.context.close()


def test_on_a_phone_the_chart_fits_and_the_page_still_scrolls(
    chromium_browser: Any, app_url: str
) -> None:
    page = open_page(chromium_browser, app_url, 390, 844)
    try:
        wait_for_chart(page)
        chart = page.locator(CHART)
        chart.scroll_into_view_if_needed()
        area = box(page, CHART)
        assert area["x"] >= 0 and area["x"] + area["width"] <= 390
        assert 300 <= area["height"] <= 0.6 * 844  # room above or below it to scroll by
        # The wheel over the chart scrolls the page (no zoom trap).
        main = "[data-testid='stMain']"
        before = page.evaluate(f'document.querySelector("{main}").scrollTop')
        page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
        page.mouse.wheel(0, 300)
        page.wait_for_function(
            f'(before) => document.querySelector("{main}").scrollTop > before', arg=before
        )
    finally:
        page.context.close()


def box(page: Any, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()
