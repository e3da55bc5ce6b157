"""Many visitors at once: N headless Chromium sessions against one ``streamlit run app.py``.

Each session opens the page (with its own k in the link), uploads its own 12 MP photo
(a bundled sample upscaled with INTER_CUBIC, mild noise and a per-session tint, JPEG
q90) and then steps k several times, all sessions at the same moment (one Chromium,
one browser context per session, driven concurrently with asyncio Playwright).

Checked for every session and step, against kseg run offline on the same photo:

- the page shows that session's own photo and result: its size, its number of distinct
  colours and the mean colour error for that k (no cross-talk between sessions or caches);
- no error alert and no exception is shown;
- the server stays up and answers its health check;
- the server's resident memory (psutil, the process and its children, sampled every
  0.2 s) stays under 2.5 GB.

Prints Markdown tables: time per action (p50, p95, max), each session's checks, and the
server's memory; then PASS or FAIL (exit status 0 or 1).

    python benchmarks/load.py                 # 8 sessions, 12 MP, 4 k steps (~5-10 min)
    python benchmarks/load.py --sessions 4
    python benchmarks/load.py --quick         # 2 sessions, 1 MP, 2 k steps (~1 min)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from _common import encode_jpeg, machine_summary, now, photo_like  # noqa: E402
from browser_support import CHROMIUM, CHROMIUM_ARGS, SETTLED_JS, StreamlitServer  # noqa: E402

import kseg  # noqa: E402

FULL_SIZE = (4000, 3000)  # width, height: 12 MP
QUICK_SIZE = (1200, 900)
MEMORY_LIMIT = 2.5e9  # bytes of resident memory for the server and its children
ACTION_TIMEOUT_MS = 600_000  # eight 12 MP uploads at once on two shared cores are slow
SAMPLES = ("coffee", "chelsea", "astronaut", "retina")

# The segmented image has a new src and has loaded, the main area shows `text`, and the
# app has settled: all at once (a run may show an intermediate state on the way).
_SHOWN_JS = f"""([oldSrc, text]) => {{
    const img = document.querySelector(".st-key-segmented [data-testid='stImage'] img");
    const main = document.querySelector("[data-testid='stMain']");
    return img !== null && img.src !== oldSrc && img.complete && img.naturalWidth > 0
        && main !== null && main.innerText.includes(text) && ({SETTLED_JS})();
}}"""

_SEGMENTED_SRC_JS = """() => {
    const img = document.querySelector(".st-key-segmented [data-testid='stImage'] img");
    return img === null ? null : img.src;
}"""

_METRICS_JS = """() => Object.fromEntries([...document.querySelectorAll(
    "[data-testid='stMetric']")].map((m) => [
        m.querySelector("[data-testid='stMetricLabel']").innerText.trim(),
        m.querySelector("[data-testid='stMetricValue']").innerText.trim()]))"""

_ERRORS_JS = """() => [...document.querySelectorAll(
    "[data-testid='stException'], [data-testid='stAlertContentError']")]
    .map((e) => e.innerText.slice(0, 200))"""


# ----------------------------------------------------------------------------- photos
@dataclass
class Photo:
    """One session's photo and what kseg, run offline, says the page must show."""

    path: Path
    size: str  # "4,000 x 3,000", as the Image size metric shows it
    distinct: str  # the Distinct colours metric
    error: dict[int, str]  # k -> the Mean colour error metric


def make_photo(index: int, size: tuple[int, int], ks: list[int], folder: Path) -> Photo:
    """Session `index`'s photo: a sample upscaled, noisy, tinted its own way; and its results."""
    rgb = photo_like(SAMPLES[index % len(SAMPLES)], size, seed=index)
    tint = np.array([(index * 37) % 25 - 12, (index * 53) % 25 - 12, (index * 71) % 25 - 12])
    rgb = np.clip(rgb.astype(np.int16) + tint, 0, 255).astype(np.uint8)
    data = encode_jpeg(rgb, 90)
    path = folder / f"session-{index}.jpg"
    path.write_bytes(data)
    from kseg.dashboard.state import MAX_PIXELS

    image = kseg.load_image(data, max_pixels=MAX_PIXELS)
    hist = kseg.ColorHistogram.from_image(image)
    error = {k: f"{kseg.segment(hist, k).mean_error:.1f}" for k in ks}  # as the page writes it
    return Photo(path, f"{image.width:,} x {image.height:,}", f"{hist.n_colors:,}", error)


# ----------------------------------------------------------------------------- memory
class MemorySampler(threading.Thread):
    """Resident memory of a process and its children, every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        start = time.perf_counter()
        while not self._halt.is_set():
            try:
                self.samples.append((time.perf_counter() - start, self.rss()))
            except psutil.Error:
                break
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


# ----------------------------------------------------------------------------- sessions
@dataclass
class Session:
    index: int
    photo: Photo
    ks: list[int]  # the k at upload, then after each step
    times: dict[str, list[float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    checks: int = 0

    def check(self, shown: dict[str, str], k: int, errors: list[str]) -> None:
        expected = {
            "Image size": self.photo.size,
            "Distinct colours": self.photo.distinct,
            "Mean colour error": self.photo.error[k],
        }
        for label, value in expected.items():
            self.checks += 1
            if shown.get(label) != value:
                self.problems.append(f"k={k}: {label} shows {shown.get(label)!r}, not {value!r}")
        if errors:
            self.problems.append(f"k={k}: the page shows an error: {errors[0]!r}")


async def settle(page, timeout: float = ACTION_TIMEOUT_MS) -> None:
    await page.wait_for_function(SETTLED_JS, timeout=timeout, polling=100)


async def timed(session: Session, page, action: str, do, text: str) -> None:
    old = await page.evaluate(_SEGMENTED_SRC_JS)
    start = time.perf_counter()
    await do()
    await page.wait_for_function(_SHOWN_JS, arg=[old, text], timeout=ACTION_TIMEOUT_MS, polling=100)
    session.times.setdefault(action, []).append(time.perf_counter() - start)


async def run_session(session: Session, browser, url: str, go: asyncio.Event, log) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = await context.new_page()
    try:
        start = time.perf_counter()
        await page.goto(f"{url}/?k={session.ks[0]}", wait_until="domcontentloaded")
        await page.wait_for_selector(".st-key-segmented [data-testid='stImage'] img")
        await settle(page)
        session.times["open"] = [time.perf_counter() - start]
        await go.wait()  # every session uploads at the same moment
        dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")
        path = str(session.photo.path)
        await timed(session, page, "upload", lambda: dropzone.set_input_files(path),
                    session.photo.size)  # fmt: skip
        session.check(await page.evaluate(_METRICS_JS), session.ks[0],
                      await page.evaluate(_ERRORS_JS))  # fmt: skip
        log(f"session {session.index}: photo on show after {session.times['upload'][0]:.1f} s")
        thumb = page.locator(".st-key-k input[type='range']")
        for k in session.ks[1:]:
            key = "ArrowRight" if k > int(await thumb.get_attribute("value")) else "ArrowLeft"

            async def step(key=key):
                await thumb.focus()
                await thumb.press(key)

            await timed(session, page, "k step", step, f"Segmented into {k} colours")
            session.check(await page.evaluate(_METRICS_JS), k, await page.evaluate(_ERRORS_JS))
        log(f"session {session.index}: done, {len(session.problems)} problem(s)")
    except Exception as exc:  # a timeout or a closed page: report it with the others
        session.problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        log(f"session {session.index}: FAILED: {session.problems[-1]}")
    finally:
        await context.close()


async def drive(sessions: list[Session], url: str, log) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            go = asyncio.Event()
            tasks = [asyncio.create_task(run_session(s, browser, url, go, log)) for s in sessions]
            while not all("open" in s.times or s.problems for s in sessions):
                await asyncio.sleep(0.2)
            log(f"all {len(sessions)} sessions open: uploading at once")
            go.set()
            await asyncio.gather(*tasks)
        finally:
            await browser.close()


# ----------------------------------------------------------------------------- report
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def action_table(sessions: list[Session]) -> list[str]:
    lines = ["| action | n | p50 (s) | p95 (s) | max (s) |", "|---|---:|---:|---:|---:|"]
    for action in ("open", "upload", "k step"):
        values = [t for s in sessions for t in s.times.get(action, [])]
        if values:
            lines.append(
                f"| {action} | {len(values)} | {statistics.median(values):.2f} | "
                f"{percentile(values, 0.95):.2f} | {max(values):.2f} |"
            )
    return lines


def session_table(sessions: list[Session]) -> list[str]:
    lines = [
        "| session | photo | k steps | distinct colours | checks passed | problems |",
        "|---:|---|---|---:|---:|---|",
    ]
    for s in sessions:
        photo = SAMPLES[s.index % len(SAMPLES)]
        ks = " -> ".join(str(k) for k in s.ks)
        problems = "; ".join(s.problems[:2]) or "none"
        passed = s.checks - sum("shows" in p for p in s.problems)
        lines.append(
            f"| {s.index} | {photo} | {ks} | {s.photo.distinct} | {passed}/{s.checks} | "
            f"{problems} |"
        )
    return lines


def memory_lines(sampler: MemorySampler, idle: int, after: int) -> list[str]:
    verdict = "PASS" if sampler.peak < MEMORY_LIMIT else "FAIL"
    return [
        "| server memory (RSS, with children) | MB |",
        "|---|---:|",
        f"| before the first visitor | {idle / 1e6:,.0f} |",
        f"| peak during the run ({len(sampler.samples)} samples) | {sampler.peak / 1e6:,.0f} |",
        f"| at the end | {after / 1e6:,.0f} |",
        f"| limit | {MEMORY_LIMIT / 1e6:,.0f} ({verdict}) |",
    ]


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=None, help="visitors (default 8)")
    parser.add_argument("--steps", type=int, default=None, help="k steps each (default 4)")
    parser.add_argument("--quick", action="store_true", help="2 sessions of 1 MP photos")
    args = parser.parse_args(argv)
    n_sessions = args.sessions or (2 if args.quick else 8)
    n_steps = args.steps if args.steps is not None else (2 if args.quick else 4)
    size = QUICK_SIZE if args.quick else FULL_SIZE
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    print(f"# kseg page under load: {n_sessions} sessions, {size[0]} x {size[1]} photos\n")
    print(f"{now()}. " + " ".join(machine_summary()[:2]) + "\n")
    with tempfile.TemporaryDirectory(prefix="kseg-load-") as tmp:
        sessions = []
        for i in range(n_sessions):
            first = 3 + i % 6  # each session opens with its own k in the link
            ks = [first + j for j in range(n_steps + 1)]
            sessions.append(Session(i, make_photo(i, size, ks, Path(tmp)), ks))
            log(f"photo {i} ready ({sessions[-1].photo.distinct} distinct colours)")
        with StreamlitServer("app.py", startup_timeout=120) as server:
            sampler = MemorySampler(server.pid)
            idle = sampler.rss()
            sampler.start()
            try:
                asyncio.run(drive(sessions, server.url, log))
            finally:
                sampler.stop()
            alive = server.process is not None and server.process.poll() is None
            healthy = alive and _healthy(server.url)
            after = sampler.rss() if alive else 0
    print("## Time per action\n")
    print("\n".join(action_table(sessions)) + "\n")
    print("## Each session saw its own photo and results\n")
    print("\n".join(session_table(sessions)) + "\n")
    print("## Server\n")
    print("\n".join(memory_lines(sampler, idle, after)) + "\n")
    failures = [f"session {s.index}: {p}" for s in sessions for p in s.problems]
    if not healthy:
        failures.append("the server is down or does not answer its health check")
    if sampler.peak >= MEMORY_LIMIT:
        failures.append(f"peak memory {sampler.peak / 1e9:.2f} GB >= {MEMORY_LIMIT / 1e9} GB")
    print(f"Server up and healthy at the end: {'yes' if healthy else 'NO'}.")
    print(f"Total time {time.perf_counter() - started:.0f} s.\n")
    for failure in failures:
        print(f"- {failure}")
    print("PASS" if not failures else "FAIL")
    return 0 if not failures else 1


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
