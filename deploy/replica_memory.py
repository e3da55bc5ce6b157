"""Resident memory of one replica: idle after warm-up, then after a 12 MP upload and k changes.

    python deploy/replica_memory.py          # KSEG_CACHE_MB=512 (the default)
    python deploy/replica_memory.py 64

Starts one ``streamlit run app.py`` (tests/browser_support.py), opens it in headless
Chromium, waits for the warm-up (numba's compile process gone), then uploads a
photo-like 4000 x 3000 JPEG and changes k three times. Prints the replica's RSS
(psutil; the process itself, not the browser) idle, after, and at the peak.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks"), str(ROOT)]

import psutil  # noqa: E402
from _common import encode_jpeg, photo_like  # noqa: E402
from browser_support import StreamlitServer, chromium, open_app, wait_until_settled  # noqa: E402

TIMEOUT = 180_000  # ms


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


def main() -> None:
    cache_mb = sys.argv[1] if len(sys.argv) > 1 else "512"
    from playwright.sync_api import expect

    photo = Path(tempfile.mkdtemp(prefix="kseg-memory-")) / "photo-12mp.jpg"
    photo.write_bytes(encode_jpeg(photo_like("coffee", (4000, 3000), seed=1), 90))
    with (
        StreamlitServer("app.py", env={"KSEG_CACHE_MB": cache_mb}) as server,
        chromium() as browser,
    ):
        replica = psutil.Process(server.pid)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT)
        open_app(page, server.url, TIMEOUT)
        for _ in range(180):  # numba's kernels load or compile in a child process
            if not replica.children(recursive=True):
                break
            time.sleep(1)
        time.sleep(5)
        idle = rss_mb(replica)

        peak = [idle]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb(replica))
                time.sleep(0.1)

        threading.Thread(target=sample, daemon=True).start()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(photo))
        expect(page.get_by_test_id("stMain")).to_contain_text("Your photo", timeout=TIMEOUT)
        wait_until_settled(page, TIMEOUT)
        for _ in range(3):
            k = int(page.locator(".st-key-k [data-testid='stSliderThumbValue']").inner_text())
            page.locator(".st-key-k input[type='range']").press("ArrowRight")
            expect(page.locator(".st-key-segmented")).to_contain_text(
                f"Segmented into {k + 1} colours", timeout=TIMEOUT
            )
            wait_until_settled(page, TIMEOUT)
        time.sleep(3)
        done.set()
        print(
            f"KSEG_CACHE_MB={cache_mb}: idle after warm-up {idle:.0f} MB; after a 12 MP upload "
            f"and 3 k changes {rss_mb(replica):.0f} MB; peak {peak[0]:.0f} MB"
        )


if __name__ == "__main__":
    main()
