"""Drive a Streamlit page in headless Chromium: shared by the browser tests and benchmarks.

    with StreamlitServer("app.py") as server, chromium() as browser:
        page = browser.new_page()
        install_run_watcher(page)
        page.goto(server.url)
        wait_until_settled(page)

``StreamlitServer`` runs ``python -m streamlit run`` on a free loopback port in its own
process group, waits for ``/_stcore/health`` and stops the whole group on exit; the
server's output goes to a temporary file (``server.log()``) so a failure can show it.
Pass ``extra_args=LOG_LEVEL_ARGS`` to have every log line name its level, and
``log_problems(server.log())`` lists the lines that look like trouble.
``chromium()`` launches Debian's Chromium (Playwright cannot download its own browsers
here). ``wait_until_settled`` waits for the script to finish and for skeletons and
spinners to go. Streamlit reruns can be too quick to observe, so callers wait for the
content they expect to change first and only then for the page to settle.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    # Headless Chromium treats every tab but the newest as a background one and runs its
    # timers once a second: with two pages open, every wait there ends on a 1 s tick.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
)

APP_SELECTOR = "[data-testid='stApp']"
SETTLED_SELECTOR = "[data-testid='stApp'][data-test-script-state='notRunning']"
BUSY_SELECTOR = "[data-testid='stSkeleton'], [data-testid='stSpinner']"

# The page is idle: the script finished, no skeleton or spinner, nothing stale.
SETTLED_JS = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    return app !== null
        && app.getAttribute("data-test-script-state") === "notRunning"
        && document.querySelector("[data-testid='stSkeleton'], [data-testid='stSpinner']") === null
        && document.querySelector("[data-testid='stApp'] [data-stale='true']") === null;
}"""

# Records every script-state change of stApp with its time (performance.now(), ms).
_RUN_WATCHER_JS = """(() => {
    window.__stStates = [];
    const record = (app) => window.__stStates.push(
        {state: app.getAttribute("data-test-script-state"), t: performance.now()});
    new MutationObserver((mutations) => {
        for (const m of mutations) {
            if (m.target.getAttribute && m.target.getAttribute("data-testid") === "stApp") {
                record(m.target);
            }
        }
    }).observe(document, {subtree: true, attributes: true,
                          attributeFilter: ["data-test-script-state"]});
})();"""


# Streamlit's default log format is "time message": a logged warning need not say "warning".
LOG_LEVEL_ARGS = ("--logger.messageFormat", "%(levelname)s %(name)s: %(message)s")
# A logged exception, a warning (with or without its stack), an error.
LOG_PROBLEM = re.compile(r"Traceback|Warning|WARNING|Error|Stack \(most recent call last\)")


def log_problems(log: str) -> list[str]:
    """The lines of a server's output that report a warning, an error or a traceback."""
    return [line for line in log.splitlines() if LOG_PROBLEM.search(line)]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerError(RuntimeError):
    """The Streamlit server did not start or died; the message ends with its output."""


class StreamlitServer:
    """``python -m streamlit run script`` on a free loopback port, as a context manager.

    Parameters
    ----------
    script : str or Path
        The page, relative to ``cwd``.
    cwd : Path
        Where the server runs (the repository root by default).
    extra_args : sequence of str
        More ``streamlit run`` options, e.g. ``("--server.maxUploadSize", "50")``.
    env : dict, optional
        Extra environment variables for the server.
    startup_timeout : float
        Seconds to wait for ``/_stcore/health`` to answer ``ok``.
    """

    def __init__(
        self,
        script: str | Path = "app.py",
        *,
        cwd: Path = ROOT,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.script = str(script)
        self.cwd = Path(cwd)
        self.extra_args = tuple(extra_args)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise ServerError("The server has not been started.")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServerError("The server has not been started.")
        return self.process.pid

    def log(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        if self._log_file is None:
            return ""
        self._log_file.flush()
        return Path(self._log_file.name).read_text(errors="replace")

    def start(self) -> StreamlitServer:
        last_error: ServerError | None = None
        for _ in range(3):  # another process may take the port between choosing and binding
            try:
                self._start_once(free_port())
                return self
            except ServerError as exc:
                last_error = exc
                self.stop()
                if "already in use" not in str(exc):
                    break
        assert last_error is not None
        raise last_error

    def _start_once(self, port: int) -> None:
        self.port = port
        self._log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="streamlit-", suffix=".log", delete=False
        )
        command = [
            sys.executable, "-m", "streamlit", "run", self.script,
            "--server.headless", "true",
            "--server.port", str(port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
            "--global.developmentMode", "false",
            *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        health = f"{self.url}/_stcore/health"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServerError(
                    f"streamlit run {self.script} exited with code {self.process.returncode} "
                    f"before it was healthy. Its output:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.read().strip() == b"ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        raise ServerError(
            f"streamlit run {self.script} was not healthy after {self.startup_timeout:.0f} s. "
            f"Its output:\n{self.log()}"
        )

    def stop(self) -> None:
        """Stop the server's whole process group (SIGTERM, then SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()

    def cleanup(self) -> None:
        """Stop the server and delete its log."""
        self.stop()
        if self._log_file is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._log_file.name)
            self._log_file = None

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


def launch_chromium(playwright: Any, **kwargs: Any) -> Any:
    """Launch Debian's headless Chromium with the flags it needs here."""
    kwargs.setdefault("headless", True)
    args = [*CHROMIUM_ARGS, *kwargs.pop("args", ())]
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args, **kwargs)


@contextlib.contextmanager
def chromium(**kwargs: Any) -> Iterator[Any]:
    """Playwright (sync API) and a launched Chromium, both closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, **kwargs)
        try:
            yield browser
        finally:
            browser.close()


def install_run_watcher(page: Any) -> None:
    """Record stApp's script-state changes in ``window.__stStates``; call before goto."""
    page.add_init_script(_RUN_WATCHER_JS)


def script_states(page: Any) -> list[dict[str, Any]]:
    """The recorded script-state changes: ``[{"state": ..., "t": ms}, ...]``."""
    return page.evaluate("window.__stStates || []")


def is_settled(page: Any) -> bool:
    return bool(page.evaluate(SETTLED_JS))


def wait_until_settled(page: Any, timeout: float = 60_000) -> None:
    """Wait (ms) for the script to finish and skeletons, spinners and stale elements to go."""
    page.wait_for_selector(APP_SELECTOR, state="attached", timeout=timeout)
    page.wait_for_function(SETTLED_JS, timeout=timeout, polling=50)


def rerun_after(page: Any, action: Any, timeout: float = 60_000) -> None:
    """Do ``action()`` and wait until the run it starts has finished and the page settled.

    Needs ``install_run_watcher`` before the page was opened: a run can start and end
    between two polls, so this waits for a new recorded script-state change first.
    """
    before = len(script_states(page))
    action()
    page.wait_for_function(
        "(n) => (window.__stStates || []).length > n", arg=before, timeout=timeout, polling=20
    )
    wait_until_settled(page, timeout)


def open_app(page: Any, url: str, timeout: float = 60_000) -> None:
    """Go to ``url`` and wait until the first run has finished."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout)
    page.wait_for_selector(SETTLED_SELECTOR, timeout=timeout)
    wait_until_settled(page, timeout)
