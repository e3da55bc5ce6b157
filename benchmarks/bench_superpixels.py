"""Benchmark kseg.superpixels against scikit-image and OpenCV SLIC.

Prints one Markdown table: wall time (median of alternating repeats, and the
ratio to kseg) on photo-like images of 2 and 12 megapixels, and quality on
synthetic mosaics with known regions (boundary recall within 2 px, corrected
under-segmentation error, number of regions). Also times kseg's first call in
fresh processes: with an empty numba cache (compile) and with a warm one.

    python benchmarks/bench_superpixels.py           # full run, ~3 minutes (quiet machine)
    python benchmarks/bench_superpixels.py --quick   # smoke run, ~30 s

The images are built here from the bundled samples and never written to disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from _common import cpu_name  # noqa: E402

from kseg import _superpixels as kseg_superpixels  # noqa: E402
from kseg._superpixels import superpixels  # noqa: E402
from kseg.samples import sample_path  # noqa: E402

N_SEGMENTS = 400
COMPACTNESS = 10.0
MAX_ITER = 10
PHOTOS = ("coffee", "chelsea", "astronaut", "retina")
SIZES = {"2 MP": (1632, 1224), "12 MP": (4000, 3000)}


# ----------------------------------------------------------------------------- images
def load_rgb(name: str) -> np.ndarray:
    bgr = cv2.imread(str(sample_path(name)), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def photo_like(name: str, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A bundled photo upscaled (bicubic) to ``size`` (width, height), plus mild noise."""
    big = cv2.resize(load_rgb(name), size, interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(seed).normal(0.0, 2.0, big.shape)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def mosaic(size: tuple[int, int], n_regions: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A Voronoi partition of the canvas, each cell a textured patch of a photo.

    Returns the (H, W, 3) uint8 image and the (H, W) int32 ground-truth regions.
    Each cell shows a different place of a (randomly chosen, rescaled) photo,
    so the cells differ in colour and carry real texture and edges of their
    own; Gaussian noise (sigma 4) goes on top.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    seeds = rng.uniform((0, 0), (height, width), size=(n_regions, 2))
    rows, cols = np.mgrid[0:height, 0:width]
    truth = np.zeros((height, width), np.int32)
    best = np.full((height, width), np.inf)
    for k, (sy, sx) in enumerate(seeds):
        d = (rows - sy) ** 2 + (cols - sx) ** 2
        closer = d < best
        truth[closer] = k
        best[closer] = d[closer]
    sources = [
        cv2.resize(load_rgb(name), (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC)
        for name in PHOTOS
    ]
    image = np.empty((height, width, 3), np.uint8)
    for k in range(n_regions):
        source = sources[rng.integers(len(sources))]
        dy, dx = rng.integers(0, height), rng.integers(0, width)
        patch = source[dy : dy + height, dx : dx + width]
        inside = truth == k
        image[inside] = patch[inside]
    noisy = image + rng.normal(0.0, 4.0, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), truth


# ----------------------------------------------------------------------------- methods
def run_kseg(rgb: np.ndarray) -> np.ndarray:
    return superpixels(rgb, N_SEGMENTS, compactness=COMPACTNESS, max_iter=MAX_ITER).labels


def run_kseg_one_thread(rgb: np.ndarray) -> np.ndarray:
    """kseg on one core (the peers use one; cv2.cvtColor may still use two)."""
    with mock.patch.object(kseg_superpixels, "_n_workers", lambda: 1):
        return run_kseg(rgb)


def run_skimage(rgb: np.ndarray) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(
        rgb, n_segments=N_SEGMENTS, compactness=COMPACTNESS, max_num_iter=MAX_ITER, start_label=0
    )


def _run_opencv(rgb: np.ndarray, algorithm: int) -> np.ndarray:
    # Same colour conversion as kseg (CIELAB from float32 in 0..1); region_size = S.
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    step = int(round(np.sqrt(rgb.shape[0] * rgb.shape[1] / N_SEGMENTS)))
    slic = cv2.ximgproc.createSuperpixelSLIC(
        lab, algorithm=algorithm, region_size=step, ruler=COMPACTNESS
    )
    slic.iterate(MAX_ITER)
    slic.enforceLabelConnectivity()
    return slic.getLabels()


def run_opencv_slic(rgb: np.ndarray) -> np.ndarray:
    return _run_opencv(rgb, cv2.ximgproc.SLIC)


def run_opencv_slico(rgb: np.ndarray) -> np.ndarray:
    return _run_opencv(rgb, cv2.ximgproc.SLICO)


METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "kseg": run_kseg,
    "kseg, 1 thread": run_kseg_one_thread,
    "skimage slic": run_skimage,
    "OpenCV SLIC": run_opencv_slic,
    "OpenCV SLICO": run_opencv_slico,
}


# ----------------------------------------------------------------------------- quality
def boundary_mask(labels: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has a different label."""
    edges = np.zeros(labels.shape, bool)
    edges[:, :-1] = labels[:, :-1] != labels[:, 1:]
    edges[:-1] |= labels[:-1] != labels[1:]
    return edges


def boundary_recall(labels: np.ndarray, truth: np.ndarray, tolerance: int = 2) -> float:
    """Fraction of ground-truth boundary pixels within ``tolerance`` px of a superpixel boundary."""
    truth_edges = boundary_mask(truth)
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    near = cv2.dilate(boundary_mask(labels).astype(np.uint8), kernel).astype(bool)
    return float(near[truth_edges].mean())


def undersegmentation_error(labels: np.ndarray, truth: np.ndarray) -> float:
    """Corrected under-segmentation error (Neubert & Protzel 2012).

    ``sum over superpixels S and regions G of min(|S & G|, |S - G|) / N``: the
    smaller of the part of S inside G and the part outside, for each overlap.
    """
    n_truth = int(truth.max()) + 1
    overlap = np.bincount(
        labels.ravel().astype(np.int64) * n_truth + truth.ravel(),
        minlength=(int(labels.max()) + 1) * n_truth,
    ).reshape(-1, n_truth)
    sizes = overlap.sum(axis=1, keepdims=True)
    error = np.minimum(overlap, sizes - overlap)[overlap > 0].sum()
    return float(error / labels.size)


# ----------------------------------------------------------------------------- timing
def timed(method: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray):
    started = time.perf_counter()
    labels = method(rgb)
    return time.perf_counter() - started, labels


def measure(images: list[np.ndarray], repeats: int, methods: dict) -> dict:
    """Median seconds per method over ``repeats`` rounds, the methods alternating in each."""
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    regions: dict[str, list[int]] = {name: [] for name in methods}
    for _ in range(repeats):
        for image in images:
            for name, method in methods.items():
                elapsed, labels = timed(method, image)
                seconds[name].append(elapsed)
                regions[name].append(int(labels.max()) + 1)
    return {
        name: (statistics.median(seconds[name]), statistics.median(regions[name]))
        for name in methods
    }


def first_call_seconds(cache_dir: str) -> tuple[float, float, float]:
    """In a fresh process: import seconds, first call and second call on a 2 MP image."""
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
        rgb = np.random.default_rng(0).integers(0, 256, (1224, 1632, 3), dtype=np.uint8)
        t0 = time.perf_counter()
        from kseg._superpixels import superpixels
        t1 = time.perf_counter()
        superpixels(rgb)
        t2 = time.perf_counter()
        superpixels(rgb)
        t3 = time.perf_counter()
        print(t1 - t0, t2 - t1, t3 - t2)
        """
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return tuple(float(v) for v in out.stdout.split())  # type: ignore[return-value]


# ----------------------------------------------------------------------------- report
def header() -> str:
    import numba
    import skimage

    return (
        f"Machine: {cpu_name()}, {len(os.sched_getaffinity(0))} cores, {platform.system()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"OpenCV {cv2.__version__}, scikit-image {skimage.__version__}, "
        f"numba {numba.__version__}.\n"
        f"All: n_segments={N_SEGMENTS}, compactness/ruler={COMPACTNESS:g}, "
        f"{MAX_ITER} iterations, CIELAB, connectivity enforced; OpenCV region_size = "
        "sqrt(pixels / n_segments). Times include colour conversion."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small images, one repeat")
    args = parser.parse_args(argv)

    sizes = {"0.5 MP": (816, 612)} if args.quick else SIZES
    repeats = {"0.5 MP": 1, "2 MP": 3, "12 MP": 2}
    mosaic_size = (816, 612) if args.quick else SIZES["2 MP"]
    mosaic_seeds = (0,) if args.quick else (0, 1, 2)

    run_kseg(photo_like("coffee", (64, 48)))  # compile or load numba's cache first
    rows = []
    for size_name, size in sizes.items():
        images = [photo_like("coffee", size)]
        if size_name != "12 MP":
            images.append(photo_like("astronaut", size, seed=1))
        result = measure(images, repeats[size_name], METHODS)
        base = result["kseg"][0]
        for name, (sec, n) in result.items():
            rows.append(
                f"| photo {size_name} ({len(images)} img x {repeats[size_name]}) | {name} "
                f"| {sec:.3f} | {sec / base:.2f} | {n} | | | |"
            )

    mosaics = [mosaic(mosaic_size, 45, seed) for seed in mosaic_seeds]
    scores: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in METHODS}
    for image, truth in mosaics:
        for name, method in METHODS.items():
            elapsed, labels = timed(method, image)
            scores[name].append(
                (
                    elapsed,
                    boundary_recall(labels, truth),
                    undersegmentation_error(labels, truth),
                    int(labels.max()) + 1,
                )
            )
    base = statistics.median(s[0] for s in scores["kseg"])
    megapixels = mosaic_size[0] * mosaic_size[1] / 1e6
    for name, values in scores.items():
        sec = statistics.median(v[0] for v in values)
        recall = statistics.mean(v[1] for v in values)
        error = statistics.mean(v[2] for v in values)
        counts = [v[3] for v in values]
        within = all(abs(c - N_SEGMENTS) <= 0.15 * N_SEGMENTS for c in counts)
        rows.append(
            f"| mosaic {megapixels:.1f} MP ({len(values)} img) | {name} | {sec:.3f} "
            f"| {sec / base:.2f} | {statistics.median(counts):g} | {recall:.3f} | {error:.4f} "
            f"| {'yes' if within else 'no'} |"
        )

    with tempfile.TemporaryDirectory() as cache:
        cold = first_call_seconds(cache)
        warm = first_call_seconds(cache)

    print(header())
    print()
    print(
        "| images | method | median s | x kseg | regions | boundary recall (2 px) "
        "| under-seg. error | regions within 15% |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(
        f"kseg first call in a fresh process (2 MP): empty numba cache {cold[1]:.2f} s "
        f"(compile), warm cache {warm[1]:.2f} s (load); then {warm[2]:.2f} s. "
        f"Import of kseg.superpixels: {warm[0]:.2f} s."
    )


if __name__ == "__main__":
    main()
