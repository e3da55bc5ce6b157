"""The local pool (``--jobs N``): where its workers come from and the cores each one uses."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import kseg
from kseg import _cores, _kmeans

ROOT = Path(__file__).resolve().parent.parent

# Starts a pool of one worker as ``kseg segment -j 2`` does, with or without a thread of
# its own running first, and prints what the worker and this process see.
_SCRIPT = """
import json, os, sys, threading
import cv2
from kseg import _cores, _jit, _runners

if sys.argv[1] == "thread":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
pool, started = _runners._start_pool(1, 1)
assert started.wait(120)
child = {
    "parent": pool.submit(os.getppid).result(timeout=120),
    "cores": pool.submit(_cores.available).result(timeout=120),
    "cv2": pool.submit(cv2.getNumThreads).result(timeout=120),
    "counting": pool.submit(_jit.ready, "counting").result(timeout=120),
}
method = pool._mp_context.get_start_method()
pool.shutdown()
here = {"pid": os.getpid(), "counting": _jit.ready("counting")}
print(json.dumps({"method": method, "child": child, "here": here}))
"""


def _pool_report(mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_workers_fork_from_this_process_with_the_kernels_it_loaded():
    """No thread of ours yet: the worker is a fork of the command line's process, which
    loaded the kernels first (no second import), and it uses one core of the two."""
    report = _pool_report("alone")
    assert report["method"] == "fork"
    assert report["child"]["parent"] == report["here"]["pid"]
    assert report["child"]["counting"] == report["here"]["counting"]
    assert report["child"]["cores"] == 1
    assert report["child"]["cv2"] == 1


def test_with_a_thread_running_the_workers_come_from_a_forkserver():
    """A process with threads is never forked: the workers fork from a forkserver."""
    report = _pool_report("thread")
    assert report["method"] == "forkserver"
    assert report["child"]["parent"] != report["here"]["pid"]
    assert report["child"]["cores"] == 1


@pytest.fixture
def share():
    """Restores the cores this process may use after the test."""
    before = _cores.limit(None)
    yield
    _cores.limit(before)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_run_parallel_keeps_the_order_on_at_most_its_share_of_threads(share, threads):
    _cores.limit(threads)
    seen = set()

    def work(item):
        seen.add(threading.get_ident())
        return item * 10

    assert _kmeans.run_parallel(work, range(7)) == [item * 10 for item in range(7)]
    assert 1 <= len(seen) <= threads
    if threads == 1:
        assert seen == {threading.get_ident()}  # no thread at all


def test_limit_sets_opencv_threads_and_gives_back_the_previous_share(share):
    assert _cores.limit(1) is None
    assert cv2.getNumThreads() == 1
    assert _cores.available() == 1
    assert _cores.limit(None) == 1
    assert _cores.available() == len(os.sched_getaffinity(0))


def test_a_share_of_the_cores_gives_the_same_segmentation(share):
    """Attempts run in chains on fewer threads, and the result is still the seed's."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    results = []
    for threads in (None, 1, 2):
        _cores.limit(threads)
        seg = kseg.segment(image, k=5, attempts=5, init="k-means++", seed=7)
        results.append((seg.labels.copy(), seg.centers.copy(), seg.compactness))
    for labels, centers, compactness in results[1:]:
        np.testing.assert_array_equal(labels, results[0][0])
        np.testing.assert_array_equal(centers, results[0][1])
        assert compactness == results[0][2]
