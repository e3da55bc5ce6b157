"""The Isolate tab's clicks in a real browser: the component in its iframe, the mask, the link.

- Two discs of one colour, uploaded: a click on one disc's place in the rendered picture
  picks that disc alone (its area shown, its mask downloaded pixel for pixel), a second
  click inside it drops it again.
- On a sample (a link cannot carry an upload): a click, then the page's address opened
  in a fresh browser context shows the same region and gives the same mask.

Run with ``python -m pytest -m browser tests/test_browser_isolate.py``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import PIL.Image
import pytest
from app_support import DISC_SIZE, DISCS, disc_mask, png_bytes, two_discs
from browser_support import StreamlitServer, chromium, install_run_watcher, open_app, rerun_after

import kseg
from kseg.samples import sample_path

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms
FIRST_OPEN_TIMEOUT = 180_000  # the first run may warm up the numba kernels


@pytest.fixture(scope="module")
def server() -> Iterator[StreamlitServer]:
    with StreamlitServer("app.py") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    expect.set_options(timeout=TIMEOUT)
    with chromium() as launched:
        yield launched


def fresh_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    install_run_watcher(page)
    return page


def picture(page: Any) -> Any:
    """The clickable picture: an img inside the component's iframe."""
    return page.frame_locator(".st-key-pick_picture iframe").locator("#image")


def click_at(page: Any, x: int, y: int, size: tuple[int, int]) -> None:
    """Click the picture where full-resolution pixel (x, y) of a `size` photo is shown."""
    image = picture(page)
    expect(image).to_be_visible()
    page.wait_for_function(
        "(frame) => { const img = frame.contentDocument.getElementById('image');"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=page.locator(".st-key-pick_picture iframe").element_handle(),
    )
    box = image.bounding_box()
    width, height = size
    where = {"x": (x + 0.5) * box["width"] / width, "y": (y + 0.5) * box["height"] / height}
    rerun_after(page, lambda: image.click(position=where))


def picked_caption(page: Any) -> Any:
    return page.get_by_text("picked:", exact=False)


def download(page: Any, key: str) -> bytes:
    """The file of download button `key`, as the browser saves it."""
    # Its help tooltip wraps it in a second button element: the first is the one.
    button = page.locator(f".st-key-{key} button").first
    with page.expect_download() as info:
        button.click()
    return open(info.value.path(), "rb").read()


def mask_of(data: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(data))) == 255


def test_a_click_on_a_disc_picks_that_disc_alone(server: StreamlitServer, browser: Any) -> None:
    page = fresh_page(browser)
    open_app(page, f"{server.url}/?k=2&tab=Isolate", FIRST_OPEN_TIMEOUT)
    dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")
    rerun_after(
        page,
        lambda: dropzone.set_input_files(
            files=[{"name": "discs.png", "mimeType": "image/png", "buffer": png_bytes(two_discs())}]
        ),
    )
    expect(page.get_by_text("Click the photo to pick")).to_be_visible()
    cx, cy, radius = DISCS[0]
    click_at(page, cx + radius // 2, cy, DISC_SIZE)
    area = int(disc_mask(0).sum())
    expect(picked_caption(page)).to_contain_text(f"1 region picked: {area:,} px")
    assert np.array_equal(mask_of(download(page, "dl_region_mask")), disc_mask(0))
    cutout = PIL.Image.open(io.BytesIO(download(page, "dl_cutout")))
    assert cutout.mode == "RGBA" and cutout.size == (2 * radius + 1, 2 * radius + 1)
    query = parse_qs(urlsplit(page.url).query)
    assert query["pick"] == [f"{cx + radius // 2},{cy}"], page.url
    # A click inside the picked disc drops it.
    click_at(page, cx, cy - radius // 2, DISC_SIZE)
    expect(page.get_by_text("Click the photo to pick")).to_be_visible()
    assert "pick" not in parse_qs(urlsplit(page.url).query), page.url
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.context.close()


def test_a_link_brings_back_the_picked_region(server: StreamlitServer, browser: Any) -> None:
    page = fresh_page(browser)
    open_app(page, f"{server.url}/?tab=Isolate&isolate_view=Original", FIRST_OPEN_TIMEOUT)
    size = (600, 400)  # the coffee sample
    click_at(page, 300, 200, size)
    caption = picked_caption(page)
    expect(caption).to_contain_text("1 region picked: ")
    text = caption.inner_text()
    mask = download(page, "dl_region_mask")
    link = page.url
    (point,) = parse_qs(urlsplit(link).query)["pick"]
    x, y = (int(v) for v in point.split(","))
    assert abs(x - 300) <= 1 and abs(y - 200) <= 1, link
    seg = kseg.segment(kseg.load_image(sample_path("coffee")), 4)
    (region,) = kseg.pick_regions(seg, [(x, y)])
    assert np.array_equal(mask_of(mask), region.mask)
    assert f"{int(region.mask.sum()):,} px" in text
    page.context.close()

    page = fresh_page(browser)
    open_app(page, link, TIMEOUT)
    expect(picked_caption(page)).to_have_text(text)
    assert download(page, "dl_region_mask") == mask
    expect(picture(page)).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.context.close()
