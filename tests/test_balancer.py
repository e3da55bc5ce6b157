"""kseg's page as replicas behind the real HAProxy (deploy/), driven by four browsers.

Two Streamlit replicas and haproxy, with deploy/haproxy.cfg's settings on free loopback
ports (tests/balancer_support.py), run for the module. Four browser contexts (each with
its own cookies, so its own sticky replica) upload different photos, change k and
download the segmented PNG: each must get its own result, and the sessions must spread
over both replicas. Then one replica is terminated: its visitors' pages reconnect to the
other one, where the next run says the server stopped and asks for the photo again, and
they can go on; the other visitors' pages do not reload and their next k change works.

haproxy missing is a failure, not a skip: tests/run.sh installs it, as it does Chromium.
Run with ``python -m pytest tests/test_balancer.py`` (about two minutes on two busy cores).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from balancer_support import Balancer
from browser_support import (
    chromium,
    open_app,
    wait_until_settled,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms
FIRST_OPEN_TIMEOUT = 180_000  # a replica's first run may wait for the numba warm-up
REPLICAS = 2
SEGMENTED_IMG = ".st-key-segmented [data-testid='stImage'] img"
K_SLIDER = ".st-key-k input[type='range']"
K_SHOWN = ".st-key-k [data-testid='stSliderThumbValue']"
MOVED_ALERT = "The server this page ran on has stopped, and your photo with it"
# Screenshots of a moved visitor's page go here when set (1400 x 1000 and 390 x 844).
SHOTS = os.environ.get("KSEG_BALANCER_SHOTS")

# Each visitor's photo: flat blocks of its own colours (RGB), its own size, its own k
# (one step from the page's default k = 4).
PALETTES = [
    [(220, 40, 40), (40, 170, 60), (40, 70, 210)],
    [(250, 200, 20), (20, 20, 20), (200, 60, 200), (60, 200, 200), (250, 250, 250)],
    [(120, 60, 20), (230, 140, 140), (20, 90, 90), (150, 150, 150), (90, 20, 140)],
    [(10, 40, 120), (240, 120, 20), (200, 230, 90)],
]  # fmt: skip


@dataclass
class Visitor:
    context: Any
    page: Any
    name: str  # the photo's file name
    colours: list[tuple[int, int, int]]
    size: tuple[int, int]  # (height, width)
    replica: str | None = None

    @property
    def k(self) -> int:
        return len(self.colours)


# ----------------------------------------------------------------------------- fixtures
class _LogsOnFailure:
    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Iterator[Any]:
        report = yield
        if report.failed and "balancer" in getattr(item, "fixturenames", ()):
            lines = self.balancer.logs().splitlines()[-300:]
            report.sections.append(("haproxy and replicas (last 300 lines)", "\n".join(lines)))
        return report


@pytest.fixture(scope="module")
def balancer(request: pytest.FixtureRequest) -> Iterator[Balancer]:
    with Balancer(REPLICAS) as running:
        plugin = _LogsOnFailure(running)
        request.config.pluginmanager.register(plugin)
        try:
            yield running
        finally:
            request.config.pluginmanager.unregister(plugin)


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    expect.set_options(timeout=TIMEOUT)
    with chromium() as browser:
        yield browser


# ----------------------------------------------------------------------------- helpers
def blocks_photo(path: Path, colours: list[tuple[int, int, int]], height: int) -> Path:
    """Vertical flat blocks of `colours`, 60 px wide each, with mild noise."""
    rgb = np.empty((height, 60 * len(colours), 3), np.float32)
    for i, colour in enumerate(colours):
        rgb[:, i * 60 : (i + 1) * 60] = colour
    rgb += np.random.default_rng(height).normal(0, 3.0, rgb.shape)
    bgr = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), bgr)
    return path


def shown_k(page: Any) -> int:
    return int(page.locator(K_SHOWN).inner_text())


def press_k(page: Any, step: int) -> int:
    """Start one k step (+1 or -1) with the keyboard; returns the k it asks for."""
    k = shown_k(page) + step
    page.locator(K_SLIDER).press("ArrowRight" if step > 0 else "ArrowLeft")
    return k


def wait_k(page: Any, k: int) -> None:
    """Wait until the slider shows `k` and the result for `k` is drawn."""
    expect(page.locator(K_SHOWN)).to_have_text(str(k))
    expect(page.locator(".st-key-segmented")).to_contain_text(f"Segmented into {k} colours")
    wait_until_settled(page, TIMEOUT)


def set_k(page: Any, k: int) -> None:
    """Move the k slider to `k`, one step and its result at a time."""
    while (now := shown_k(page)) != k:
        wait_k(page, press_k(page, 1 if k > now else -1))


def start_upload(visitor: Visitor, path: Path) -> None:
    visitor.page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))


def wait_upload(visitor: Visitor) -> None:
    expect(visitor.page.get_by_test_id("stMain")).to_contain_text(f"Your photo {visitor.name}")
    wait_until_settled(visitor.page, TIMEOUT)


def upload(visitor: Visitor, path: Path) -> None:
    start_upload(visitor, path)
    wait_upload(visitor)


def segmented_size(page: Any) -> tuple[int, int]:
    """(height, width) of the segmented image as loaded (the photos fit their column)."""
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s); return i && i.complete"
        " && i.naturalWidth > 0; }",
        arg=SEGMENTED_IMG,
    )
    return tuple(page.locator(SEGMENTED_IMG).evaluate("(i) => [i.naturalHeight, i.naturalWidth]"))


def download_segmented(visitor: Visitor, tmp_path: Path) -> np.ndarray:
    page = visitor.page
    page.get_by_role("tab", name="Downloads").click()
    wait_until_settled(page, TIMEOUT)
    button = page.get_by_test_id("stDownloadButton").get_by_role(
        "button", name="Segmented image (PNG)"
    )
    expect(button).to_be_visible()
    with page.expect_download(timeout=TIMEOUT) as info:
        button.click()
    saved = tmp_path / f"{visitor.name}-download.png"
    info.value.save_as(saved)
    pixels = cv2.imread(str(saved), cv2.IMREAD_COLOR)
    assert pixels is not None, f"{visitor.name}: the download is not a readable PNG"
    page.get_by_role("tab", name="Segment").click()
    wait_until_settled(page, TIMEOUT)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def assert_own_result(visitor: Visitor, pixels: np.ndarray) -> None:
    """The PNG is this visitor's photo at full size, one colour per block, near its own."""
    assert pixels.shape[:2] == visitor.size, visitor.name
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) == visitor.k, f"{visitor.name}: {len(colours)} colours"
    for i, colour in enumerate(visitor.colours):
        got = pixels[visitor.size[0] // 2, i * 60 + 30].astype(int)
        assert np.abs(got - colour).max() <= 6, f"{visitor.name} block {i}: {got} for {colour}"


def mark_page(page: Any) -> None:
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Any) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


def wait_for_replica(visitor: Visitor, not_this: str, timeout: float = 30.0) -> str:
    """The replica the visitor's browser reconnected to (its cookie), once it is not `not_this`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replica = Balancer.replica_of(visitor.context)
        if replica is not None and replica != not_this:
            return replica
        visitor.page.wait_for_timeout(200)
    raise AssertionError(f"{visitor.name}: still on {not_this} after {timeout:.0f} s")


def screenshot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SHOTS) / f"{name}-1400x1000.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)  # the layout follows the width (CSS only: no rerun)
    page.screenshot(path=str(Path(SHOTS) / f"{name}-390x844.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.wait_for_timeout(300)


# ----------------------------------------------------------------------------- the test
def test_four_visitors_through_the_balancer_and_a_replica_that_stops(
    balancer: Balancer, chromium_browser: Any, tmp_path: Path
) -> None:
    visitors: list[Visitor] = []
    for i, colours in enumerate(PALETTES):
        context = chromium_browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        height = 80 + 40 * i
        name = f"visitor{i}.png"
        blocks_photo(tmp_path / name, colours, height)
        visitor = Visitor(context, page, name, colours, (height, 60 * len(colours)))
        open_app(page, balancer.url, FIRST_OPEN_TIMEOUT)
        visitor.replica = Balancer.replica_of(context)
        assert visitor.replica in balancer.replicas, f"{name}: cookie {visitor.replica!r}"
        visitors.append(visitor)
    # All four upload at once, then all four change k at once (one step from the default).
    for visitor in visitors:
        start_upload(visitor, tmp_path / visitor.name)
    for visitor in visitors:
        wait_upload(visitor)
    asked = [press_k(v.page, 1 if v.k > shown_k(v.page) else -1) for v in visitors]
    for visitor, k in zip(visitors, asked, strict=True):
        assert k == visitor.k
        wait_k(visitor.page, k)
        assert Balancer.replica_of(visitor.context) == visitor.replica  # sticky all along
    for visitor in visitors:
        assert_own_result(visitor, download_segmented(visitor, tmp_path))
        assert segmented_size(visitor.page) == visitor.size
    used = {v.replica for v in visitors}
    assert len(used) > 1, f"every session went to {used}"

    # One replica stops: the first visitor's, taking whoever else was on it.
    stopped = visitors[0].replica
    moved = [v for v in visitors if v.replica == stopped]
    stayed = [v for v in visitors if v.replica != stopped]
    assert stayed, "nobody stayed"
    for visitor in visitors:
        mark_page(visitor.page)
    balancer.stop_replica(stopped)

    for visitor in moved:
        page = visitor.page
        visitor.replica = wait_for_replica(visitor, stopped)
        expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)  # not "Connecting"
        # The next change runs on the other replica: a new session, told what happened.
        page.locator(K_SLIDER).press("ArrowRight")
        alert = page.get_by_test_id("stAlert").filter(has_text=MOVED_ALERT)
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("upload it again")
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_test_id("stMain")).not_to_contain_text(visitor.name)
        expect(page.get_by_test_id("stMain")).to_contain_text("Coffee cup")  # the sample
        if visitor is moved[0]:
            screenshot(page, "moved-visitor")
        # ...and can go on: a k change that works, then the photo again.
        k = shown_k(page)
        set_k(page, k + 1 if k < 32 else k - 1)
        expect(alert).to_have_count(0)  # said once
        if visitor is moved[0]:  # the photo again, at the k just set
            upload(visitor, tmp_path / visitor.name)
            assert segmented_size(page) == visitor.size
        assert Balancer.replica_of(visitor.context) == visitor.replica

    before = {v.name: v.page.locator(SEGMENTED_IMG).get_attribute("src") for v in stayed}
    asked = [press_k(v.page, 1) for v in stayed]
    for visitor, k in zip(stayed, asked, strict=True):
        page = visitor.page
        wait_k(page, k)
        expect(page.locator(SEGMENTED_IMG)).not_to_have_attribute("src", before[visitor.name])
        assert not_reloaded(page), f"{visitor.name}: the page reloaded"
        expect(page.get_by_test_id("stAlert").filter(has_text="server")).to_have_count(0)
        expect(page.get_by_test_id("stMain")).to_contain_text(visitor.name)
        assert segmented_size(page) == visitor.size
        assert Balancer.replica_of(visitor.context) == visitor.replica

    for visitor in visitors:
        visitor.context.close()
