"""The OpenCV engine in a real headless Chromium: picked in the sidebar, shown side by side.

Run with ``python -m pytest -m browser tests/test_browser_engines.py`` (about 30 s).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_support import StreamlitServer, chromium, open_app, wait_until_settled

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

FIRST_OPEN_TIMEOUT = 180_000  # ms: the first run warms up the numba kernels
TIMEOUT = 60_000
PANEL_IMAGES = ".st-key-engines [data-testid='stImage'] img"


def test_picking_opencv_on_the_default_sample_shows_both_engines_side_by_side() -> None:
    with StreamlitServer("app.py") as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_app(page, server.url, timeout=FIRST_OPEN_TIMEOUT)
        expect(page.locator(PANEL_IMAGES)).to_have_count(0, timeout=TIMEOUT)
        made_by = page.get_by_test_id("stCaptionContainer").filter(has_text="Made by")
        expect(made_by.first).to_contain_text("Made by kseg's engine", timeout=TIMEOUT)

        page.locator(".st-key-engine").get_by_text("OpenCV", exact=True).click()
        expect(page.locator(PANEL_IMAGES)).to_have_count(2, timeout=TIMEOUT)
        wait_until_settled(page, TIMEOUT)
        expect(made_by.first).to_contain_text("Made by cv2.kmeans", timeout=TIMEOUT)
        for img in page.locator(PANEL_IMAGES).all():
            img.scroll_into_view_if_needed()
            page.wait_for_function(
                "(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle()
            )
        panel = page.locator(".st-key-engines")
        differ = panel.get_by_test_id("stMetric").filter(has_text="Pixels that differ")
        value = differ.get_by_test_id("stMetricValue")
        expect(value).to_have_text(re.compile(r"^\d[\d,]*$"))
        expect(page.get_by_test_id("stException")).to_have_count(0)
        assert not _alerts_mention(page, "Run cv2.kmeans")


def _alerts_mention(page: Any, text: str) -> bool:
    return page.get_by_role("button", name=re.compile(text)).count() > 0
