"""A long session: one visitor makes 300 changes and 20 uploads; does the server's memory hold?

One headless Chromium page drives one ``streamlit run app.py`` the way a visitor does:
k on the slider, the colour space, the initialisation, attempts, seed, the 3D view, the
tabs (Compare, Isolate, Downloads, Superpixels and back), and 20 uploads of different
12 MP photos (bundled samples upscaled with INTER_CUBIC, noise and a tint, JPEG q90).
The server's resident memory (psutil: the process and its children) is read after every
action, once the page has settled.

The page keeps decoded photos and results in a memory budget (kseg.dashboard.server.CACHE_MB, read
from there), so enough uploads to fill it come early, one after each of the first changes:
from then on the cache is full and memory should hold. PASS when the memory after the last action is
within 10% of the memory after the first 20 changes, the page never showed an error,
every upload showed its own photo, and the server is up at the end.

    python benchmarks/soak.py             # 300 changes, 20 uploads of 12 MP (~10 minutes)
    python benchmarks/soak.py --quick     # 40 changes, 10 uploads of 1 MP (~2 minutes)

Prints the memory curve (a row every 20 actions) as a Markdown table, then PASS/FAIL.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from _common import encode_jpeg, machine_summary, now, photo_like  # noqa: E402
from browser_support import (  # noqa: E402
    StreamlitServer,
    chromium,
    install_run_watcher,
    open_app,
    script_states,
    wait_until_settled,
)

import kseg  # noqa: E402
from kseg.dashboard.cache import nbytes  # noqa: E402

FULL = {"changes": 300, "uploads": 20, "size": (4000, 3000)}
QUICK = {"changes": 40, "uploads": 10, "size": (1200, 900)}
BASELINE_CHANGES = 20
TOLERANCE = 0.10
ACTION_TIMEOUT_MS = 300_000
SAMPLES = ("coffee", "chelsea", "astronaut", "retina")
TABS = ("Compare", "Isolate", "Downloads", "Superpixels")
SEGMENTED_IMG = ".st-key-segmented [data-testid='stImage'] img"


@dataclass(frozen=True)
class Record:
    index: int
    action: str
    seconds: float
    rss: int
    uploads: int
    changes: int


def server_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


# ----------------------------------------------------------------------------- photos
def make_photos(n: int, size: tuple[int, int], folder: Path, log) -> list[tuple[Path, str]]:
    """n different photos, each with the distinct-colour count the page must show."""
    photos = []
    for i in range(n):
        rgb = photo_like(SAMPLES[i % len(SAMPLES)], size, seed=100 + i)
        tint = np.array([(i * 29) % 21 - 10, (i * 43) % 21 - 10, (i * 61) % 21 - 10])
        data = encode_jpeg(np.clip(rgb.astype(np.int16) + tint, 0, 255).astype(np.uint8), 90)
        path = folder / f"soak-{i}.jpg"
        path.write_bytes(data)
        hist = kseg.ColorHistogram.from_image(kseg.load_image(data))
        photos.append((path, f"{hist.n_colors:,}"))
        log(f"photo {i + 1}/{n} ready")
    return photos


# ----------------------------------------------------------------------------- actions
class Visitor:
    """One page, changed the way a person changes it; every change waits for its rerun."""

    def __init__(self, page, rng: random.Random) -> None:
        self.page = page
        self.rng = rng
        self.tab = "Segment"
        self.no_rerun_seen = 0

    # -- waiting
    def _after(self, do, expect_text: str | None = None) -> None:
        """Do something and wait for the rerun it causes to finish.

        With `expect_text`, wait until the page shows it. Without, wait up to 5 s for a
        finished rerun to be recorded, then for the page to settle: a rerun can be too
        quick to observe, or still running (then settling waits for it).
        """
        page = self.page
        wait_until_settled(page, ACTION_TIMEOUT_MS)
        seen = len(script_states(page))
        do()
        try:
            page.wait_for_function(
                """([seen, text]) => {
                    const states = window.__stStates || [];
                    const main = document.querySelector("[data-testid='stMain']");
                    const ran = states.slice(seen).some((s) => s.state === "notRunning");
                    return ran && (!text || (main !== null && main.innerText.includes(text)));
                }""",
                arg=[seen, expect_text],
                timeout=ACTION_TIMEOUT_MS if expect_text else 5_000,
                polling=50,
            )
        except Exception:
            if expect_text:
                raise
            if len(script_states(page)) == seen:
                self.no_rerun_seen += 1
        wait_until_settled(page, ACTION_TIMEOUT_MS)

    # -- the actions
    def upload(self, path: Path, distinct: str) -> None:
        if self.tab != "Segment":  # the metrics are on the Segment tab
            self.open_tab("Segment")
        page = self.page
        old = page.locator(SEGMENTED_IMG).get_attribute("src")
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
        page.wait_for_function(
            """([selector, old, text]) => {
                const img = document.querySelector(selector);
                const main = document.querySelector("[data-testid='stMain']");
                return img !== null && img.src !== old && img.complete
                    && main !== null && main.innerText.includes(text);
            }""",
            arg=[SEGMENTED_IMG, old, distinct],
            timeout=ACTION_TIMEOUT_MS,
        )
        wait_until_settled(page, ACTION_TIMEOUT_MS)

    def change(self) -> str:
        """One random parameter change; returns its name."""
        if self.tab != "Segment":  # back from another tab, so its work is not redone
            return self.open_tab("Segment")
        kind = self.rng.choices(
            ["k", "space", "init", "attempts", "seed", "3d", "tab"], [8, 2, 2, 2, 2, 1, 2]
        )[0]
        return getattr(self, f"_{kind.replace('3d', 'view_3d')}")()

    def _k(self) -> str:
        thumb = self.page.locator(".st-key-k input[type='range']")
        value = int(thumb.get_attribute("value"))
        low, high = int(thumb.get_attribute("min")), int(thumb.get_attribute("max"))
        step = self.rng.choice([-1, 1]) if low < value < high else (1 if value == low else -1)
        target = value + step
        key = "ArrowRight" if step > 0 else "ArrowLeft"
        self._after(lambda: (thumb.focus(), thumb.press(key)), f"Segmented into {target} colours")
        return f"k={target}"

    def _radio(self, key: str, options: list[str]) -> str:
        group = self.page.locator(f".st-key-{key}")
        checked = group.locator("label:has(input:checked)")
        current = checked.first.inner_text().strip() if checked.count() else ""
        choice = self.rng.choice([o for o in options if o != current] or options)
        self._after(lambda: group.get_by_text(choice, exact=True).click())
        return f"{key}={choice}"

    def _space(self) -> str:
        return self._radio("space", ["RGB", "CIELAB", "HSV"])

    def _init(self) -> str:
        return self._radio("init", ["k-means++", "random"])

    def _number(self, key: str, low: int, high: int) -> str:
        box = self.page.locator(f".st-key-{key} input")
        current = box.input_value()
        value = str(self.rng.choice([v for v in range(low, high + 1) if str(v) != current]))
        self._after(lambda: (box.fill(value), box.press("Enter")))
        return f"{key}={value}"

    def _attempts(self) -> str:
        return self._number("attempts", 1, 10)

    def _seed(self) -> str:
        return self._number("seed", 0, 9)

    def _view_3d(self) -> str:
        summary = self.page.locator(".st-key-centres summary")
        self._after(lambda: summary.click())
        return "3D view toggled"

    def _tab(self) -> str:
        return self.open_tab(self.rng.choice(TABS))

    def open_tab(self, name: str) -> str:
        tab = self.page.get_by_role("tab", name=name, exact=True)
        if tab.count() == 0:
            return self._k()  # a page without that tab: change k instead
        self._after(lambda: tab.click())
        self.tab = name
        return f"tab {name}"

    def errors(self) -> list[str]:
        return self.page.evaluate(
            """() => [...document.querySelectorAll(
                "[data-testid='stException'], [data-testid='stAlertContentError']")]
                .map((e) => e.innerText.slice(0, 200))"""
        )


def photos_to_fill_cache(photo: Path) -> int:
    """Uploads that fill the page's memory budget (server.CACHE_MB) with photos like
    `photo`, each measured as the page holds it: decoded, counted, with the colour
    features of one colour space and its preview index."""
    from kseg.dashboard.server import CACHE_MB
    from kseg.dashboard.state import PREVIEW_SIDE

    image = kseg.load_image(photo)
    hist = kseg.ColorHistogram.from_image(image)
    held = nbytes((image, hist, hist.in_space("rgb"), hist.preview_index(PREVIEW_SIDE)))
    return math.ceil(CACHE_MB * 2**20 / held) + 1


def schedule(changes: int, uploads: int, early: int) -> list[str]:
    """The actions in order: `early` uploads, one after each of the first changes (the
    cache fills before the baseline), the others spread evenly after the baseline."""
    early = min(early, uploads, BASELINE_CHANGES)
    late = uploads - early
    every = max(1, (changes - BASELINE_CHANGES) // max(late, 1))
    plan = ["upload"]
    for i in range(1, changes + 1):
        plan.append("change")
        if i < early:
            plan.append("upload")
        elif late and i > BASELINE_CHANGES and (i - BASELINE_CHANGES) % every == 0:
            plan.append("upload")
            late -= 1
    return plan + ["upload"] * late


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 changes, 10 uploads of 1 MP")
    parser.add_argument("--seed", type=int, default=0, help="seeds the order of the changes")
    parser.add_argument("--changes", type=int, help="parameter changes (default 300)")
    parser.add_argument("--uploads", type=int, help="uploads (default 20)")
    parser.add_argument("--rows", type=int, default=20, help="show every Nth action")
    args = parser.parse_args(argv)
    plan_size = dict(QUICK if args.quick else FULL)
    for option in ("changes", "uploads"):
        if getattr(args, option) is not None:
            plan_size[option] = getattr(args, option)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    w, h = plan_size["size"]
    print(f"# kseg page soak: {plan_size['changes']} changes, {plan_size['uploads']} uploads "
          f"of {w} x {h} photos, one session\n")  # fmt: skip
    print(f"{now()}. " + " ".join(machine_summary()[:2]) + "\n")
    records: list[Record] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kseg-soak-") as tmp:
        photos = make_photos(plan_size["uploads"], plan_size["size"], Path(tmp), log)
        early = photos_to_fill_cache(photos[0][0])
        plan = schedule(plan_size["changes"], plan_size["uploads"], early)
        log(f"{min(early, plan_size['uploads'])} uploads among the first changes fill the cache")
        with StreamlitServer("app.py", startup_timeout=120) as server, chromium() as browser:
            process = psutil.Process(server.pid)
            idle = server_rss(process)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            page = context.new_page()
            install_run_watcher(page)
            open_app(page, server.url, ACTION_TIMEOUT_MS)
            visitor = Visitor(page, random.Random(args.seed))
            uploads = changes = 0
            for index, step in enumerate(plan, start=1):
                t0 = time.perf_counter()
                try:
                    if step == "upload":
                        path, distinct = photos[uploads]
                        visitor.upload(path, distinct)
                        uploads += 1
                        action = f"upload {uploads}"
                    else:
                        action = visitor.change()
                        changes += 1
                except Exception as exc:
                    problems.append(f"action {index} ({step}): {str(exc).splitlines()[0][:160]}")
                    log(problems[-1])
                    action = f"{step} FAILED"
                    if len(problems) > 5:
                        break
                seconds = time.perf_counter() - t0
                errors = visitor.errors()
                if errors:
                    problems.append(f"action {index} ({action}): error shown: {errors[0]!r}")
                records.append(
                    Record(index, action, seconds, server_rss(process), uploads, changes)
                )
                if index % 20 == 0:
                    log(f"{index}/{len(plan)} actions, {records[-1].rss / 1e6:,.0f} MB")
            healthy = server.process is not None and server.process.poll() is None
            context.close()
    return report(records, problems, idle, healthy, visitor.no_rerun_seen, started, args.rows)


def report(records, problems, idle, healthy, no_rerun_seen, started, rows=20) -> int:
    baseline = next((r for r in records if r.changes >= BASELINE_CHANGES), records[-1])
    last = records[-1]
    peak = max(r.rss for r in records)
    print(f"## Server memory after each action (every {rows}th shown)\n")
    print("| action | uploads | changes | last action | its time (s) | RSS (MB) | vs baseline |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    shown = [r for r in records if r.index % rows == 0 or r is baseline or r is last]
    for r in sorted(set(shown), key=lambda r: r.index):
        mark = " (baseline)" if r is baseline else ""
        change = r.rss / baseline.rss - 1
        print(
            f"| {r.index}{mark} | {r.uploads} | {r.changes} | {r.action} | {r.seconds:.2f} | "
            f"{r.rss / 1e6:,.0f} | {change:+.1%} |"
        )
    times = {"upload": [], "change": []}
    for r in records:
        times["upload" if r.action.startswith("upload") else "change"].append(r.seconds)
    print("\n| | n | median time (s) | max (s) |\n|---|---:|---:|---:|")
    for name, values in times.items():
        if values:
            print(f"| {name} | {len(values)} | {statistics.median(values):.2f} | "
                  f"{max(values):.2f} |")  # fmt: skip
    growth = last.rss / baseline.rss - 1
    # A leak keeps growing; bounded caches that are still filling slow down and stop.
    later = [r for r in records if r.index > baseline.index]
    halves = [later[: len(later) // 2], later[len(later) // 2 :]]
    slopes = [_slope(half) for half in halves if len(half) > 2]
    print(
        f"\nServer RSS: {idle / 1e6:,.0f} MB before the visitor, {baseline.rss / 1e6:,.0f} MB "
        f"after the first {BASELINE_CHANGES} changes (action {baseline.index}, "
        f"{baseline.uploads} uploads), {last.rss / 1e6:,.0f} MB at the end ({growth:+.1%}; "
        f"limit +{TOLERANCE:.0%}), peak {peak / 1e6:,.0f} MB."
    )
    if len(slopes) == 2:
        print(
            f"Growth after the baseline, in MB per 100 actions: {slopes[0]:+.0f} in the first "
            f"half, {slopes[1]:+.0f} in the second (bounded caches filling slow down; a leak "
            "does not)."
        )
    print(f"Reruns too quick to observe (page settled anyway): {no_rerun_seen}.")
    print(f"Server up at the end: {'yes' if healthy else 'NO'}. "
          f"Total time {time.perf_counter() - started:.0f} s.\n")  # fmt: skip
    if growth > TOLERANCE:
        problems.append(f"memory grew {growth:+.1%} after the baseline (limit {TOLERANCE:+.0%})")
    if not healthy:
        problems.append("the server is down")
    for problem in problems:
        print(f"- {problem}")
    print("PASS" if not problems else "FAIL")
    return 0 if not problems else 1


def _slope(records: list[Record]) -> float:
    """Least-squares growth of RSS, in MB per 100 actions."""
    x = np.array([r.index for r in records], dtype=float)
    y = np.array([r.rss for r in records], dtype=float) / 1e6
    return float(np.polyfit(x, y, 1)[0] * 100)


if __name__ == "__main__":
    sys.exit(main())
