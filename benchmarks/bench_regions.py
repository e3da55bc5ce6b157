"""Benchmark regions of interest: a pick at 12 MP, and segment(min_region=) against segment.

Prints one Markdown table per photo-like 12 MP JPEG (decoded once) and PASS/FAIL lines
for issue 12's targets:

- a pick (``kseg.pick_regions`` on one point, full-resolution labels included, then
  ``kseg.region_figures``) answers in <= 0.3 s after the segmentation;
- ``kseg.segment(hist, k, min_region=N)`` costs at most 1.5x ``kseg.segment(hist, k)``;
  reported against ``segment`` alone (which never touches the pixels: it works on the
  distinct colours) and against ``segment`` plus its full-resolution labels, which a
  min_region result holds and which every file and pick needs.

"Warm" throughout: one process, numba's kernels compiled or loaded from its cache before
the clock starts, and the histogram kept (as the page has it on a change of k). Peers in
the same run: scikit-image's labelling with ``scipy.ndimage.binary_fill_holes`` for the
pick, and scikit-image's multi-label ``measure.label`` for the labelling step that
min_region starts with.

    python benchmarks/bench_regions.py             # ~3 minutes on 2 cores
    python benchmarks/bench_regions.py --quick     # smoke run on a small image, ~20 s
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import decode_jpeg, encode_jpeg, load_average, machine_summary, photo_like  # noqa: E402

import kseg  # noqa: E402
from kseg import _components, _jit, _kernels, _memory  # noqa: E402

PICK_TARGET_S = 0.3
MIN_REGION_TARGET = 1.5
NOISE_SIGMA = 1.5  # as bench_engine.py
JPEG_QUALITY = 90


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    _memory.use_small_pages()  # as the page and the CLI run
    size = (320, 240) if args.quick else (4000, 3000)
    repeats = 1 if args.quick else args.repeats
    photos = ["coffee"] if args.quick else args.photos
    ks = [4] if args.quick else args.ks
    sizes = [50] if args.quick else args.min_regions
    print("# Regions of interest: pick and min_region\n")
    for line in machine_summary():
        print(f"- {line}")
    print(f"- image: photo-like {size[0]} x {size[1]} JPEG (sigma {NOISE_SIGMA}, q {JPEG_QUALITY})")
    print(f"- medians of {repeats}; warm (kernels loaded, histogram kept); load {load_average()}\n")
    _warm()
    picks, ratios = [], []
    print("| photo | k | what | median s | vs segment | regions merged |")
    print("|---|---:|---|---:|---:|---:|")
    for photo in photos:
        rgb = decode_jpeg(encode_jpeg(photo_like(photo, size, sigma=NOISE_SIGMA), JPEG_QUALITY))
        hist = kseg.ColorHistogram(rgb)
        for k in ks:
            pick, worst = _rows(photo, hist, k, sizes, (size[0] // 2, size[1] // 2), repeats)
            picks.append(pick)
            ratios.extend(worst)
    print()
    worst_pick = max(picks)
    worst_ratio = max(r[0] for r in ratios)
    worst_labelled = max(r[1] for r in ratios)
    print(
        f"{'PASS' if worst_pick <= PICK_TARGET_S else 'FAIL'}: slowest pick + figures "
        f"{worst_pick:.3f} s (target <= {PICK_TARGET_S} s)"
    )
    print(
        f"{'PASS' if worst_ratio <= MIN_REGION_TARGET else 'FAIL'}: min_region costs at most "
        f"{worst_ratio:.2f}x segment alone (target <= {MIN_REGION_TARGET}x; median "
        f"{statistics.median(r[0] for r in ratios):.2f}x)"
    )
    print(
        f"{'PASS' if worst_labelled <= MIN_REGION_TARGET else 'FAIL'}: min_region costs at most "
        f"{worst_labelled:.2f}x segment + its full-resolution labels, which a min_region "
        f"result holds (median {statistics.median(r[1] for r in ratios):.2f}x)"
    )
    return 0


def _rows(photo, hist, k, sizes, point, repeats) -> tuple[float, list[float]]:
    """Print one photo's rows at one k; returns the pick's time and min_region's ratios."""
    base, seg = _median(lambda: kseg.segment(hist, k), repeats)
    print(f"| {photo} | {k} | segment | {base:.3f} | 1.00 | |")
    with_labels, _ = _median(lambda: kseg.segment(hist, k).labels, repeats)
    print(f"| {photo} | {k} | segment + full-resolution labels | {with_labels:.3f} | "
          f"{with_labels / base:.2f} | |")  # fmt: skip
    ratios = []
    labels = _kernels.read_only(seg.labels, np.int16)  # as kseg passes them
    for n in sizes:
        took, _ = _median(lambda n=n: kseg.segment(hist, k, min_region=n), repeats)
        merged = _kernels.merge_small_regions(labels, n, seg.k)[1]
        ratios.append((took / base, took / with_labels))
        print(
            f"| {photo} | {k} | segment, min_region={n} | {took:.3f} | {took / base:.2f} | "
            f"{merged} |"
        )
    pick, regions = _median(lambda: kseg.pick_regions(seg, [point]), repeats)
    figures, _ = _median(lambda: kseg.region_figures(seg, regions[0].mask), repeats)
    print(f"| {photo} | {k} | pick at the centre + figures | {pick + figures:.3f} | | |")
    peer, peer_mask = _median(lambda: _skimage_pick(seg, point), repeats)
    same = "same mask" if np.array_equal(peer_mask, regions[0].mask) else "DIFFERENT mask"
    print(
        f"| {photo} | {k} | peer pick: skimage label + scipy fill_holes | {peer:.3f} | | {same} |"
    )
    ours, _ = _median(lambda: _components.label_regions(labels), repeats)
    theirs, _ = _median(lambda: _skimage_regions(labels), repeats)
    print(f"| {photo} | {k} | labelling all regions: kseg | {ours:.3f} | | |")
    print(f"| {photo} | {k} | labelling all regions: skimage measure.label | {theirs:.3f} | | |")
    return pick + figures, ratios


def _warm() -> None:
    small = photo_like("coffee", (64, 48))
    kseg.segment(small, 4, min_region=10)
    if _jit.mode() == "auto":
        _jit.wait_until_compiled(timeout=300)
    for group in _jit.GROUPS:
        _jit.kernels(group)
    kseg.segment(small, 4, min_region=10)


def _median(run, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _skimage_pick(seg, point):
    from scipy.ndimage import binary_fill_holes
    from skimage.measure import label

    labels = seg.labels
    x, y = point
    pieces = label(labels == labels[y, x], connectivity=2)
    return binary_fill_holes(pieces == pieces[y, x]) & (labels >= 0)


def _skimage_regions(labels):
    from skimage.measure import label

    return label(labels + 1, background=0, connectivity=2)


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small image, one repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--photos", nargs="+", default=["coffee", "chelsea", "astronaut"])
    parser.add_argument("--ks", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--min-regions", nargs="+", type=int, default=[20, 500])
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
