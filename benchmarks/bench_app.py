"""Benchmark kseg's dashboard against the classic recipe page, in a real browser.

Two Streamlit servers run side by side: kseg's ``app.py`` and ``benchmarks/recipe_app.py``
(cv2.kmeans on every pixel, as the tutorials do). Headless Chromium drives each page:

* cold: from handing the browser a new 12 MP JPEG (``set_input_files``) to the new
  segmented image shown (its ``src`` changed, the image loaded, the script finished);
* warm: from one step of the k slider to the new segmented image shown.

Each kseg cold run uploads a slightly different photo (a few pixels changed) so no cache
can answer it; each warm step goes to a k not shown before. The pages alternate, and the
table gives medians and the ratio recipe/kseg. Targets: kseg cold <= 1.5 s, warm <= 0.4 s.

    python benchmarks/bench_app.py           # full run, ~6-10 minutes (the recipe is slow)
    python benchmarks/bench_app.py --quick   # smoke run: small photo, kseg only, ~30 s

The photos are built here from the bundled coffee sample (upscaled with INTER_CUBIC, mild
noise) into a temporary folder that is deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser_support import (  # noqa: E402
    StreamlitServer,
    chromium,
    open_app,
    wait_until_settled,
)

TARGETS = {"cold": 1.5, "warm": 0.4}  # seconds, kseg's page
FULL_SIZE = (4000, 3000)  # width, height: 12 MP
QUICK_SIZE = (800, 600)
NOISE_SIGMA = 1.5
JPEG_QUALITY = 90
ACTION_TIMEOUT_MS = 300_000  # the recipe needs about a minute per 12 MP run

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
    const app = document.querySelector("[data-testid='stApp']");
    const main = document.querySelector("[data-testid='stMain']");
    return img !== null && img.src !== oldSrc && img.complete && img.naturalWidth > 0
        && main !== null && main.innerText.includes(text)
        && app !== null && app.getAttribute("data-test-script-state") === "notRunning"
        && document.querySelector("[data-testid='stSkeleton'], [data-testid='stSpinner']") === null
        && document.querySelector("[data-testid='stApp'] [data-stale='true']") === null;
}}"""


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

    def segmented_src(self) -> str | None:
        return self.page.evaluate(_SEGMENTED_SRC_JS)

    def _timed(self, action: str, do: Callable[[], None]) -> float:
        self.page.bring_to_front()  # and browser_support turns background throttling off
        wait_until_settled(self.page, ACTION_TIMEOUT_MS)
        old = self.segmented_src()
        start = time.perf_counter()
        do()
        self.page.wait_for_function(
            _SHOWN_JS, arg=[old, self.upload_text], timeout=ACTION_TIMEOUT_MS, polling="raf"
        )
        seconds = time.perf_counter() - start
        self.times[action].append(seconds)
        return seconds

    def cold(self, photo: Path) -> float:
        uploader = self.page.get_by_test_id("stFileUploaderDropzoneInput")
        return self._timed("cold", lambda: uploader.set_input_files(str(photo)))

    def warm(self) -> float:
        """One step of the k slider, always the same way (to k values not shown yet)."""
        thumb = k_slider_input(self.page)
        value = int(thumb.get_attribute("value"))
        low, high = int(thumb.get_attribute("min")), int(thumb.get_attribute("max"))
        if self.direction == 0:
            self.direction = 1 if high - value >= value - low else -1
        if not low <= value + self.direction <= high:
            self.direction = -self.direction  # at an end: from here on k values repeat
        key = "ArrowRight" if self.direction > 0 else "ArrowLeft"
        if not self.shown_k:
            self.shown_k.append(value)
        seconds = self._timed("warm", lambda: (thumb.focus(), thumb.press(key)))
        self.shown_k.append(int(k_slider_input(self.page).get_attribute("value")))
        return seconds


def k_slider_input(page: Any) -> Any:
    """The range input of the k slider (its label starts with k or mentions clusters)."""
    sliders = page.locator("[data-testid='stSlider'] input[type='range']")
    for i in range(sliders.count()):
        label = (sliders.nth(i).get_attribute("aria-label") or "").strip().lower()
        if label == "k" or label.startswith("k ") or "cluster" in label or "colours" in label:
            return sliders.nth(i)
    return sliders.first


# ----------------------------------------------------------------------------- running
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
    """Run the benchmark and return its timings and report.

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
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
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


# ----------------------------------------------------------------------------- report
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
        f"Photo {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} MP) JPEG q{JPEG_QUALITY}, "
        f"coffee sample upscaled + noise sigma {NOISE_SIGMA}; headless Chromium; "
        f"Python {platform.python_version()}, Streamlit {streamlit.__version__}, "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / "
        f"{load_after[0]:.2f} after.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small photo, 1 repeat, no recipe")
    parser.add_argument("--cold", type=int, default=3, help="kseg cold runs (default 3)")
    parser.add_argument("--warm", type=int, default=6, help="kseg warm runs (default 6)")
    parser.add_argument("--recipe-cold", type=int, default=2, help="recipe cold runs (default 2)")
    parser.add_argument("--recipe-warm", type=int, default=1, help="recipe warm runs (default 1)")
    parser.add_argument("--app", default="app.py", help="kseg's page (default app.py)")
    args = parser.parse_args(argv)
    result = run(
        quick=args.quick,
        cold_repeats=args.cold,
        warm_repeats=args.warm,
        recipe_cold=args.recipe_cold,
        recipe_warm=args.recipe_warm,
        app=args.app,
    )
    print()
    print("\n".join(result["header"]))
    print()
    print(result["table"])
    print()
    print("\n".join(result["verdicts"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
