"""The server's log stays clean while a visitor uses every tab and every kind of control.

Regression: each "Use k = N" click logged Streamlit's warning that the widget with key
"k" had a default value and was also set through Session State, with a stack trace.

The server runs with every log line naming its level (``LOG_LEVEL_ARGS``), so a warning
cannot hide behind Streamlit's "time message" format; any line with "Traceback",
"Warning", "WARNING", "Error" or a logged stack fails the test, and so does an
``st.exception`` on the page.

Run with ``python -m pytest -m browser tests/test_browser_log.py`` (about a minute).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import (
    LOG_LEVEL_ARGS,
    StreamlitServer,
    chromium,
    install_run_watcher,
    log_problems,
    open_app,
    rerun_after,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms
FIRST_OPEN_TIMEOUT = 180_000  # the first run warms up the numba kernels


@pytest.fixture(scope="module")
def server() -> Iterator[StreamlitServer]:
    # KSEG_KERNELS=numba: every kernel group is compiled (or loaded from numba's cache) on
    # the first open, within FIRST_OPEN_TIMEOUT. This test is about the log; in the default
    # mode the twinless "components" group would compile in the server at the Smallest
    # region step, and a cold compile on 2 loaded cores outlasted later steps' timeouts.
    # The switch from the twins to the compiled kernels is tested in tests/test_jit.py.
    env = {"KSEG_KERNELS": "numba"}
    with StreamlitServer("app.py", extra_args=LOG_LEVEL_ARGS, env=env) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Any]:
    expect.set_options(timeout=TIMEOUT)
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        install_run_watcher(page)
        yield page


def test_log_problems_finds_warnings_errors_and_stacks() -> None:
    log = (
        "INFO streamlit.web.server: Uvicorn server started\n"
        'WARNING streamlit.elements.lib.policies: The widget with key "k" was created...\n'
        "Stack (most recent call last):\n"
        "Traceback (most recent call last):\n"
        "ValueError: no\n"
        "  URL: http://127.0.0.1:8501\n"
    )
    assert [line.split()[0] for line in log_problems(log)] == [
        "WARNING",
        "Stack",
        "Traceback",
        "ValueError:",
    ]


# ----------------------------------------------------------------------------- the controls
def within(page: Any, key: str) -> Any:
    return page.locator(f".st-key-{key}")


def click(page: Any, key: str, text: str) -> None:
    """Click the label or button of widget `key` that reads `text` (then a space or its
    end: "eps" is not "eps+max_iter"), and let the page settle."""
    target = (
        within(page, key)
        .locator("label, button, summary")
        .filter(has_text=re.compile(rf"^\s*{re.escape(text)}(\s|$)"))
    )
    rerun_after(page, target.first.click)


def press(page: Any, key: str, keys: str, which: str = "") -> None:
    slider = within(page, key).locator("input[type='range']")
    if which:
        slider = slider.and_(page.locator(f"[aria-label$='{which}']"))
    rerun_after(page, lambda: slider.press(keys))


def type_number(page: Any, key: str, value: str) -> None:
    field = within(page, key).locator("input")

    def enter() -> None:
        field.fill(value)
        field.press("Enter")

    rerun_after(page, enter)


def open_tab(page: Any, name: str) -> None:
    rerun_after(page, lambda: page.get_by_role("tab", name=name).click())
    expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


def add_cluster(page: Any, key: str, number: int) -> None:
    field = within(page, key).locator("input").first
    field.click()
    option = page.get_by_role("option", name=re.compile(rf"^{number}: "))
    if not option.is_visible():  # a click after a scroll can focus it without opening it
        field.press("ArrowDown")
    rerun_after(page, option.click)
    page.keyboard.press("Escape")


def assert_clean(page: Any, server: StreamlitServer, after: str) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    problems = log_problems(server.log())
    assert not problems, f"after {after}, the server logged:\n" + "\n".join(problems)


# ----------------------------------------------------------------------------- the test
def test_every_tab_and_control_leaves_the_log_clean(page: Any, server: StreamlitServer) -> None:
    open_app(page, server.url, FIRST_OPEN_TIMEOUT)

    # The sidebar: every clustering control.
    press(page, "k", "ArrowRight")
    click(page, "init", "random")
    click(page, "init", "custom")
    expect(within(page, "c5")).to_be_visible()  # one picker per cluster
    click(page, "fixed", "Keep these colours fixed")
    expect(within(page, "fixed").locator("input")).to_be_checked()
    click(page, "init", "k-means++")
    type_number(page, "attempts", "3")
    click(page, "criteria", "eps")
    click(page, "criteria", "eps+max_iter")
    type_number(page, "eps", "0.2")
    type_number(page, "max_iter", "15")
    click(page, "space", "CIELAB")
    type_number(page, "seed", "3")
    type_number(page, "min_region", "20")
    click(page, "engine", "OpenCV")  # the coffee sample: well under the 2 s gate
    expect(page.locator(".st-key-segmented")).to_contain_text("Segmented into 5 colours")
    click(page, "engine", "kseg")
    assert_clean(page, server, "the sidebar")

    # Segment: the 3D chart (always shown) and its cloud toggle.
    expect(within(page, "centres").get_by_test_id("stPlotlyChart")).to_be_visible()
    click(page, "cloud", "Show")
    assert_clean(page, server, "the Segment tab")

    # Compare: a k, the elbow range, and "Use k" (the warning this test was written for).
    open_tab(page, "Compare")
    click(page, "compare_ks", "3")
    press(page, "elbow_ks", "ArrowRight", "start")
    use = within(page, "use_suggested").get_by_role("button")
    if use.is_disabled():  # the suggestion is the current k: move k away from it
        press(page, "k", "End")
    rerun_after(page, use.click)
    assert_clean(page, server, 'the Compare tab and "Use k"')

    # Isolate: a click on the picture (a custom component), then clusters, paint, dim.
    open_tab(page, "Isolate")
    image = page.frame_locator(".st-key-pick_picture iframe").locator("#image")
    expect(image).to_be_visible()
    page.wait_for_timeout(300)  # the picture loaded and sized
    rerun_after(page, lambda: image.click(position={"x": 40, "y": 40}))
    expect(page.get_by_text("1 region picked")).to_be_visible()
    assert_clean(page, server, "a click on the Isolate tab's picture")
    click(page, "isolate_by", "Whole clusters")
    add_cluster(page, "isolate", 2)
    click(page, "isolate_paint", "the cluster colour")
    press(page, "isolate_dim", "Home")
    assert_clean(page, server, "the Isolate tab")

    # Downloads: one file (made on the click, without a rerun).
    open_tab(page, "Downloads")
    button = page.get_by_test_id("stDownloadButton").get_by_role("button", name="Palette (CSV)")
    with page.expect_download(timeout=TIMEOUT) as download:
        button.click()
    assert download.value.suggested_filename.endswith("-palette.csv")
    assert_clean(page, server, "the Downloads tab")

    # Superpixels: segments, compactness, view.
    open_tab(page, "Superpixels")
    press(page, "sp_segments", "ArrowRight")
    press(page, "sp_compactness", "ArrowRight")
    click(page, "sp_view", "Boundaries over the original")
    expect(within(page, "sp_superpixels")).to_contain_text("boundaries over the original")
    assert_clean(page, server, "the Superpixels tab")
