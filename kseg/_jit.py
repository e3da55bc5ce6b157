"""Compiled kernels without the wait: numba's once they are compiled, numpy's until then.

numba compiles kseg's kernels on their first call, about 25 s of one core on a fresh
install (its on-disk cache then loads them in well under a second). So that nobody waits
for that, each group of kernels has a numpy twin with the same functions, the same
arguments and bit for bit the same results (``tests/test_kernels.py``):

- :func:`kernels` returns the compiled module of a group when it is ready in this
  process, else its numpy twin;
- on the first call a separate process (``python -m kseg._warmup``, at low priority)
  compiles every group into numba's cache, one group after another, and leaves a marker
  per group; a thread here then loads each group from the cache and switches to it.

A marker is named after everything numba's cache depends on (kseg's kernel sources,
numba, Python, the machine), so a stale one is never trusted. ``KSEG_KERNELS`` chooses:
``auto`` (the default, as above), ``numba`` (compile here on first use and wait, as
before) or ``numpy`` (never compile; a group without a twin, ``components``, still
compiles on its first use).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType

__all__ = [
    "GROUPS",
    "defer",
    "kernels",
    "mode",
    "on_ready",
    "ready",
    "release",
    "start",
    "wait_until_compiled",
]

_PACKAGE_DIR = Path(__file__).resolve().parent

# Group -> (compiled module, numpy twin). The warm-up compiles them in this order.
GROUPS: dict[str, tuple[str, str]] = {
    "counting": ("kseg._counting", "kseg._counting_np"),
    "lloyd": ("kseg._lloyd", "kseg._lloyd_np"),
    "slic": ("kseg._slic", "kseg._slic_np"),
    # No twin: a first use before the warm-up is done compiles it there and then.
    "components": ("kseg._components", "kseg._components_np"),
}
_MODES = ("auto", "numba", "numpy")

_lock = threading.Lock()
_compiled: dict[str, ModuleType] = {}  # groups ready in this process
_started = False
_in_background = False  # start(): groups already compiled load in the watcher thread too
_watcher: threading.Thread | None = None
_callbacks: list = []
_deferred = False  # defer(): the warm-up waits for release()


def mode() -> str:
    """``KSEG_KERNELS`` (auto, numba or numpy); anything else counts as auto."""
    value = os.environ.get("KSEG_KERNELS", "auto").strip().lower()
    return value if value in _MODES else "auto"


def kernels(group: str) -> ModuleType:
    """The module holding ``group``'s kernels: compiled when ready, else the numpy twin."""
    module = _compiled.get(group)
    if module is not None:
        return module
    compiled_name, twin_name = GROUPS[group]
    chosen = mode()
    if chosen == "numba" or not _has_twin(twin_name):
        return _adopt(group)
    if chosen == "numpy":
        return importlib.import_module(twin_name)
    if not _in_background and _marker(group).exists():
        # Compiled by an earlier process: loading from numba's cache takes a moment.
        try:
            return _adopt(group)
        except Exception:  # noqa: BLE001 - a broken cache must not break a result
            _marker(group).unlink(missing_ok=True)
    if not _deferred:
        _start_warmup()
    return importlib.import_module(twin_name)


def start() -> None:
    """Get every group ready without making anyone wait (for a server).

    Groups compiled by an earlier process load from numba's cache in a thread, the
    others compile in the warm-up process; until then :func:`kernels` answers with
    the numpy twins. Without this call, :func:`kernels` loads a compiled group at
    once when its marker is there (better for a batch of photos).
    """
    global _in_background
    if mode() != "auto":
        return
    _in_background = True
    _start_warmup()


def defer() -> None:
    """Hold the warm-up back until :func:`release` (the command line: its first photo
    should not share the machine with the compiler)."""
    global _deferred
    _deferred = True


def release() -> None:
    """Start the warm-up held back by :func:`defer`, if a group still needs compiling.

    It runs in a session of its own, so it finishes the cache even when this process
    ends at once; the next process then loads the compiled kernels.
    """
    global _deferred
    if not _deferred:
        return
    _deferred = False
    if mode() == "auto" and any(g not in _compiled and not _marker(g).exists() for g in GROUPS):
        _start_warmup()


def on_ready(callback) -> None:
    """Call ``callback(group)`` in the watcher thread each time a group is switched to."""
    _callbacks.append(callback)


def ready(group: str) -> bool:
    """Whether ``group``'s compiled kernels are in use in this process."""
    return group in _compiled


def wait_until_compiled(timeout: float | None = None) -> bool:
    """Compile (or load) every group in this process now; True when all are ready.

    For benchmarks and servers that prefer to pay the compile once, up front.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    for group in GROUPS:
        if deadline is not None and time.monotonic() > deadline:
            return False
        _adopt(group)
    return True


_TWINS: dict[str, bool] = {}


def _has_twin(name: str) -> bool:
    found = _TWINS.get(name)
    if found is None:
        found = _TWINS[name] = importlib.util.find_spec(name) is not None
    return found


def _adopt(group: str) -> ModuleType:
    """Import ``group``'s compiled module and load (or compile) its kernels."""
    with _lock:
        module = _compiled.get(group)
        if module is not None:
            return module
        module = importlib.import_module(GROUPS[group][0])
        module.warm()
        _compiled[group] = module
        return module


def _start_warmup() -> None:
    """Start the compiling process and the thread that switches over (once per process)."""
    global _started, _watcher
    if _started:
        return
    with _lock:
        if _started:
            return
        _started = True
    _watcher = threading.Thread(target=_watch, name="kseg-warmup", daemon=True)
    _watcher.start()


def _watch() -> None:
    """Run the warm-up process, then adopt each group it left a marker for."""
    pending = [group for group in GROUPS if group not in _compiled]
    for group in list(pending):  # compiled by an earlier process
        if _marker(group).exists() and _try_adopt(group):
            pending.remove(group)
    if not pending:
        return
    try:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_PACKAGE_DIR.parent), *filter(None, [env.get("PYTHONPATH")])]
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "kseg._warmup"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # it finishes the cache even if this process ends
        )
    except OSError:
        return
    while pending:
        finished = process.poll() is not None
        for group in list(pending):
            if _marker(group).exists():
                _try_adopt(group)
                pending.remove(group)
        if finished and not _someone_compiling():
            return
        time.sleep(0.2)


def _try_adopt(group: str) -> bool:
    try:
        _adopt(group)
    except Exception:  # noqa: BLE001 - a broken cache: stay on the numpy twin
        return False
    for callback in _callbacks:
        callback(group)
    return True


def _someone_compiling() -> bool:
    """Whether a warm-up (ours or another process's) holds the lock of this cache folder."""
    import fcntl

    try:
        with open(marker_dir() / "kseg-warmup.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def marker_dir() -> Path:
    """Where the markers live: beside numba's cache of kseg's kernels."""
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return Path(configured)
    local = _PACKAGE_DIR / "__pycache__"
    try:
        local.mkdir(exist_ok=True)
        if os.access(local, os.W_OK):
            return local
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / "kseg-kernels"


def _marker(group: str) -> Path:
    return marker_dir() / f"kseg-{group}-{_fingerprint(group)}.ready"


_FINGERPRINTS: dict[str, str] = {}


def _fingerprint(group: str) -> str:
    """A digest of all numba's cache of ``group`` depends on."""
    found = _FINGERPRINTS.get(group)
    if found is not None:
        return found
    digest = hashlib.sha256()
    source = _PACKAGE_DIR / (GROUPS[group][0].rsplit(".", 1)[1] + ".py")
    stat = source.stat()
    digest.update(source.read_bytes())
    digest.update(f"{stat.st_mtime_ns}:{stat.st_size}".encode())
    try:
        numba_version = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        numba_version = "none"
    digest.update(f"{numba_version}|{sys.version}|{platform.machine()}".encode())
    found = digest.hexdigest()[:16]
    _FINGERPRINTS[group] = found
    return found


def write_marker(group: str) -> None:
    """Leave ``group``'s marker (called by the warm-up once the group is compiled)."""
    path = _marker(group)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text("compiled\n")
    os.replace(partial, path)
