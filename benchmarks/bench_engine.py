"""Benchmark kseg's histogram engine against the cv2.kmeans recipe and scikit-learn.

Prints one Markdown table (wall time, speed-up and compactness relative to
cv2.kmeans, peak memory) for photo-like JPEGs of 12 and 24 megapixels and
k = 4, 8, 16, then PASS/FAIL lines for the project's targets and where kseg's
time goes (stage breakdown).

    python benchmarks/bench_engine.py                 # full run, ~10 minutes on 2 cores
    python benchmarks/bench_engine.py --quick         # smoke run on a tiny image, ~15 s
    python benchmarks/bench_engine.py --sizes 12 --ks 8

Every measurement runs in a fresh child process (this script with ``--job``), so
the peak memory reported (the child's VmHWM) belongs to that one job. The children
alternate between methods; kseg runs in several rounds, cv2.kmeans once per k.

The methods, all with k-means++ seeding:

- kseg cold: ``kseg.load_image`` on the JPEG bytes, histogram, ``kseg.segment``
  (10 attempts, EPS+MAX_ITER 20 / 0.1) and the full-resolution labels, in a
  process that has already segmented another image (numba's cache loaded), as
  a server sees it. "First call" is the same job as the first thing a new
  process does.
- kseg warm: the histogram kept, a new k: ``kseg.segment(hist, k)`` and
  ``preview_labels(1600)``.
- cv2.kmeans recipe, code unchanged: ``cv2.imread``, every pixel as float32,
  ``cv2.kmeans`` (KMEANS_PP_CENTERS, 10 attempts, EPS+MAX_ITER 20 / 0.1) and
  ``centers[labels.flatten()].reshape(img.shape)``.
- scikit-learn's colour-quantisation example: ``KMeans(n_clusters=k,
  n_init=10, random_state=0)`` fitted on 50,000 random pixels, then
  ``predict`` on every pixel.

Compactness is computed the same way for all: in float64, over every pixel,
from each method's own centres and labels (kseg reports exactly this).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PHOTO = "coffee"  # ~190k distinct colours at 12 MP after noise and JPEG, like a real photo
WARMUP_PHOTO = "astronaut"
NOISE_SIGMA = 1.5
JPEG_QUALITY = 90
SIZES = {"12": (4000, 3000), "24": (6000, 4000)}
QUICK_SIZE = (320, 240)
KS = (4, 8, 16)
RECIPE = {"init": "k-means++", "attempts": 10, "max_iter": 20, "eps": 0.1}
PREVIEW_SIDE = 1600
SKLEARN_SAMPLE = 50_000
QUICK_SKLEARN_SAMPLE = 5_000
SKLEARN_N_INIT = 10
FULL_CV2_PIXELS = 13_000_000  # up to this size cv2.kmeans runs for every k, above only for one

# The project's targets.
COLD_SPEEDUP = 50.0
COMPACTNESS_RATIO = 1.001
WARM_MS = 150.0
PEAK_MB = 800.0

COLUMNS = (
    "image",
    "method",
    "k",
    "runs",
    "median s",
    "min–max s",
    "CPU s",
    "speed-up vs cv2.kmeans",
    "compactness / cv2.kmeans",
    "peak RSS MB",
)
COLD = "kseg cold (warmed process)"
FIRST = "kseg first call (new process)"
WARM = f"kseg warm (new k + {PREVIEW_SIDE}-px preview)"
CV2 = "cv2.kmeans recipe"
SKLEARN = "sklearn recipe (sampled fit)"
METHODS = (COLD, FIRST, WARM, CV2, SKLEARN)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    if args.job:
        print(json.dumps(run_job(json.loads(args.job))))
        return
    from _common import load_average, machine_summary, now

    started = time.perf_counter()
    start_date, start_load = now(), load_average()
    with tempfile.TemporaryDirectory(prefix="kseg-bench-") as tmp:
        images = build_images(args.sizes, Path(tmp), args.warmup_size)
        warmup = images.pop("warm-up")
        results, notes = measure(args, images, warmup, started)
        stages = run_child(
            {
                "kind": "stages",
                "path": images[args.stage_size]["path"],
                "warmup": warmup["path"],
                "k": args.stage_k,
                "cold_runs": args.stage_cold_runs,
                "warm_runs": args.stage_warm_runs,
            }
        )
    minutes = (time.perf_counter() - started) / 60
    pools = [
        job["thread_pools"] for key, jobs in results.items() if key[2] == SKLEARN for job in jobs
    ]
    header = machine_summary(pools[0] + " (in the sklearn job)" if pools else None)
    header.append(f"kseg: {_kseg_version()}.")
    header.append(
        f"Date: {start_date}; load average (1/5/15 min) {start_load} at start, "
        f"{load_average()} at the end."
    )
    print(report(args, header, images, results, notes, stages, minutes))


# ----------------------------------------------------------------------------- arguments
def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny image, k=4, one repeat")
    parser.add_argument(
        "--sizes",
        nargs="+",
        metavar="SIZE",
        help="megapixels (12, 24) or WIDTHxHEIGHT; default 12 24 (quick: 320x240)",
    )
    parser.add_argument("--ks", nargs="+", type=int, metavar="K", help="default 4 8 16 (quick: 4)")
    parser.add_argument(
        "--rounds", type=int, help="rounds of kseg jobs per size and k (default 3; quick 1)"
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=15.0,
        help="run cv2.kmeans above 12 MP only if the run stays within this (default 15)",
    )
    parser.add_argument("--job", help=argparse.SUPPRESS)  # internal: one measurement, JSON out
    args = parser.parse_args(argv)
    if args.job:
        return args
    if args.sizes is None:
        args.sizes = [QUICK_SIZE] if args.quick else [SIZES["12"], SIZES["24"]]
    else:
        args.sizes = [_parse_size(text) for text in args.sizes]
    args.ks = args.ks or ([4] if args.quick else list(KS))
    if any(k < 1 for k in args.ks):
        parser.error("every k must be at least 1")
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.cold_runs = 1 if args.quick else 2  # per child; times rounds
    args.warm_runs = 1 if args.quick else 5
    args.sklearn_rounds = 1 if args.quick else 2
    args.sklearn_sample = QUICK_SKLEARN_SAMPLE if args.quick else SKLEARN_SAMPLE
    args.warmup_size = QUICK_SIZE if args.quick else (800, 600)
    args.stage_cold_runs = 1 if args.quick else 3
    args.stage_warm_runs = 1 if args.quick else 5
    # The stage breakdown and the targets look at 12 MP and k=8 when measured.
    labels = [size_label(size) for size in args.sizes]
    args.stage_size = "12 MP" if "12 MP" in labels else labels[0]
    args.stage_k = 8 if 8 in args.ks else args.ks[len(args.ks) // 2]
    return args


def _parse_size(text: str) -> tuple[int, int]:
    key = text.lower().removesuffix("mp").strip()
    if key in SIZES:
        return SIZES[key]
    try:
        width, height = (int(v) for v in key.split("x"))
    except ValueError:
        raise SystemExit(
            f"--sizes: {text!r} is neither {' nor '.join(SIZES)} (megapixels) nor WIDTHxHEIGHT."
        ) from None
    if width < 16 or height < 16:
        raise SystemExit(f"--sizes: {text!r} is too small; use at least 16x16.")
    return width, height


def size_label(size: tuple[int, int]) -> str:
    megapixels = size[0] * size[1] / 1e6
    return f"{megapixels:.0f} MP" if megapixels >= 1 else f"{megapixels:.2f} MP"


# ----------------------------------------------------------------------------- images
def build_images(sizes, folder: Path, warmup_size: tuple[int, int]) -> dict[str, dict]:
    """JPEGs of the bundled photo at each size, written to ``folder``; plus a warm-up image."""
    import numpy as np
    from _common import decode_jpeg, distinct_colors, encode_jpeg, photo_like

    import kseg

    images = {}
    wanted = [(size_label(size), PHOTO, size) for size in sizes]
    wanted.append(("warm-up", WARMUP_PHOTO, warmup_size))  # another photo, > 20k colours
    for label, photo, size in wanted:
        data = encode_jpeg(photo_like(photo, size, sigma=NOISE_SIGMA), JPEG_QUALITY)
        path = folder / f"{label.replace(' ', '')}.jpg"
        path.write_bytes(data)
        pixels = decode_jpeg(data)
        images[label] = {
            "path": str(path),
            "size": size,
            "bytes": len(data),
            "colors": distinct_colors(pixels),
            # kseg decodes with Pillow, the recipes with cv2.imread: same pixels, same sums?
            "same_decode": bool(np.array_equal(kseg.load_image(data).rgb, pixels)),
        }
        del pixels
    return images


# ----------------------------------------------------------------------------- schedule
def measure(args, images, warmup, started):
    """Run every child job, alternating methods. Returns results keyed (size, k, method)."""
    results: dict[tuple[str, int, str], list[dict]] = defaultdict(list)
    notes: list[str] = []
    if not args.quick:
        # Load numba's cache (compiling it if empty) so first calls below measure a load.
        run_child({"kind": "kseg-first", "path": warmup["path"], "k": args.ks[0]})
    cv2_seconds_per_mp: list[float] = []
    for label, image in images.items():
        pixels = image["size"][0] * image["size"][1]
        every_k = pixels <= FULL_CV2_PIXELS
        big_k = 8 if 8 in args.ks else args.ks[len(args.ks) // 2]
        peer_ks = args.ks if every_k else [big_k]
        for round_ in range(args.rounds):
            for k in args.ks:
                path = image["path"]
                results[label, k, FIRST].append(
                    run_child({"kind": "kseg-first", "path": path, "k": k})
                )
                results[label, k, COLD].append(
                    run_child(
                        {
                            "kind": "kseg-cold",
                            "path": path,
                            "warmup": warmup["path"],
                            "k": k,
                            "runs": args.cold_runs,
                        }
                    )
                )
                if round_ == 0 and k in peer_ks:
                    estimate = _cv2_estimate(cv2_seconds_per_mp, pixels)
                    remaining = args.budget_minutes * 60 - (time.perf_counter() - started)
                    if every_k or estimate < remaining - 60:  # keep a minute for what follows
                        job = run_child({"kind": "cv2", "path": path, "k": k})
                        results[label, k, CV2].append(job)
                        cv2_seconds_per_mp.append(job["seconds"][0] / (pixels / 1e6))
                    else:
                        notes.append(
                            f"cv2.kmeans at {label}, k={k} skipped: it would take about "
                            f"{estimate / 60:.1f} min and the budget ({args.budget_minutes:g} min) "
                            f"has {max(remaining, 0) / 60:.1f} min left."
                        )
                results[label, k, WARM].append(
                    run_child(
                        {
                            "kind": "kseg-warm",
                            "path": path,
                            "k": k,
                            "other_k": k + 1,
                            "runs": args.warm_runs,
                        }
                    )
                )
                if round_ < args.sklearn_rounds and k in peer_ks:
                    results[label, k, SKLEARN].append(
                        run_child(
                            {
                                "kind": "sklearn",
                                "path": path,
                                "k": k,
                                "sample": args.sklearn_sample,
                                # OpenMP threads spin badly on a busy machine: 0.1 s -> 9 s.
                                "one_thread": args.quick,
                            }
                        )
                    )
    return results, notes


def _kseg_version() -> str:
    """The commit kseg was measured at, and whether kseg/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h (%ci)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "kseg"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {commit}" + (" (kseg/ has uncommitted changes)" if dirty else "")


def _cv2_estimate(seconds_per_mp: list[float], pixels: int) -> float:
    per_mp = statistics.median(seconds_per_mp) if seconds_per_mp else 4.5  # ~55 s at 12 MP
    return per_mp * pixels / 1e6


def run_child(spec: dict) -> dict:
    """Run one job in a fresh Python process; its JSON result."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--job", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"benchmark job {spec} failed with exit code {done.returncode}:\n{done.stderr}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = ", ".join(f"{v:.3f}" for v in result.get("seconds", [])) or "-"
    print(
        f"[{time.strftime('%H:%M:%S')}] {spec['kind']} {Path(spec['path']).stem} k={spec['k']}: "
        f"{seconds} s, peak {result['peak_mb']:.0f} MB, load {result['load']:.1f}",
        file=sys.stderr,
        flush=True,
    )
    return result


# ----------------------------------------------------------------------------- jobs (children)
def run_job(spec: dict) -> dict:
    kind = spec["kind"]
    jobs = {
        "kseg-first": _job_kseg_first,
        "kseg-cold": _job_kseg_cold,
        "kseg-warm": _job_kseg_warm,
        "cv2": _job_cv2,
        "sklearn": _job_sklearn,
        "stages": _job_stages,
    }
    if kind not in jobs:
        raise ValueError(f"Unknown job kind {kind!r}; expected one of {', '.join(jobs)}.")
    result = jobs[kind](spec)
    result["peak_mb"] = _peak_mb()
    result["ru_maxrss_mb"] = _maxrss_mb()
    result["load"] = os.getloadavg()[0]
    return result


def _peak_mb() -> float:
    """This process's peak resident memory in MB (10^6 bytes), from VmHWM.

    Not ``ru_maxrss``: on Linux a child's ``ru_maxrss`` starts at its parent's
    high-water mark (exec keeps the old address space's peak in the process's
    rusage), so it would report this benchmark's own memory, not the job's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # kB, which is KiB
    except OSError:
        pass
    return _maxrss_mb()


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


class _Timer:
    """Wall seconds and CPU seconds (this process, all its threads) of a block."""

    def __enter__(self):
        self.wall = -time.perf_counter()
        self.cpu = -time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter()
        self.cpu += time.process_time()


def _kseg_cold_once(kseg, data: bytes, k: int) -> tuple[_Timer, float]:
    """Timer of decode + histogram + k-means + full labels, and the compactness."""
    with _Timer() as timer:
        image = kseg.load_image(data)
        hist = kseg.ColorHistogram.from_image(image)
        seg = kseg.segment(hist, k, **RECIPE)
        seg.labels  # noqa: B018  (computed lazily: part of the cold path)
    return timer, seg.compactness


def _job_kseg_first(spec):
    with _Timer() as imported:
        import kseg
    import_mb = _peak_mb()
    data = Path(spec["path"]).read_bytes()
    timer, compactness = _kseg_cold_once(kseg, data, spec["k"])
    return {
        "seconds": [timer.wall],
        "cpu": [timer.cpu],
        "compactness": compactness,
        "import_s": imported.wall,
        "import_mb": import_mb,
    }


def _job_kseg_cold(spec):
    import kseg

    _kseg_cold_once(kseg, Path(spec["warmup"]).read_bytes(), spec["k"])
    data = Path(spec["path"]).read_bytes()
    timers, compactness = [], None
    for _ in range(spec["runs"]):
        timer, compactness = _kseg_cold_once(kseg, data, spec["k"])
        timers.append(timer)
    return {
        "seconds": [t.wall for t in timers],
        "cpu": [t.cpu for t in timers],
        "compactness": compactness,
    }


def _job_kseg_warm(spec):
    import kseg

    hist = kseg.ColorHistogram.from_image(kseg.load_image(Path(spec["path"]).read_bytes()))
    # As the page does: the colour features and the preview index are kept per photo.
    features, index = hist.in_space("rgb"), hist.preview_index(PREVIEW_SIDE)
    kseg.segment(hist, spec["other_k"], features=features, **RECIPE)  # the earlier k
    timers, compactness = [], None
    for _ in range(spec["runs"]):
        with _Timer() as timer:
            seg = kseg.segment(hist, spec["k"], features=features, **RECIPE)
            seg.preview_labels(PREVIEW_SIDE, index=index)
        timers.append(timer)
        compactness = seg.compactness
    return {
        "seconds": [t.wall for t in timers],
        "cpu": [t.cpu for t in timers],
        "compactness": compactness,
    }


def _job_cv2(spec):
    import cv2
    import numpy as np

    cv2.setRNGSeed(0)
    k = spec["k"]
    with _Timer() as timer:
        # The recipe, unchanged but for keeping the float centres for compactness.
        img = cv2.imread(spec["path"])
        Z = img.reshape((-1, 3))
        Z = np.float32(Z)
        criteria = (
            cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER,
            RECIPE["max_iter"],
            RECIPE["eps"],
        )
        ret, label, center = cv2.kmeans(
            Z, k, None, criteria, RECIPE["attempts"], cv2.KMEANS_PP_CENTERS
        )
        float_centers = center
        center = np.uint8(center)
        res = center[label.flatten()]
        res2 = res.reshape(img.shape)  # noqa: F841  (the recipe's output)
    return {
        "seconds": [timer.wall],
        "cpu": [timer.cpu],
        "compactness": _compactness(img.reshape(-1, 3), float_centers, label.ravel()),
        "cv2_compactness": float(ret),
    }


def _job_sklearn(spec):
    import cv2
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.utils import shuffle
    from threadpoolctl import threadpool_limits

    k = spec["k"]
    limit = threadpool_limits(limits=1) if spec.get("one_thread") else nullcontext()
    with limit, _Timer() as timer:
        # scikit-learn's "Color Quantization using K-Means" example, n_init=10, more samples.
        img = cv2.imread(spec["path"])
        image_array = np.array(img, dtype=np.float64).reshape(-1, 3) / 255
        n_samples = min(spec["sample"], image_array.shape[0])
        image_array_sample = shuffle(image_array, random_state=0, n_samples=n_samples)
        kmeans = KMeans(n_clusters=k, n_init=SKLEARN_N_INIT, random_state=0)
        kmeans.fit(image_array_sample)
        labels = kmeans.predict(image_array)
        recreated = kmeans.cluster_centers_[labels].reshape(img.shape)  # noqa: F841
    from _common import thread_pools  # after the fit: the pools sklearn used are loaded

    return {
        "seconds": [timer.wall],
        "cpu": [timer.cpu],
        "compactness": _compactness(img.reshape(-1, 3), kmeans.cluster_centers_ * 255, labels),
        "thread_pools": thread_pools(),
    }


def _compactness(pixels, centers, labels) -> float:
    """Sum of squared distances of every pixel to its centre, in float64, in 0..255 units."""
    import numpy as np

    centers = np.asarray(centers, dtype=np.float64)
    total = 0.0
    step = 1 << 20
    for lo in range(0, pixels.shape[0], step):
        diff = pixels[lo : lo + step].astype(np.float64) - centers[labels[lo : lo + step]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


class _StageClock:
    """Each stage's own time (nested stages excluded), keyed by its path of stage names.

    Thread-aware: each thread keeps its own stack. Work that kseg hands to its
    thread pool is recorded under the path of the stage that handed it over,
    plus "[threads]", with the time summed over the threads (so it can exceed
    the wall time of the "parallel" stage that waits for it).
    """

    THREADS = "[threads]"
    exact_points = -1  # the image's distinct colours, to name Lloyd runs on them

    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)
        self._local = threading.local()
        self._lock = threading.Lock()

    def _stack(self) -> list[list]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []  # [name, time spent in nested stages]
        return self._local.stack

    def path(self) -> tuple[str, ...]:
        return tuple(entry[0] for entry in self._stack())

    @contextmanager
    def stage(self, name: str):
        stack = self._stack()
        stack.append([name, 0.0])
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            path = " > ".join(entry[0] for entry in stack)
            _, nested = stack.pop()
            with self._lock:
                self.totals[path] += elapsed - nested
            if stack:
                stack[-1][1] += elapsed

    @contextmanager
    def adopted(self, parent: tuple[str, ...]):
        """In a pool thread with nothing running, record under ``parent`` > [threads]."""
        stack = self._stack()
        if stack:  # the pool ran the work inline, in the calling thread
            yield
            return
        stack.extend([name, 0.0] for name in (*parent, self.THREADS))
        try:
            yield
        finally:
            stack.clear()

    def wrap(self, name, function):
        """``function`` timed as a stage; ``name`` is a string or ``name(*args)``."""

        def timed(*args, **kwargs):
            with self.stage(name if isinstance(name, str) else name(*args, **kwargs)):
                return function(*args, **kwargs)

        return timed

    def wrap_parallel(self, function):
        """A ``run_parallel(func, items)`` whose items are timed under the caller's stage."""

        def timed(func, items, *args, **kwargs):
            with self.stage("parallel"):
                parent = self.path()

                def adopted(item):
                    with self.adopted(parent):
                        return func(item)

                return function(adopted, items, *args, **kwargs)

        return timed


def _lloyd_stage(X, w, C0, max_iter, *args, **kwargs) -> str:
    what = "assign" if max_iter == 0 else "Lloyd"
    exact = " (exact colours)" if X.shape[0] == _StageClock.exact_points else ""
    return f"{what} on {X.shape[0]:,} points{exact}"


# kseg's internals timed by the stage breakdown: (module, attribute, stage name or a
# function of the call's arguments, or None for a thread-pool runner). A name that a
# later kseg no longer has is reported as missing instead of failing the run.
_STAGE_HOOKS = (
    ("kseg._histogram", "pack_rgb", "pack RGB"),
    ("kseg._histogram:ColorHistogram", "features", "features"),
    ("kseg._histogram", "_coarse_summary", "coarse summaries"),
    ("kseg._histogram:ColorHistogram", "label_pixels", "label pixels"),
    ("kseg._segment", "_histogram", "k-means"),
    ("kseg._segment", "run_attempts", "attempts"),
    ("kseg._kmeans", "kmeans_plusplus", "k-means++ seeding"),
    ("kseg._kmeans", "lloyd", _lloyd_stage),
    ("kseg._segment", "lloyd", _lloyd_stage),
    ("kseg._kmeans", "run_parallel", None),
    ("kseg._segment", "run_parallel", None),
    ("kseg._segment", "_finish", "finish"),
    ("kseg._histogram:ColorHistogram", "preview_index", "preview colour index"),
)


def _instrument(clock: _StageClock) -> list[str]:
    import importlib

    missing = []
    for where, attribute, name in _STAGE_HOOKS:
        module_name, _, class_name = where.partition(":")
        owner = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        if not hasattr(owner, attribute):
            missing.append(f"{where}.{attribute}")
            continue
        original = getattr(owner, attribute)
        hook = clock.wrap_parallel(original) if name is None else clock.wrap(name, original)
        setattr(owner, attribute, hook)
    return missing


def _job_stages(spec):
    import kseg

    k = spec["k"]
    _kseg_cold_once(kseg, Path(spec["warmup"]).read_bytes(), k)
    clock = _StageClock()
    missing = _instrument(clock)
    data = Path(spec["path"]).read_bytes()
    cold, warm = [], []
    for _ in range(spec["cold_runs"]):
        clock.totals.clear()
        start = time.perf_counter()
        with clock.stage("decode"):
            image = kseg.load_image(data)
        with clock.stage("histogram"):
            hist = kseg.ColorHistogram.from_image(image)
        _StageClock.exact_points = hist.n_colors
        with clock.stage("segment"):
            seg = kseg.segment(hist, k, **RECIPE)
        with clock.stage("labels"):
            seg.labels  # noqa: B018
        cold.append({"total": time.perf_counter() - start, **clock.totals})
        del image, seg
    features, index = hist.in_space("rgb"), hist.preview_index(PREVIEW_SIDE)  # kept per photo
    kseg.segment(hist, k + 1, features=features, **RECIPE)  # the earlier k
    for _ in range(spec["warm_runs"]):
        clock.totals.clear()
        start = time.perf_counter()
        with clock.stage("segment"):
            seg = kseg.segment(hist, k, features=features, **RECIPE)
        with clock.stage("preview labels"):
            seg.preview_labels(PREVIEW_SIDE, index=index)
        warm.append({"total": time.perf_counter() - start, **clock.totals})
    return {"cold": _median_stages(cold), "warm": _median_stages(warm), "missing": missing}


def _median_stages(runs: list[dict]) -> list[tuple[str, float]]:
    """Median seconds of each stage over runs, in the order the stages first ran."""
    names = list(dict.fromkeys(name for run in runs for name in run))
    return [(name, statistics.median(run.get(name, 0.0) for run in runs)) for name in names]


# ----------------------------------------------------------------------------- report
def report(args, header, images, results, notes, stages, minutes) -> str:
    lines = ["# kseg engine benchmark", ""]
    lines += header
    for label, image in images.items():
        width, height = image["size"]
        lines.append(
            f"Image {label}: {width}x{height}, {PHOTO}.jpg cropped to aspect, bicubic upscale, "
            f"Gaussian noise sigma {NOISE_SIGMA:g}, JPEG quality {JPEG_QUALITY} "
            f"({image['bytes'] / 1e6:.1f} MB), {image['colors']:,} distinct colours; "
            "Pillow (kseg) and cv2.imread (the recipes) decode it "
            + ("to identical pixels." if image["same_decode"] else "DIFFERENTLY (see notes).")
        )
    lines.append(
        f"All k-means: k-means++ seeding, {RECIPE['attempts']} attempts, EPS+MAX_ITER "
        f"({RECIPE['max_iter']}, {RECIPE['eps']:g}); sklearn: n_init={SKLEARN_N_INIT}, "
        f"fitted on {args.sklearn_sample:,} random pixels"
        + (" (quick mode: on 1 thread)" if args.quick else "")
        + ", predict on all. Compactness: float64 "
        "sum of squared RGB distances over every pixel, from each method's own centres and "
        "labels."
    )
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for label in images:
        for k in args.ks:
            base = _summary(results.get((label, k, CV2)))
            for method in METHODS:
                row = _summary(results.get((label, k, method)))
                if row is None:
                    continue
                speed = ratio = "—"
                if base is not None:
                    speed = _times(base["median"] / row["median"])
                    ratio = f"{row['compactness'] / base['compactness']:.6f}"
                lines.append(
                    f"| {label} | {method} | {k} | {row['runs']} | {_seconds(row['median'])} "
                    f"| {_seconds(row['min'])}–{_seconds(row['max'])} | {_seconds(row['cpu'])} "
                    f"| {speed} | {ratio} | {row['peak_mb']:.0f} |"
                )
    lines += ["", *_notes(args, images, results, notes), "", "Targets:"]
    lines += _targets(args, images, results)
    lines += ["", *_stage_lines(args, stages), "", f"Total run time: {minutes:.1f} min."]
    return "\n".join(lines)


def _summary(jobs: list[dict] | None) -> dict | None:
    if not jobs:
        return None
    seconds = [s for job in jobs for s in job["seconds"]]
    return {
        "median": statistics.median(seconds),
        "min": min(seconds),
        "max": max(seconds),
        "cpu": statistics.median(c for job in jobs for c in job["cpu"]),
        "runs": len(seconds),
        "processes": len(jobs),
        "compactness": statistics.median(job["compactness"] for job in jobs),
        "peak_mb": max(job["peak_mb"] for job in jobs),
    }


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _times(value: float) -> str:
    return f"{value:.0f}x" if value >= 10 else f"{value:.2f}x"


def _notes(args, images, results, notes) -> list[str]:
    first = [job for (_, _, method), jobs in results.items() if method == FIRST for job in jobs]
    cache = (
        "quick mode: numba's cache is loaded, or compiled if empty"
        if args.quick
        else "numba's cache already on disk: this is its load, not a compile"
    )
    lines = [
        "Notes:",
        f"- runs: kseg cold = {args.rounds} child processes x {args.cold_runs} images, each "
        f"after a warm-up segmentation of another photo; first call = {args.rounds} fresh "
        f"processes, one image each ({cache}); warm = {args.rounds} processes x "
        f"{args.warm_runs}, each after a segmentation at another k (the histogram and its "
        f"preview index kept, as the app keeps them); cv2.kmeans = 1 run per k (about a "
        f"minute each at 12 MP on a quiet machine); sklearn = {args.sklearn_rounds} runs per "
        "k; the methods alternate. Times exclude Python start-up and imports.",
        "- peak RSS = largest VmHWM (peak resident set) of the method's child processes, "
        "MB = 10^6 bytes; for kseg first call that process decodes and segments exactly one "
        "image. (Not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's "
        "high-water mark, so it would report this benchmark's own memory.) "
        f"kseg's import: median {statistics.median(j['import_s'] for j in first):.2f} s, "
        f"{statistics.median(j['import_mb'] for j in first):.0f} MB RSS before any image.",
    ]
    if any(method == CV2 for (_, _, method) in results):
        values = "; ".join(
            f"{label} k={k}: {_seconds(jobs[0]['seconds'][0])} s at load {jobs[0]['load']:.1f}, "
            f"compactness {jobs[0]['compactness']:.6g} (cv2's own float32 "
            f"{jobs[0]['cv2_compactness']:.6g})"
            for (label, k, method), jobs in results.items()
            if method == CV2
        )
        lines.append(f"- cv2.kmeans runs (compactness recomputed in float64): {values}.")
    loads = sorted(job["load"] for jobs in results.values() for job in jobs)
    lines.append(
        f"- 1-minute load average as each job ended: {loads[0]:.1f} to {loads[-1]:.1f}, "
        f"median {statistics.median(loads):.1f}, on {os.cpu_count()} CPUs. Above the CPU "
        "count other work was competing. CPU s counts every thread of the job's process, so "
        "CPU s above wall time means the job ran on both cores."
    )
    missing = [
        f"{label} k={k}"
        for label in images
        for k in args.ks
        if (label, k, CV2) not in results and not any(f"{label}, k={k}" in n for n in notes)
    ]
    if missing:
        lines.append(f"- cv2.kmeans and sklearn not run (kseg only): {', '.join(missing)}.")
    lines += [f"- {note}" for note in notes]
    return lines


def _targets(args, images, results) -> list[str]:
    labels = list(images)
    quick = " [quick mode: tiny image, indicative only]" if args.quick else ""
    cold_label = "12 MP" if "12 MP" in labels else (labels[0] if args.quick else None)
    memory_label = "24 MP" if "24 MP" in labels else (labels[-1] if args.quick else None)
    warm_k = 8 if 8 in args.ks else (args.ks[0] if args.quick else None)
    lines = []
    if cold_label is None:
        lines.append("SKIP cold speed and compactness: 12 MP not measured.")
    for k in args.ks if cold_label else ():
        cold = _summary(results.get((cold_label, k, COLD)))
        base = _summary(results.get((cold_label, k, CV2)))
        if base is None:
            lines.append(f"SKIP cold {cold_label} k={k}: cv2.kmeans not run.")
            continue
        speed = base["median"] / cold["median"]
        lines.append(
            f"{_verdict(speed >= COLD_SPEEDUP)} cold {cold_label} k={k} speed: {speed:.0f}x "
            f"faster than cv2.kmeans ({_seconds(cold['median'])} s vs "
            f"{_seconds(base['median'])} s; target >= {COLD_SPEEDUP:.0f}x)"
            + (f", short by {1 - speed / COLD_SPEEDUP:.0%}" if speed < COLD_SPEEDUP else "")
            + quick
        )
        ratio = cold["compactness"] / base["compactness"]
        lines.append(
            f"{_verdict(ratio <= COMPACTNESS_RATIO)} cold {cold_label} k={k} compactness: "
            f"{ratio:.6f}x cv2.kmeans's (target <= {COMPACTNESS_RATIO}x)"
            + (f", over by {ratio - COMPACTNESS_RATIO:.6f}" if ratio > COMPACTNESS_RATIO else "")
            + quick
        )
    warm = _summary(results.get((cold_label, warm_k, WARM))) if cold_label and warm_k else None
    if warm is None:
        lines.append("SKIP warm re-segmentation: 12 MP with k=8 not measured.")
    else:
        ms = warm["median"] * 1000
        lines.append(
            f"{_verdict(ms <= WARM_MS)} warm {cold_label} k={warm_k} re-segmentation + "
            f"{PREVIEW_SIDE}-px preview labels: {ms:.0f} ms, median of {warm['runs']} "
            f"(target <= {WARM_MS:.0f} ms)"
            + (f", over by {ms - WARM_MS:.0f} ms ({ms / WARM_MS - 1:.0%})" if ms > WARM_MS else "")
            + quick
        )
    first = (
        [job for k in args.ks for job in results.get((memory_label, k, FIRST), [])]
        if memory_label
        else []
    )
    if not first:
        lines.append("SKIP peak memory: 24 MP not measured.")
    else:
        peak = max(job["peak_mb"] for job in first)
        lines.append(
            f"{_verdict(peak <= PEAK_MB)} peak memory {memory_label} cold kseg job "
            f"(worst of {len(first)} processes, k={', '.join(map(str, args.ks))}): "
            f"{peak:.0f} MB (target <= {PEAK_MB:.0f} MB)"
            + (f", over by {peak - PEAK_MB:.0f} MB" if peak > PEAK_MB else "")
            + quick
        )
    return lines


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _stage_lines(args, stages) -> list[str]:
    lines = [
        f"Where kseg's time goes, {args.stage_size}, k={args.stage_k}: one warmed process, "
        f"median ms of {args.stage_cold_runs} cold / {args.stage_warm_runs} warm runs, each "
        "stage's own time (nested stages excluded; medians need not add up to the total). "
        f"{_StageClock.THREADS}: work in kseg's thread pool, summed over its threads."
    ]
    for phase in ("cold", "warm"):
        entries = dict(stages[phase])
        lines.append(f"  {phase}: total {entries.pop('total') * 1000:.1f} ms")
        lines += [f"    {name:<84} {sec * 1000:8.1f}" for name, sec in entries.items()]
    if stages["missing"]:
        lines.append(f"  (not timed, no longer in kseg: {', '.join(stages['missing'])})")
    return lines


if __name__ == "__main__":
    main()
