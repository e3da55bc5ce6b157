"""A link keeps every setting: change each on a running page, open page.url afresh.

k, the Compare tab's values of k and elbow range, both isolate parts (the Isolate
tab's, in its Whole clusters mode, and the Superpixels tab's "sp_" one: clusters, paint,
dim), the Superpixels tab's
number of superpixels and view and its 3D chart's expander (opened) are changed the way a
visitor does it; the address is then opened in a fresh browser context (no cookies, no
session) and every widget, and the isolated pictures' captions, must show the same.

The link is taken on the Downloads tab, which draws none of them.

Run with ``python -m pytest -m browser tests/test_browser_link.py`` (about 50 s).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import (
    StreamlitServer,
    chromium,
    install_run_watcher,
    open_app,
    rerun_after,
    wait_until_settled,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms
FIRST_OPEN_TIMEOUT = 180_000  # the first run warms up the numba kernels


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
    """A page in a new browser context: nothing shared with any other page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    install_run_watcher(page)
    return page


# ----------------------------------------------------------------------------- the controls
def slider_input(page: Any, key: str, which: str = "") -> Any:
    """The range input of slider `key` (its "start" or "end" thumb for a range)."""
    inputs = page.locator(f".st-key-{key} input[type='range']")
    if which:
        return inputs.and_(page.locator(f"[aria-label$='{which}']"))
    return inputs


def press(page: Any, key: str, keys: str, which: str = "") -> None:
    """Press ``keys`` on a slider and wait for the run it starts.

    A key that lands while the page redraws the slider (the first runs of a fresh
    server are slow on two shared cores) moves nothing: then it is pressed again.
    """
    target = slider_input(page, key, which)

    def act() -> None:
        before = target.input_value()
        for _ in range(3):
            target.press(keys)
            try:
                expect(target).not_to_have_value(before, timeout=10_000)
                return
            except AssertionError:
                continue
        raise AssertionError(f"slider {key} {which}: {keys} pressed 3 times, still {before}")

    rerun_after(page, act)


def open_tab(page: Any, name: str) -> None:
    """Open tab `name` and wait until its run has drawn it and the page has settled.

    Not rerun_after: a quick run (the Downloads tab's), or one while the browser is busy
    drawing a 3D chart in software, can start and end within one batch of the page's
    updates, and the run watcher then sees no change of script state. A hidden tab is not
    drawn, so the panel of a tab opened for the first time is empty until its run sends
    something.
    """
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    panel = page.locator(f"[role='tabpanel'][aria-labelledby='{tab.get_attribute('id')}']")
    expect(panel.locator("[data-testid='stElementContainer']").first).to_be_attached()
    wait_until_settled(page, TIMEOUT)


def click_pill(page: Any, key: str, label: str) -> None:
    pill = page.locator(f".st-key-{key} button").filter(has_text=re.compile(rf"^{label}$"))
    rerun_after(page, pill.click)


def pressed_pills(page: Any, key: str) -> list[str]:
    return page.locator(f".st-key-{key} button[aria-pressed='true']").all_inner_texts()


def add_cluster(page: Any, key: str, number: int) -> None:
    """Open multiselect `key` and click cluster `number` ("2: #rrggbb (..%)")."""
    field = page.locator(f".st-key-{key} input").first
    field.click()
    option = page.get_by_role("option", name=re.compile(rf"^{number}: "))
    if not option.is_visible():  # a click after a scroll can focus it without opening it
        field.press("ArrowDown")
    rerun_after(page, option.click)
    page.keyboard.press("Escape")


def choose_whole_clusters(page: Any) -> None:
    """The Isolate tab picks regions by a click unless told to pick whole clusters."""
    page.locator(".st-key-isolate_by button").filter(has_text="Whole clusters").click()
    # Not rerun_after: the run can come and go unseen (see open_tab); its result cannot.
    expect(page.locator(".st-key-isolate input").first).to_be_visible()
    wait_until_settled(page, TIMEOUT)


def remove_cluster(page: Any, key: str, number: int) -> None:
    remove = page.locator(f".st-key-{key} button[aria-label^='Remove {number}: ']")
    rerun_after(page, remove.click)


def chosen_clusters(page: Any, key: str) -> list[int]:
    labels = page.locator(f".st-key-{key} [data-tag]").evaluate_all(
        "(tags) => tags.map((t) => t.getAttribute('aria-label'))"
    )
    return [int(label.split(":")[0]) for label in labels]


def thumbs(page: Any, key: str) -> list[str]:
    return page.locator(f".st-key-{key} [data-testid='stSliderThumbValue']").all_inner_texts()


def checked_radio(page: Any, key: str) -> str:
    return (
        page.locator(f".st-key-{key} label").filter(has=page.locator("input:checked")).inner_text()
    )


def expander_open(page: Any, key: str) -> bool:
    return page.locator(f".st-key-{key} details").evaluate("(d) => d.open")


def isolated_caption(page: Any, prefix: str) -> Any:
    return page.locator(f".st-key-{prefix}isolated [data-testid='stImageCaption']")


def assert_no_exception(page: Any) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


# ----------------------------------------------------------------------------- the test
def test_a_link_brings_back_every_setting(server: StreamlitServer, browser: Any) -> None:
    page = fresh_page(browser)
    open_app(page, server.url, FIRST_OPEN_TIMEOUT)

    press(page, "k", "ArrowRight")
    press(page, "k", "ArrowRight")
    expect(page.locator(".st-key-k [data-testid='stSliderThumbValue']")).to_have_text("6")

    open_tab(page, "Compare")
    click_pill(page, "compare_ks", "3")
    click_pill(page, "compare_ks", "10")
    assert pressed_pills(page, "compare_ks") == ["3", "4", "6"]
    press(page, "elbow_ks", "ArrowRight", "start")
    press(page, "elbow_ks", "ArrowLeft", "end")
    assert thumbs(page, "elbow_ks") == ["3", "15"]

    open_tab(page, "Isolate")
    choose_whole_clusters(page)
    add_cluster(page, "isolate", 2)
    add_cluster(page, "isolate", 3)
    remove_cluster(page, "isolate", 1)
    rerun_after(
        page,
        page.locator(".st-key-isolate_paint label").filter(has_text="the cluster colour").click,
    )
    press(page, "isolate_dim", "Home")
    expect(isolated_caption(page, "")).to_contain_text("Clusters 2, 3:")

    open_tab(page, "Superpixels")
    press(page, "sp_segments", "ArrowRight")
    assert thumbs(page, "sp_segments") == ["410"]
    rerun_after(
        page,
        page.locator(".st-key-sp_view label").filter(has_text="Boundaries over the original").click,
    )
    rerun_after(page, page.locator(".st-key-sp_centres summary").click)
    expect(page.locator(".st-key-sp_centres [data-testid='stPlotlyChart']")).to_be_visible()
    for number in (1, 4):
        if number not in chosen_clusters(page, "sp_isolate"):
            add_cluster(page, "sp_isolate", number)
    press(page, "sp_isolate_dim", "End")
    expect(isolated_caption(page, "sp_")).to_contain_text("Clusters 1, 4:")
    assert_no_exception(page)
    # The link is made on a tab that draws none of these settings.
    open_tab(page, "Downloads")

    link = page.url
    query = parse_qs(urlsplit(link).query, keep_blank_values=True)
    assert query["k"] == ["6"] and query["tab"] == ["Downloads"], link
    assert query["compare_ks"] == ["3", "4", "6"] and query["elbow_ks"] == ["3", "15"], link
    assert query["isolate"] == ["2", "3"] and query["isolate_dim"] == ["0"], link
    assert query["isolate_paint"] == ["the cluster colour"], link
    assert query["sp_isolate"] == ["1", "4"] and query["sp_isolate_dim"] == ["100"], link
    assert query["sp_segments"] == ["410"] and query["sp_show_3d"] == ["true"], link
    assert query["sp_view"] == ["Boundaries over the original"], link
    page.context.close()

    page = fresh_page(browser)
    open_app(page, link, TIMEOUT)
    expect(page.get_by_role("tab", name="Downloads")).to_have_attribute("aria-selected", "true")
    assert thumbs(page, "k") == ["6"]

    open_tab(page, "Isolate")
    expect(isolated_caption(page, "")).to_contain_text("Clusters 2, 3:")
    assert chosen_clusters(page, "isolate") == [2, 3]
    assert checked_radio(page, "isolate_paint") == "the cluster colour"
    assert thumbs(page, "isolate_dim") == ["0"]

    open_tab(page, "Compare")
    assert pressed_pills(page, "compare_ks") == ["3", "4", "6"]
    captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
    assert [c.split(",")[0] for c in captions if c.startswith("k = ")] == [
        "k = 3",
        "k = 4",
        "k = 6",
    ]
    assert thumbs(page, "elbow_ks") == ["3", "15"]

    # Last, as its open 3D chart keeps a software-rendering browser busy: a run can then
    # come and go unseen by the run watcher.
    open_tab(page, "Superpixels")
    expect(isolated_caption(page, "sp_")).to_contain_text("Clusters 1, 4:")
    assert chosen_clusters(page, "sp_isolate") == [1, 4]
    assert thumbs(page, "sp_isolate_dim") == ["100"]
    assert checked_radio(page, "sp_isolate_paint") == "their own colours"
    assert thumbs(page, "sp_segments") == ["410"]
    assert checked_radio(page, "sp_view") == "Boundaries over the original"
    expect(page.locator(".st-key-sp_centres [data-testid='stPlotlyChart']")).to_be_visible()
    assert expander_open(page, "sp_centres")
    assert_no_exception(page)
    # Nothing was lost on the way: the address still holds every setting.
    assert parse_qs(urlsplit(page.url).query, keep_blank_values=True) == {
        **query,
        "tab": ["Superpixels"],
    }
    page.context.close()


def chip_labels(page: Any, key: str) -> list[str]:
    return page.locator(f".st-key-{key} [data-tag]").evaluate_all(
        "(tags) => tags.map((t) => t.getAttribute('aria-label'))"
    )


def test_isolate_choices_follow_each_new_result(server: StreamlitServer, browser: Any) -> None:
    """Regression: the chosen clusters' chips kept the old result's colours and shares
    after k changed, and a quick series of superpixel changes emptied the choice."""
    import kseg
    from kseg.samples import sample_path

    page = fresh_page(browser)
    open_app(page, f"{server.url}/?tab=Isolate&k=4&isolate_by=Whole%20clusters", FIRST_OPEN_TIMEOUT)
    add_cluster(page, "isolate", 3)
    press(page, "k", "ArrowRight")
    expect(page.locator(".st-key-k [data-testid='stSliderThumbValue']")).to_have_text("5")
    expect(isolated_caption(page, "")).to_contain_text("Clusters 1, 3:")
    seg = kseg.segment(kseg.load_image(sample_path("coffee")), 5, attempts=10, max_iter=20)
    entries = seg.palette()
    want = [f"{n}: {entries[n - 1].hex} ({entries[n - 1].share * 100:.1f} %)" for n in (1, 3)]
    assert chip_labels(page, "isolate") == want

    open_tab(page, "Superpixels")
    for _ in range(4):  # one key press after another, without waiting for each result
        slider_input(page, "sp_segments").press("ArrowRight")
    rerun_after(page, lambda: slider_input(page, "sp_segments").press("ArrowRight"))
    wait_until_settled(page, TIMEOUT)
    assert thumbs(page, "sp_segments") == ["450"]
    assert chosen_clusters(page, "sp_isolate") == [1]
    expect(isolated_caption(page, "sp_")).to_contain_text("Cluster 1:")
    assert "sp_isolate" not in parse_qs(urlsplit(page.url).query, keep_blank_values=True)
    assert_no_exception(page)
