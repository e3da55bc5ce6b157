"""A fresh install of kseg for the benchmarks: a new copy of the repository, empty caches.

"Fresh install" as docs and issue 11 mean it: what a hosted demo meets after every deploy
and wake-up, and a command-line user on their first run.

* :func:`fresh_install` copies the files git tracks (``git ls-files``, as they are in the
  work tree: the same files as a ``git clone`` of a clean HEAD, and uncommitted edits to
  them are measured too) into a new folder, so there is no ``__pycache__``; and makes new,
  empty ``NUMBA_CACHE_DIR``, ``HOME`` and ``XDG_CACHE_HOME`` folders for its processes.
  The Python environment (the installed packages) is this one's.
* :func:`wait_for_background` waits for every process that runs with that install's
  cache folder (a compile that kseg left running in the background, say) to end, so that
  it does not slow the next measurement; after ``timeout`` it stops them.
* :func:`time_command` runs one command there and returns its wall time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKGROUND_TIMEOUT = 180.0  # s: numba compiles all of kseg's kernels in about 25 s of CPU


@dataclass(frozen=True)
class FreshInstall:
    """A copy of the repository (``root``) and the environment its processes run with."""

    root: Path
    env: dict[str, str]

    @property
    def cache_dir(self) -> str:
        return self.env["NUMBA_CACHE_DIR"]


def fresh_install(folder: Path, source: Path = ROOT) -> FreshInstall:
    """Copy ``source``'s tracked files into ``folder/repo``, with empty caches beside it."""
    repo = folder / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=source, check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (source / name).is_file():  # a file deleted in the work tree is left out
            shutil.copy2(source / name, target)
    caches = {}
    for variable in ("NUMBA_CACHE_DIR", "HOME", "XDG_CACHE_HOME"):
        path = folder / variable.lower()
        path.mkdir()
        caches[variable] = str(path)
    # kseg from the copy, with its default kernels; Python writes __pycache__ as it would.
    dropped = ("PYTHONPATH", "KSEG_KERNELS", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(caches)
    return FreshInstall(repo, env)


def time_command(install: FreshInstall, command: Sequence[str], timeout: float = 600) -> float:
    """Run ``command`` in the install's folder and environment; its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run(
        list(command),
        cwd=install.root,
        env=install.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with code {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return seconds


def kseg_command(*args: str) -> list[str]:
    """``python -m kseg ARGS`` with this interpreter."""
    return [sys.executable, "-m", "kseg", *args]


def wait_for_background(install: FreshInstall, timeout: float = BACKGROUND_TIMEOUT) -> float:
    """Wait until no process runs with the install's cache folder; the seconds waited.

    Processes still running after ``timeout`` are stopped (they were started, through
    kseg, by this benchmark's commands and servers).
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not _processes_using(install.cache_dir):
            return time.monotonic() - start
        time.sleep(0.2)
    for pid in _processes_using(install.cache_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return time.monotonic() - start


def _processes_using(cache_dir: str) -> list[int]:
    """The processes (other than this one) whose environment names ``cache_dir``."""
    wanted = f"NUMBA_CACHE_DIR={cache_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found
