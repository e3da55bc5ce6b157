"""kseg._jit: answers at once with the numpy twins, then switches to numba's kernels.

Each test runs Python in a process of its own with a new, empty numba cache folder, as
on a fresh install, so what it sees is what a first visitor or a first command sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys, time
import numpy as np
import kseg
from kseg import _jit

rng = np.random.default_rng(5)
photo = np.clip(rng.integers(0, 6, (50, 70))[..., None] * 40 + rng.integers(0, 20, (50, 70, 3)),
                0, 255).astype(np.uint8)
mode = sys.argv[1]
if mode == "start":
    _jit.start()
first = kseg.segment(photo, 4, color_space="lab")
out = {"ready_at_first": _jit.ready("lloyd"), "counting_at_first": _jit.ready("counting")}
deadline = time.monotonic() + float(sys.argv[2])
while mode != "once" and not _jit.ready("lloyd") and time.monotonic() < deadline:
    time.sleep(0.2)
out["ready_later"] = _jit.ready("lloyd")
later = kseg.segment(photo, 4, color_space="lab")
out["same"] = (first.labels.tobytes() == later.labels.tobytes()
               and first.centers.tobytes() == later.centers.tobytes()
               and first.compactness == later.compactness)
out["markers"] = sorted(p.name.split("-")[1] for p in _jit.marker_dir().glob("kseg-*.ready"))
print(json.dumps(out))
"""


def _run(cache: Path, *args: str, kernels: str | None = None, timeout: float = 400) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KSEG_KERNELS"}
    env["NUMBA_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = str(ROOT)
    if kernels is not None:
        env["KSEG_KERNELS"] = kernels
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def compiled_cache(tmp_path_factory):
    """A numba cache folder that a fresh-install run filled: (folder, what that run saw)."""
    cache = tmp_path_factory.mktemp("jit") / "numba-cache"
    return cache, _run(cache, "wait", "300")


def test_a_fresh_install_answers_with_the_twins_then_switches(compiled_cache):
    _cache, fresh = compiled_cache
    assert fresh["ready_at_first"] is False  # nothing compiled yet: the twin answered
    assert fresh["ready_later"] is True  # the warm-up compiled it and this process switched
    assert fresh["same"] is True  # and the compiled kernels give the same result
    assert {"counting", "lloyd"} <= set(fresh["markers"])


def test_the_next_process_loads_the_compiled_kernels_at_once(compiled_cache):
    cache, _fresh = compiled_cache
    warm = _run(cache, "once", "0")
    assert warm["ready_at_first"] is True
    assert warm["counting_at_first"] is True


def test_a_server_loads_compiled_kernels_in_the_background(compiled_cache):
    """With start() (the page), even a warm cache never makes the first call wait."""
    cache, _fresh = compiled_cache
    served = _run(cache, "start", "120")
    assert served["ready_at_first"] is False
    assert served["ready_later"] is True
    assert served["same"] is True


def test_numpy_only_never_compiles(tmp_path):
    only = _run(tmp_path / "numba-cache", "wait", "3", kernels="numpy")
    assert only["ready_at_first"] is False
    assert only["ready_later"] is False
    assert only["markers"] == []


def test_numba_only_uses_compiled_kernels_from_the_first_call(compiled_cache):
    cache, _fresh = compiled_cache
    now = _run(cache, "once", "0", kernels="numba")
    assert now["ready_at_first"] is True
