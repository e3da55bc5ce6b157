"""Benchmark kseg's dashboard in a real browser: every row of issue 11's target table.

Headless Chromium drives kseg's ``app.py`` (and, for two rows, ``benchmarks/recipe_app.py``,
cv2.kmeans on every pixel as the tutorials do) the way a visitor does: files through the
uploader, k through the slider's keyboard handling, tabs and radio buttons by clicks.
Every page time runs from the visitor's action (``page.goto``, a key press, a click) to the
new pixels decoded on screen: an image whose ``src`` changed, ``complete`` and with a
``naturalWidth``, and the app settled (script finished, no spinner, skeleton or stale
element), checked all at once on every animation frame.

Rows (``--rows``, comma-separated; all by default):

* ``first-visit``: a fresh install (see ``fresh_install.py``: the tracked files copied to a
  new folder, no ``__pycache__``, new empty ``NUMBA_CACHE_DIR``, ``HOME`` and
  ``XDG_CACHE_HOME``), its server started (timed apart: ``streamlit run`` to
  ``/_stcore/health`` answering ok), then ``page.goto`` to the original, the segmented
  image and the 3D chart of the centres (a ``.js-plotly-plot`` with a scatter3d trace and a
  sized WebGL canvas, in the open tab) on the Segment tab. The chart is not opened by
  hand: if the page settles without it, the row says "chart not shown".
* ``cli``: ``python -m kseg segment PHOTO -k 8 -o OUT -q`` in another fresh install, the whole
  process's wall time; then the same command again once any background process that kseg
  left running on that install has ended (its compiled cache is then present).
* ``k-change``: one step of the k slider (arrow key) to the new segmented image, half of
  the steps with the 3D chart shown and half with it hidden (which half comes first
  alternates between blocks; after hiding or showing it the page is left a second).
  Shown: on the tab by itself, or (while the page keeps it in an expander) opened from
  the expander first, which the notes then say. Hidden: CSS ``display: none`` on every
  ``stPlotlyChart`` (Streamlit still sends the figure and plotly.js still gets it; the
  browser neither lays the chart out nor paints it). With the chart shown, the time to
  the chart redrawn with the new k is given too.
* ``k32``: the End key on the k slider (k = 32) to the new segmented image.
* ``compare``: a click on the Compare tab to its pictures and its elbow chart on screen.
* ``space``: a click on CIELAB in the sidebar's colour space (from RGB) to the new image.
* ``superpixels``: a click on the Superpixels tab to its two pictures on screen: on the
  fresh install (after the first visit, its default sample) and on the warm server (for
  the photo just uploaded; the server had opened the tab once before, untimed).
* ``upload``: handing the browser a new photo (``set_input_files``) to its result on screen.

The warm-server rows run in blocks, each on a new page (a new session) and a new photo (a
few pixels changed, so no cache can answer it): upload, colour space (then back to RGB,
untimed), k steps, k = 32, Compare, Superpixels. Between blocks the recipe page takes one
step (its cold uploads first). Fresh installs come first; each waits for the background
processes it left to end.

    python benchmarks/bench_app.py                 # 12 MP, ~10-15 minutes (the recipe is slow)
    python benchmarks/bench_app.py --rows k-change,upload --repeats 4 --recipe-cold 0
    python benchmarks/bench_app.py --quick         # smoke run: 0.5 MP, n = 1, no recipe, ~2-3 min

The quick run runs the CLI's fresh install beside the page's (the first compiles dominate
it); its figures check the machinery, they are not measurements.

The photos are built from the bundled coffee sample (upscaled with INTER_CUBIC, mild
noise) into a temporary folder that is deleted at the end.

``run()`` is the older pair benchmark (kseg and recipe, cold upload and k step, in one
session); the browser tests use it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from browser_support import (  # noqa: E402
    SETTLED_JS,
    StreamlitServer,
    chromium,
    open_app,
    wait_until_settled,
)
from fresh_install import (  # noqa: E402
    FreshInstall,
    fresh_install,
    kseg_command,
    time_command,
    wait_for_background,
)

TARGETS = {"cold": 1.5, "warm": 0.4}  # seconds, kseg's page, for run()
FULL_SIZE = (4000, 3000)  # width, height: 12 MP
QUICK_SIZE = (800, 600)
NOISE_SIGMA = 1.5
JPEG_QUALITY = 90
ACTION_TIMEOUT_MS = 300_000  # for any one step of kseg's page
RECIPE_TIMEOUT_MS = 900_000  # the recipe needs a minute per 12 MP run, 5+ on a busy machine
CHART_TIMEOUT_MS = 60_000  # for the 3D chart to follow a k change
QUIET_MS = 1000  # after hiding or showing the chart, before the next timed step
VIEWPORT = {"width": 1400, "height": 1000}
CLI_K = 8
SPACES = ("RGB", "CIELAB")  # the colour space row goes from the first to the second
HIDE_CHART_CSS = "[data-testid='stPlotlyChart'] { display: none !important; }"
CHART_NOT_SHOWN = "chart not shown"

# The segmented image: in kseg's page the one in the "segmented" container; else the
# stImage whose caption/alt says "segment", else the second image (original first).
_SEGMENTED_IMG_JS = """() => {
    const keyed = document.querySelector(".st-key-segmented [data-testid='stImage'] img");
    if (keyed !== null) return keyed;
    const images = [...document.querySelectorAll("[data-testid='stImage'] img")];
    const says = (el) => el !== null && /segment/i.test(el.textContent || "");
    for (const img of images) {
        const caption = img.closest("[data-testid='stImage']")
            .querySelector("[data-testid='stImageCaption']");
        if (/segment/i.test(img.alt || "") || says(caption)) {
            return img;
        }
    }
    return images.length >= 2 ? images[1] : (images[0] || null);
}"""

_SEGMENTED_SRC_JS = f"""() => {{
    const img = ({_SEGMENTED_IMG_JS})();
    return img === null ? null : img.src;
}}"""

# True once the segmented image has a new src and has loaded, the main area shows the
# expected text, and the app has settled. All at once: kseg's page may pass through a
# run that shows the sample while an upload is replaced.
_SHOWN_JS = f"""([oldSrc, text]) => {{
    const img = ({_SEGMENTED_IMG_JS})();
    const main = document.querySelector("[data-testid='stMain']");
    return img !== null && img.src !== oldSrc && img.complete && img.naturalWidth > 0
        && main !== null && main.innerText.includes(text) && ({SETTLED_JS})();
}}"""

# The 3D chart in the open tab: "drawn" (a plotly div with a scatter3d trace and a sized
# canvas), "pending" (a chart element, not drawn yet) or "absent". With ``k``, drawn
# means drawn for k centres (the "centres" trace, else any scatter3d trace, has k points).
_CHART_JS = """(k) => {
    const panel = document.querySelector("[role='tabpanel']") || document;
    const is3d = (t) => t.type === "scatter3d";
    const hasK = (traces) => {
        const named = traces.filter((t) => is3d(t) && t.name === "centres");
        return (named.length ? named : traces.filter(is3d)).some((t) => (t.x || []).length === k);
    };
    const drawn = [...panel.querySelectorAll(".js-plotly-plot")].some((div) => {
        const traces = div._fullData || [];
        return traces.some(is3d) && (k === null || hasK(traces))
            && [...div.querySelectorAll("canvas")].some((c) => c.width > 0 && c.height > 0);
    });
    if (drawn) return "drawn";
    const any = panel.querySelector("[data-testid='stPlotlyChart'], .js-plotly-plot");
    return any === null ? "absent" : "pending";
}"""

_CHART_DRAWN_JS = f"(k) => ({_CHART_JS})(k) === 'drawn'"

_IMAGE_READY_JS = "(img) => img !== null && img.complete && img.naturalWidth > 0"

# The first visit: original and segmented images loaded and the 3D chart drawn ("chart"),
# or the two images loaded and the app settled with no chart at all ("no chart").
_FIRST_VISIT_JS = f"""() => {{
    const ready = {_IMAGE_READY_JS};
    const image = (key) => document.querySelector(`.st-key-${{key}} [data-testid='stImage'] img`);
    if (!ready(image("original")) || !ready(image("segmented"))) return false;
    const chart = ({_CHART_JS})(null);
    if (chart === "drawn") return "chart";
    return chart === "absent" && ({SETTLED_JS})() ? "no chart" : false;
}}"""

# A tab's first open: the tab selected, every selector matching at least one loaded
# image in its panel, a 2D plotly chart drawn there if asked, and the app settled.
_TAB_SHOWN_JS = f"""([tab, selectors, plot]) => {{
    const ready = {_IMAGE_READY_JS};
    const selected = document.querySelector("[role='tab'][aria-selected='true']");
    const panel = document.querySelector("[role='tabpanel']");
    if (selected === null || selected.textContent.trim() !== tab || panel === null) return false;
    const shown = selectors.every((selector) => {{
        const images = [...panel.querySelectorAll(selector)];
        return images.length > 0 && images.every(ready);
    }});
    const drawn = !plot || [...panel.querySelectorAll(".js-plotly-plot")].some(
        (div) => (div._fullData || []).length > 0 && div.querySelector(".main-svg") !== null);
    return shown && drawn && ({SETTLED_JS})();
}}"""

# Adds or removes the style that hides the charts; true if that changed anything.
_HIDE_CHART_JS = f"""(hide) => {{
    let style = document.getElementById("bench-hide-chart");
    if (hide && style === null) {{
        style = document.createElement("style");
        style.id = "bench-hide-chart";
        style.textContent = {HIDE_CHART_CSS!r};
        document.head.appendChild(style);
        return true;
    }} else if (!hide && style !== null) {{
        style.remove();
        return true;
    }}
    return false;
}}"""
_TWO_FRAMES_JS = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"

COMPARE_IMAGES = ["[class*='st-key-checker-compare-'] [data-testid='stImage'] img"]
SUPERPIXEL_IMAGES = [
    ".st-key-sp_superpixels [data-testid='stImage'] img",
    ".st-key-sp_segmented [data-testid='stImage'] img",
]


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Row:
    """One line of the table: what it measures, its target, the --rows name that runs it."""

    key: str
    what: str  # "{photo}" stands for the photo's size, e.g. "12 MP"
    target: float | None
    group: str
    recipe: str | None = None  # the recipe page's action beside it


TABLE = [
    Row("first_visit", "first visit on a fresh install: original, segmented and 3D chart",
        3.0, "first-visit"),
    Row("server_start", "... server start on a fresh install (to /_stcore/health ok)",
        None, "first-visit"),
    Row("cli_first", f"CLI first run on a fresh install, {{photo}}, k = {CLI_K}, whole process",
        3.0, "cli"),
    Row("cli_second", "... CLI second run, same install (compiled cache present)", None, "cli"),
    Row("k_chart", "{photo} k change, key press to the new segmented image, 3D chart shown",
        0.25, "k-change", recipe="warm"),
    Row("k_no_chart", "... the same with the 3D chart hidden (CSS display: none)",
        None, "k-change"),
    Row("k_chart_drawn", "... key press to the 3D chart redrawn for the new k",
        None, "k-change"),
    Row("k32", "{photo} k = 32 (End key), to the new segmented image", 0.5, "k32"),
    Row("compare", "{photo} Compare tab first open, pictures and elbow chart", 1.5, "compare"),
    Row("space", f"{{photo}} colour space change {SPACES[0]} -> {SPACES[1]}, to the new image",
        0.4, "space"),
    Row("sp_fresh", "Superpixels tab first open, fresh install (default sample)",
        3.0, "superpixels"),
    Row("sp_warm", "Superpixels tab first open, warm server ({photo} just uploaded)",
        1.0, "superpixels"),
    Row("cold", "cold {photo} upload to the result on screen", 1.0, "upload", recipe="cold"),
]  # fmt: skip
ROWS = tuple(dict.fromkeys(row.group for row in TABLE))
FRESH_ROWS = {"first-visit", "cli", "superpixels"}
WARM_ROWS = {"k-change", "k32", "compare", "space", "superpixels", "upload"}
TABLE_HEADER = "| what | median s | n | target s | met? | recipe median s | recipe/kseg |"


@dataclass
class Results:
    """Every time measured (seconds) by row key, the recipe's by action, and notes."""

    times: dict[str, list[float]] = field(default_factory=dict)
    recipe: dict[str, list[float]] = field(default_factory=lambda: {"cold": [], "warm": []})
    notes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, seconds: float) -> float:
        self.times.setdefault(key, []).append(seconds)
        return seconds

    def note(self, key: str, text: str) -> None:
        notes = self.notes.setdefault(key, [])
        if text not in notes:
            notes.append(text)


def rows_table(results: Results, groups: Iterable[str], photo: str) -> str:
    """The Markdown table of the rows in ``groups``, in the issue's order."""
    lines = [TABLE_HEADER, "|---|---:|---:|---:|---|---:|---:|"]
    for row in (r for r in TABLE if r.group in set(groups)):
        values = results.times.get(row.key, [])
        median = statistics.median(values) if values else None
        recipe = results.recipe.get(row.recipe, []) if row.recipe else []
        recipe_median = statistics.median(recipe) if recipe else None
        cells = [
            row.what.format(photo=photo),
            "-" if median is None else f"{median:.3f}",
            str(len(values)),
            "-" if row.target is None else f"<= {row.target:g}",
            verdict(row, median, results.notes.get(row.key, [])),
            "-" if recipe_median is None else f"{recipe_median:.3f}",
            "-" if recipe_median is None or not median else f"{recipe_median / median:.0f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(row: Row, median: float | None, notes: list[str]) -> str:
    if median is None:
        return "not measured"
    if CHART_NOT_SHOWN in notes:
        return f"no: {CHART_NOT_SHOWN}"
    if row.target is None:
        return "-"
    return "yes" if median <= row.target else "no"


# ----------------------------------------------------------------------------- photos
def base_photo(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The coffee sample upscaled to ``size`` (w, h) with mild Gaussian noise, uint8 BGR."""
    from kseg.samples import sample_path

    bgr = cv2.imread(str(sample_path("coffee")), cv2.IMREAD_COLOR)
    big = cv2.resize(bgr, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    big += np.random.default_rng(seed).normal(0.0, NOISE_SIGMA, big.shape).astype(np.float32)
    return np.clip(big, 0, 255).astype(np.uint8)


def photo_variant(base: np.ndarray, variant: int, folder: Path) -> Path:
    """Write ``base`` as JPEG with a few pixels changed by ``variant`` (so caches miss)."""
    pixels = base.copy()
    rng = np.random.default_rng(1000 + variant)
    rows = rng.integers(0, pixels.shape[0], 16)
    cols = rng.integers(0, pixels.shape[1], 16)
    pixels[rows, cols] = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    path = folder / f"photo-{variant}.jpg"
    if not cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"could not write {path}")
    return path


def photo_variants(base: np.ndarray, folder: Path) -> Iterator[Path]:
    """A new variant of ``base`` each time, written when asked for."""
    return (photo_variant(base, v, folder) for v in itertools.count())


# ----------------------------------------------------------------------------- driving
@dataclass
class PageRun:
    """One page in one browser tab, with its timings."""

    name: str
    page: Any
    upload_text: str = ""  # what the main area says once an upload is on show
    times: dict[str, list[float]] = field(default_factory=lambda: {"cold": [], "warm": []})
    shown_k: list[int] = field(default_factory=list)
    direction: int = 0
    timeout_ms: float = ACTION_TIMEOUT_MS  # for each step

    def segmented_src(self) -> str | None:
        return self.page.evaluate(_SEGMENTED_SRC_JS)

    def settle(self) -> None:
        self.page.bring_to_front()  # and browser_support turns background throttling off
        wait_until_settled(self.page, self.timeout_ms)

    def timed(self, do: Callable[[], Any], js: str, arg: Any = None) -> float:
        """Seconds from ``do()`` to ``js(arg)`` true, polled on every animation frame."""
        start = time.perf_counter()
        do()
        self.page.wait_for_function(js, arg=arg, timeout=self.timeout_ms, polling="raf")
        return time.perf_counter() - start

    def _to_new_image(self, action: str, do: Callable[[], Any]) -> float:
        """Seconds from ``do()`` to a new segmented image on show; kept under ``action``."""
        self.settle()
        seconds = self.timed(do, _SHOWN_JS, [self.segmented_src(), self.upload_text])
        self.times.setdefault(action, []).append(seconds)
        return seconds

    def cold(self, photo: Path) -> float:
        uploader = self.page.get_by_test_id("stFileUploaderDropzoneInput")
        return self._to_new_image("cold", lambda: uploader.set_input_files(str(photo)))

    def warm(self, action: str = "warm") -> float:
        """One step of the k slider, always the same way (to k values not shown yet)."""
        thumb = k_slider_input(self.page)
        value = int(thumb.get_attribute("value"))
        low, high = int(thumb.get_attribute("min")), int(thumb.get_attribute("max"))
        if self.direction == 0:
            self.direction = 1 if high - value >= value - low else -1
        if not low <= value + self.direction <= high:
            self.direction = -self.direction  # at an end: from here on k values repeat
        key = "ArrowRight" if self.direction > 0 else "ArrowLeft"
        return self._press_k(action, key)

    def k_to_max(self, action: str = "k32") -> float:
        return self._press_k(action, "End")

    def _press_k(self, action: str, key: str) -> float:
        thumb = k_slider_input(self.page)
        if not self.shown_k:
            self.shown_k.append(int(thumb.get_attribute("value")))
        seconds = self._to_new_image(action, lambda: (thumb.focus(), thumb.press(key)))
        self.shown_k.append(int(k_slider_input(self.page).get_attribute("value")))
        return seconds

    def space(self, name: str, action: str = "space") -> float:
        """A click on colour space ``name`` in the sidebar."""
        option = self.page.locator(".st-key-space [data-testid='stRadioOption']")
        return self._to_new_image(action, option.filter(has_text=name).first.click)

    def open_tab(self, tab: str, images: list[str], *, plot: bool = False) -> float:
        """Seconds from a click on ``tab`` to its images (and 2D chart) on screen."""
        self.settle()
        click = self.page.get_by_role("tab", name=tab, exact=True).click
        return self.timed(click, _TAB_SHOWN_JS, [tab, images, plot])

    def chart_state(self, k: int | None = None) -> str:
        return self.page.evaluate(_CHART_JS, k)

    def hide_chart(self, hide: bool) -> None:
        """Hide (or show again) the charts with CSS, then let the page finish what that
        started (plotly follows its element's size) before anything is timed."""
        if self.page.evaluate(_HIDE_CHART_JS, hide):
            if not hide:
                wait_for(self.page, _CHART_DRAWN_JS, None, CHART_TIMEOUT_MS)
            self.page.evaluate(_TWO_FRAMES_JS)
            self.page.wait_for_timeout(QUIET_MS)

    def show_chart(self) -> str:
        """Have the 3D chart drawn: "on the tab", "from the expander" (opened here), or
        CHART_NOT_SHOWN."""
        self.settle()
        if self.chart_state() == "absent":
            expander = self.page.get_by_test_id("stExpander").filter(has_text="3D")
            if expander.count() == 0:
                return CHART_NOT_SHOWN
            expander.locator("summary").first.click()
            opened = "from the expander"
        else:
            opened = "on the tab"
        if not wait_for(self.page, _CHART_DRAWN_JS, None, ACTION_TIMEOUT_MS):
            return CHART_NOT_SHOWN
        self.settle()
        return opened

    def close_chart_expander(self) -> None:
        """Close the 3D chart's expander again (after show_chart opened it)."""
        expander = self.page.get_by_test_id("stExpander").filter(has_text="3D")
        expander.locator("summary").first.click()
        self.page.wait_for_function(
            f"() => ({_CHART_JS})(null) === 'absent'", timeout=ACTION_TIMEOUT_MS
        )


def k_slider_input(page: Any) -> Any:
    """The range input of the k slider (its label starts with k or mentions clusters)."""
    sliders = page.locator("[data-testid='stSlider'] input[type='range']")
    for i in range(sliders.count()):
        label = (sliders.nth(i).get_attribute("aria-label") or "").strip().lower()
        if label == "k" or label.startswith("k ") or "cluster" in label or "colours" in label:
            return sliders.nth(i)
    return sliders.first


# ----------------------------------------------------------------------------- all rows
def run_rows(
    *,
    groups: Iterable[str] = ROWS,
    quick: bool = False,
    repeats: int = 3,
    k_steps: int = 4,
    fresh: int = 2,
    recipe_cold: int = 2,
    recipe_warm: int = 1,
    app: str = "app.py",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure the rows of ``groups`` (names in ROWS) and return the report.

    ``repeats`` warm-server blocks with ``k_steps`` k changes each (half of them with the
    3D chart shown), ``fresh`` fresh installs for the page and as many for the CLI, the
    recipe's cold and warm steps spread between the blocks. Returns ``{"results":
    Results, "table": str, "notes": [str], "header": [str]}``.
    """
    groups = [g for g in ROWS if g in set(groups)]
    if quick:
        repeats, k_steps, fresh, recipe_cold, recipe_warm = 1, 2, 1, 0, 0
    if recipe_warm and not recipe_cold:
        raise ValueError("The recipe needs a cold run (an upload) before a warm one.")
    size = QUICK_SIZE if quick else FULL_SIZE
    photo = f"{size[0] * size[1] / 1e6:.1f} MP".replace(".0 MP", " MP")
    results = Results()
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kseg-bench-app-")))
        photos = photo_variants(base_photo(size), folder)
        browser = stack.enter_context(chromium())
        for i in range(fresh if FRESH_ROWS & set(groups) else 0):
            fresh_rows(
                browser, folder / f"fresh-{i}", next(photos), groups, results, log, overlap=quick
            )
        if WARM_ROWS & set(groups):
            warm_rows(
                browser, photos, groups, results, log,
                repeats=repeats, k_steps=k_steps, recipe_cold=recipe_cold,
                recipe_warm=recipe_warm, app=app,
            )  # fmt: skip
    return {
        "results": results,
        "table": rows_table(results, groups, photo),
        "notes": note_lines(results, photo),
        "header": environment_lines(size, load_before, os.getloadavg()) + source_lines(),
    }


def fresh_rows(
    browser: Any,
    folder: Path,
    photo: Path,
    groups: list[str],
    results: Results,
    log: Callable[[str], None],
    *,
    overlap: bool = False,
) -> None:
    """One fresh install for the page (first visit, Superpixels) and one for the CLI.

    With ``overlap`` (the quick run) the CLI's runs at the same time as the page's, in a
    thread, so the three first compiles share the two cores: a smoke run, not a measure.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        cli = None
        if "cli" in groups and overlap:
            cli = pool.submit(fresh_cli, folder / "cli", photo, results, log)
        if {"first-visit", "superpixels"} & set(groups):
            install = fresh_install(folder / "page")
            try:
                fresh_page(browser, install, "superpixels" in groups, results, log)
            finally:
                waited = wait_for_background(install)
                log(f"  fresh install: background processes ended {waited:.1f} s after the server")
        if cli is not None:
            cli.result()
        elif "cli" in groups:
            fresh_cli(folder / "cli", photo, results, log)


def fresh_cli(folder: Path, photo: Path, results: Results, log: Callable[[str], None]) -> None:
    """The CLI's first run on a fresh install, then its second once nothing runs behind."""
    install = fresh_install(folder)
    command = kseg_command("segment", str(photo), "-k", str(CLI_K), "-o", str(folder / "out"), "-q")
    log(f"  cli first run:  {results.add('cli_first', time_command(install, command)):7.3f} s")
    waited = wait_for_background(install)
    log(f"  cli second run: {results.add('cli_second', time_command(install, command)):7.3f} s"
        f"  (after {waited:.1f} s for background processes)")  # fmt: skip
    wait_for_background(install)


def fresh_page(
    browser: Any, install: FreshInstall, superpixels: bool, results: Results, log: Callable
) -> None:
    """Start the install's server, time the first visit and the Superpixels tab's first open."""
    server = StreamlitServer("app.py", cwd=install.root, env=install.env, startup_timeout=180)
    start = time.perf_counter()
    server.start()
    log(f"  fresh server start: {results.add('server_start', time.perf_counter() - start):7.3f} s")
    context = browser.new_context(viewport=VIEWPORT)
    try:
        run_ = PageRun("fresh", context.new_page())
        seconds = run_.timed(
            lambda: run_.page.goto(server.url, wait_until="commit", timeout=ACTION_TIMEOUT_MS),
            _FIRST_VISIT_JS,
        )
        chart = run_.page.evaluate(_FIRST_VISIT_JS)
        if chart != "chart":
            results.note("first_visit", CHART_NOT_SHOWN)
        log(f"  fresh first visit:  {results.add('first_visit', seconds):7.3f} s  ({chart})")
        if superpixels:
            seconds = run_.open_tab("Superpixels", SUPERPIXEL_IMAGES)
            log(f"  fresh superpixels:  {results.add('sp_fresh', seconds):7.3f} s")
    finally:
        context.close()
        server.cleanup()


def warm_rows(
    browser: Any,
    photos: Iterator[Path],
    groups: list[str],
    results: Results,
    log: Callable[[str], None],
    *,
    repeats: int,
    k_steps: int,
    recipe_cold: int,
    recipe_warm: int,
    app: str,
) -> None:
    """The warm server's blocks, the recipe's steps between them."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(StreamlitServer(app, startup_timeout=180))
        log(f"kseg server: pid {server.pid}, {server.url}")
        context = browser.new_context(viewport=VIEWPORT)
        stack.callback(context.close)
        warm_up(context, server.url, "superpixels" in groups)
        recipe_actions = ["cold"] * recipe_cold + ["warm"] * recipe_warm
        recipe = None
        if recipe_actions:
            recipe_server = stack.enter_context(StreamlitServer("benchmarks/recipe_app.py"))
            log(f"recipe server: pid {recipe_server.pid}, {recipe_server.url}")
            recipe = PageRun("recipe", context.new_page(), timeout_ms=RECIPE_TIMEOUT_MS)
            open_app(recipe.page, recipe_server.url, ACTION_TIMEOUT_MS)
        for block in range(repeats):
            kseg_block(
                context, server.url, next(photos), groups, results, log,
                k_steps=k_steps, chart_first=block % 2 == 0,
            )  # fmt: skip
            # The rest of the recipe's steps after the last block; one after each other.
            while recipe is not None and recipe_actions:
                action = recipe_actions.pop(0)
                key = "cold" if action == "cold" else "k_chart"
                try:
                    seconds = recipe.cold(next(photos)) if action == "cold" else recipe.warm()
                except timeout_error():
                    # The recipe page is then in no known state: its other steps are dropped.
                    results.note(key, f"a recipe {action} step took over "
                                 f"{RECIPE_TIMEOUT_MS / 1000:.0f} s, the recipe's later steps "
                                 "were dropped")  # fmt: skip
                    log(f"  recipe {action}: timed out")
                    recipe_actions.clear()
                    break
                results.recipe[action].append(seconds)
                log(f"  recipe {action}: {seconds:7.3f} s")
                if block < repeats - 1:
                    break


def warm_up(context: Any, url: str, superpixels: bool) -> None:
    """Open the page once (the server loads or compiles its kernels), and the Superpixels
    tab once if it is measured: the warm server has done both before any timing."""
    page = context.new_page()
    try:
        open_app(page, url, ACTION_TIMEOUT_MS)
        if superpixels:
            PageRun("warm-up", page).open_tab("Superpixels", SUPERPIXEL_IMAGES)
    finally:
        page.close()


def kseg_block(
    context: Any,
    url: str,
    photo: Path,
    groups: list[str],
    results: Results,
    log: Callable[[str], None],
    *,
    k_steps: int,
    chart_first: bool,
) -> None:
    """One new session on the warm server, one new photo: the warm rows in turn.

    A step that times out is noted under its row and ends the block (the page is then
    in no known state); the next block starts afresh.
    """
    kseg = PageRun("kseg", context.new_page(), upload_text="Your photo")
    row = "cold"
    try:
        open_app(kseg.page, url, ACTION_TIMEOUT_MS)
        _log_step(log, "upload", results.add("cold", kseg.cold(photo)))
        if "space" in groups:
            row = "space"
            _log_step(log, f"space -> {SPACES[1]}", results.add("space", kseg.space(SPACES[1])))
            kseg.space(SPACES[0], action="untimed")
        if "k-change" in groups:
            row = "k_chart"
            k_change_steps(kseg, k_steps, results, log, chart_first=chart_first)
        if "k32" in groups:
            row = "k32"
            seconds = results.add("k32", kseg.k_to_max())
            _log_step(log, f"k {kseg.shown_k[-2]} -> {kseg.shown_k[-1]}", seconds)
        if "compare" in groups:
            row = "compare"
            seconds = kseg.open_tab("Compare", COMPARE_IMAGES, plot=True)
            _log_step(log, "Compare tab", results.add("compare", seconds))
        if "superpixels" in groups:
            row = "sp_warm"
            seconds = kseg.open_tab("Superpixels", SUPERPIXEL_IMAGES)
            _log_step(log, "Superpixels tab", results.add("sp_warm", seconds))
    except timeout_error():
        results.note(row, f"a step took over {kseg.timeout_ms / 1000:.0f} s and was dropped")
        log(f"  kseg {row}: timed out, the rest of this block dropped")
    finally:
        kseg.page.close()


def k_change_steps(
    kseg: PageRun, steps: int, results: Results, log: Callable, *, chart_first: bool
) -> None:
    """k steps, half with the 3D chart shown and half hidden (``chart_first``: the shown
    half first), so the chart is hidden and shown again once per block; it is then put
    back as it was for the rows after."""
    shown = kseg.show_chart()
    if shown == CHART_NOT_SHOWN:
        results.note("k_chart", CHART_NOT_SHOWN)
    else:
        results.note("k_chart", f"3D chart {shown}")
    for step in range(steps):
        with_chart = (step < (steps + 1) // 2) == chart_first
        kseg.hide_chart(not with_chart)
        start = time.perf_counter()
        seconds = results.add("k_chart" if with_chart else "k_no_chart", kseg.warm())
        detail = f"k {kseg.shown_k[-2]} -> {kseg.shown_k[-1]}"
        if with_chart and shown != CHART_NOT_SHOWN:
            drawn = chart_redrawn(kseg, kseg.shown_k[-1], start)
            if drawn is None:
                results.note("k_chart_drawn", "the chart did not show the new k in time")
            else:
                results.add("k_chart_drawn", drawn)
                detail += f", chart {drawn:.3f} s"
        _log_step(log, f"{detail}, chart {'shown' if with_chart else 'hidden'}", seconds)
    kseg.hide_chart(False)
    if shown == "from the expander":
        kseg.close_chart_expander()


def chart_redrawn(kseg: PageRun, k: int, start: float) -> float | None:
    """Seconds since ``start`` once the 3D chart shows k centres; None if it does not."""
    if not wait_for(kseg.page, _CHART_DRAWN_JS, k, CHART_TIMEOUT_MS):
        return None
    return time.perf_counter() - start


def wait_for(page: Any, js: str, arg: Any, timeout: float) -> bool:
    """Wait (ms) for ``js(arg)`` to be true, checked on every animation frame; False on a
    timeout."""
    try:
        page.wait_for_function(js, arg=arg, timeout=timeout, polling="raf")
    except timeout_error():
        return False
    return True


def timeout_error() -> type[Exception]:
    """Playwright's TimeoutError (imported when needed: the module loads without it)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    return PlaywrightTimeout


def _log_step(log: Callable[[str], None], what: str, seconds: float) -> None:
    log(f"  kseg {what}: {seconds:7.3f} s")


def note_lines(results: Results, photo: str) -> list[str]:
    by_key = {row.key: row for row in TABLE}
    return [
        f"{by_key[key].what.format(photo=photo).lstrip('. ')}: {'; '.join(notes)}."
        for key, notes in results.notes.items()
    ]


def source_lines() -> list[str]:
    """Which code was measured: the commit, and whether tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no")
    state = "with uncommitted changes to tracked files" if changed else "clean"
    return [
        f"Code: {git('rev-parse', '--short', 'HEAD')} ({state}).",
        "Fresh install: the tracked files copied to a new folder (no __pycache__), new empty "
        "NUMBA_CACHE_DIR, HOME and XDG_CACHE_HOME, a new server or CLI process. Warm server: "
        "one server for all blocks, its first visit and a Superpixels open done untimed "
        "before; each block a new session and a new photo (no cache can answer).",
    ]


# ----------------------------------------------------------------------------- run(): the pair
def run(
    *,
    quick: bool = False,
    cold_repeats: int = 3,
    warm_repeats: int = 6,
    recipe_cold: int = 2,
    recipe_warm: int = 1,
    app: str = "app.py",
    browser: Any = None,
    kseg_url: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The pair benchmark: cold uploads and k steps, kseg and recipe, one session each.

    ``browser`` (a launched Playwright browser) and ``kseg_url`` (a running kseg
    server) are reused when given, e.g. by the browser tests; otherwise they are
    started here and stopped at the end.

    Returns ``{"times": {page: {action: [s, ...]}}, "table": str, "verdicts": [str],
    "header": [str], "kseg_shown_k": [int]}``.
    """
    if quick:
        cold_repeats, warm_repeats, recipe_cold, recipe_warm = 1, 1, 0, 0
    if cold_repeats < 1 or (recipe_warm and not recipe_cold):
        raise ValueError(
            "Need at least one kseg cold run, and a recipe cold run before a warm one."
        )
    size = QUICK_SIZE if quick else FULL_SIZE
    load_before = os.getloadavg()

    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kseg-bench-app-")))
        base = base_photo(size)
        photos = [photo_variant(base, v, folder) for v in range(cold_repeats + recipe_cold)]
        megabytes = photos[0].stat().st_size / 1e6
        log(f"photo {size[0]}x{size[1]}, JPEG q{JPEG_QUALITY}: {megabytes:.1f} MB")

        if kseg_url is None:
            kseg_server = stack.enter_context(StreamlitServer(app))
            kseg_url = kseg_server.url
            log(f"kseg server: pid {kseg_server.pid}, {kseg_url}")
        recipe_url = None
        if recipe_cold:
            recipe_server = stack.enter_context(StreamlitServer("benchmarks/recipe_app.py"))
            recipe_url = recipe_server.url
            log(f"recipe server: pid {recipe_server.pid}, {recipe_url}")
        if browser is None:
            browser = stack.enter_context(chromium())
        context = browser.new_context(viewport=VIEWPORT)
        stack.callback(context.close)

        kseg = PageRun("kseg", context.new_page(), upload_text="Your photo")
        open_app(kseg.page, kseg_url, ACTION_TIMEOUT_MS)
        recipe = None
        if recipe_url is not None:
            recipe = PageRun("recipe", context.new_page())
            open_app(recipe.page, recipe_url, ACTION_TIMEOUT_MS)

        # Alternate a kseg block (one cold, a few warm) and one recipe action, so drifts
        # in the machine's load hit both pages. The recipe's colds come first: it needs
        # an image before it can be warm.
        todo = iter(photos)
        recipe_actions = ["cold"] * recipe_cold + ["warm"] * recipe_warm
        warm_per_block = _split(warm_repeats, cold_repeats)
        for block in range(cold_repeats):
            _step(log, kseg, "cold", kseg.cold, next(todo))
            for _ in range(warm_per_block[block]):
                _step(log, kseg, "warm", kseg.warm)
            last_block = block == cold_repeats - 1
            while recipe is not None and recipe_actions:
                if recipe_actions.pop(0) == "cold":
                    _step(log, recipe, "cold", recipe.cold, next(todo))
                else:
                    _step(log, recipe, "warm", recipe.warm)
                if not last_block:
                    break

    times = {"kseg": kseg.times}
    if recipe is not None:
        times["recipe"] = recipe.times
    return {
        "times": times,
        "table": format_table(times),
        "verdicts": verdict_lines(times),
        "header": environment_lines(size, load_before, os.getloadavg()),
        "kseg_shown_k": kseg.shown_k,
    }


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _step(log: Callable[[str], None], run_: PageRun, action: str, do: Callable, *args) -> None:
    seconds = do(*args)
    detail = f"  (k {run_.shown_k[-2]} -> {run_.shown_k[-1]})" if action == "warm" else ""
    log(f"  {run_.name:6s} {action}: {seconds:7.3f} s{detail}")


def format_table(times: dict[str, dict[str, list[float]]]) -> str:
    rows = [
        "| page | action | median s | n | ratio recipe/kseg |",
        "|---|---|---:|---:|---:|",
    ]
    for page in ("kseg", "recipe"):
        for action in ("cold", "warm"):
            values = times.get(page, {}).get(action, [])
            if not values:
                continue
            median = statistics.median(values)
            kseg_values = times["kseg"].get(action, [])
            recipe_values = times.get("recipe", {}).get(action, [])
            ratio = (
                f"{statistics.median(recipe_values) / statistics.median(kseg_values):.0f}x"
                if recipe_values and kseg_values
                else "-"
            )
            rows.append(f"| {page} | {action} | {median:.3f} | {len(values)} | {ratio} |")
    return "\n".join(rows)


def verdict_lines(times: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = []
    for action, target in TARGETS.items():
        values = times["kseg"].get(action, [])
        if not values:
            continue
        median = statistics.median(values)
        verdict = "PASS" if median <= target else "FAIL"
        lines.append(
            f"{verdict}: kseg {action} median {median:.3f} s (target <= {target} s; "
            f"runs: {', '.join(f'{v:.3f}' for v in values)})"
        )
    return lines


def environment_lines(size, load_before, load_after) -> list[str]:
    import streamlit

    return [
        f"Photo {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP) JPEG q{JPEG_QUALITY}, "
        f"coffee sample upscaled + noise sigma {NOISE_SIGMA}; headless Chromium; "
        f"Python {platform.python_version()}, Streamlit {streamlit.__version__}, "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / "
        f"{load_after[0]:.2f} after.",
    ]


# ----------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="0.5 MP photo, n = 1 of every row, no recipe"
    )
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help=f"comma-separated rows to measure (default all: {','.join(ROWS)})",
    )
    parser.add_argument("--repeats", type=int, default=3, help="warm-server blocks (default 3)")
    parser.add_argument(
        "--k-steps", type=int, default=4, help="k changes per block, half with the chart (4)"
    )
    parser.add_argument("--fresh", type=int, default=2, help="fresh installs (default 2)")
    parser.add_argument("--recipe-cold", type=int, default=2, help="recipe uploads (default 2)")
    parser.add_argument("--recipe-warm", type=int, default=1, help="recipe k steps (default 1)")
    parser.add_argument("--app", default="app.py", help="kseg's page (default app.py)")
    args = parser.parse_args(argv)
    groups = [name.strip() for name in args.rows.split(",") if name.strip()]
    unknown = sorted(set(groups) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    if args.repeats < 1 and WARM_ROWS & set(groups):
        parser.error("--repeats must be at least 1 for the warm-server rows")
    report = run_rows(
        groups=groups,
        quick=args.quick,
        repeats=args.repeats,
        k_steps=args.k_steps,
        fresh=args.fresh,
        recipe_cold=args.recipe_cold,
        recipe_warm=args.recipe_warm,
        app=args.app,
    )
    print()
    print("\n".join(report["header"]))
    print()
    print(report["table"])
    if report["notes"]:
        print()
        print("\n".join(f"Note: {line}" for line in report["notes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
