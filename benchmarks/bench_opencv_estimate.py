"""Calibrate the page's OpenCV cost estimate against cv2.kmeans's measured time.

Runs ``kseg.segment(hist, k, engine="opencv", ...)``, the call the page makes, over a
grid of images (the bundled samples and photo-like 4 and 12 MP images made from them),
k in {4, 8, 16}, 1 to 10 attempts, random and k-means++ starts and several stop
criteria, and prints one Markdown table: the old estimate (issue 9's 6 ns per pixel x
centre x update), the page's current estimate (``sidebar.opencv_estimate``), the
measured median, CPU / wall (about 2 when cv2.kmeans had both cores to itself) and both
ratios. Then a least-squares fit of the current model's four
constants (relative error, over the runs that use all their updates) and a summary.

    python benchmarks/bench_opencv_estimate.py            # ~6 minutes on 2 cores
    python benchmarks/bench_opencv_estimate.py --quick    # one small sample, ~10 s

Every configuration runs ``--rounds`` times (3), the rounds interleaved so a busy
moment on the shared machine spreads over all of them; the table shows medians.
"Full" runs stop on max_iter alone (criteria "max_iter", at most 20 updates, or a
count-only 1-update run, which cv2 makes 2): on these photos no attempt converges
exactly that soon, so they use every update and the estimate should match them
within +/-20 %. Runs with eps may stop sooner; for them the estimate is an upper bound.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import kseg  # noqa: E402
from benchmarks._common import (  # noqa: E402
    load_average,
    load_sample_rgb,
    machine_summary,
    now,
    photo_like,
)
from kseg.dashboard import sidebar  # noqa: E402
from kseg.dashboard.state import Params  # noqa: E402

OLD_NS_PER_STEP = 6.0  # issue 9's model: pixels x k x attempts x updates x 6 ns
GENERATED = {"photo 4 MP": ("coffee", (2400, 1600)), "photo 12 MP": ("coffee", (4000, 3000))}
COLUMNS = (
    "image", "MP", "k", "init", "attempts", "criteria", "full",
    "old estimate s", "estimate s", "measured median s", "min-max s", "CPU / wall",
    "old / measured", "estimate / measured",
)  # fmt: skip


def _params(k, init, attempts, criteria, max_iter, eps=0.1):
    return Params(k, init, attempts, max_iter, eps, criteria, "rgb", 0, "opencv")


def grid(quick: bool) -> list[tuple[str, Params]]:
    """(image name, Params) to measure; small images get the whole grid."""
    runs = []
    small = ["chelsea"] if quick else ["chelsea", "retina"]
    criteria = [("max_iter", 20), ("max_iter", 5), ("eps+max_iter", 20), ("eps", 20)]
    for name in small:
        for k in (4, 8, 16) if not quick else (4, 8):
            for init in ("random", "k-means++"):
                for attempts in (1, 3):
                    for crit, max_iter in criteria if not quick else criteria[:2]:
                        if name == "retina" and crit == "eps" and attempts == 3:
                            continue  # up to 100 updates x 3: a minute for one row
                        runs.append((name, _params(k, init, attempts, crit, max_iter)))
    if quick:
        return runs
    for name in ("coffee", "astronaut"):
        runs.append((name, _params(8, "k-means++", 3, "max_iter", 20)))
        runs.append((name, _params(4, "k-means++", 10, "eps+max_iter", 20)))  # page default
    runs.append(("retina", _params(4, "k-means++", 10, "eps+max_iter", 20)))
    runs.append(("retina", _params(8, "random", 1, "max_iter", 1)))  # cv2 makes it 2
    runs.append(("retina", _params(8, "random", 1, "max_iter", 150)))  # cv2 makes it 100
    for k, init in ((4, "random"), (16, "k-means++")):
        runs.append(("photo 4 MP", _params(k, init, 1, "max_iter", 20)))
    runs.append(("photo 12 MP", _params(4, "random", 1, "max_iter", 20)))
    runs.append(("photo 12 MP", _params(8, "k-means++", 1, "max_iter", 10)))
    return runs


def is_full(params: Params) -> bool:
    """Stops on the update count alone, and early enough that no attempt converges."""
    return params.criteria == "max_iter" and params.max_iter <= 20


def old_estimate(n_pixels: int, params: Params) -> float:
    updates = 100 if params.criteria == "eps" else max(params.max_iter, 1)
    attempts = params.attempts if isinstance(params.init, str) else 1
    return n_pixels * params.k * attempts * updates * OLD_NS_PER_STEP * 1e-9


def histogram(name: str) -> kseg.ColorHistogram:
    if name in GENERATED:
        sample, size = GENERATED[name]
        return kseg.ColorHistogram(photo_like(sample, size))
    return kseg.ColorHistogram(load_sample_rgb(name))


def measure(hist: kseg.ColorHistogram, params: Params) -> tuple[float, float]:
    """Wall and CPU seconds of the page's call (CPU / wall near 2 on an idle machine:
    cv2.kmeans labels on both cores; well below 2, other work shared the cores)."""
    start, cpu = time.perf_counter(), time.process_time()
    kseg.segment(
        hist,
        params.k,
        init=params.init,
        attempts=params.attempts,
        max_iter=params.max_iter,
        eps=params.eps,
        criteria=params.criteria,
        color_space=params.color_space,
        seed=params.seed,
        engine="opencv",
    )
    return time.perf_counter() - start, time.process_time() - cpu


def features(n_pixels: int, params: Params) -> list[float]:
    """The model's terms, in pixels, so that seconds = terms . constants (ns) * 1e-9."""
    attempts, passes = sidebar._attempts_passes(params)
    seeds = params.k if params.init == "k-means++" else 0
    return [
        n_pixels,
        n_pixels * attempts * passes,
        n_pixels * attempts * passes * params.k,
        n_pixels * attempts * seeds,
    ]


def fit(rows) -> np.ndarray:
    """The four constants (ns) minimising the relative error over the full runs."""
    full = [(features(n, p), t) for n, p, t in rows if is_full(p)]
    a = np.array([f for f, _ in full], float) * 1e-9
    t = np.array([t for _, t in full])
    weighted = a / t[:, None]
    constants, *_ = np.linalg.lstsq(weighted, np.ones(len(t)), rcond=None)
    return constants


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small sample, one round")
    parser.add_argument("--rounds", type=int, help="repeats of every configuration (3)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    runs = grid(args.quick)
    hists = {name: histogram(name) for name in dict.fromkeys(name for name, _ in runs)}
    measure(hists[runs[0][0]], runs[0][1])  # load cv2's code and threads once
    times: dict[int, list[float]] = {i: [] for i in range(len(runs))}
    cpus: dict[int, list[float]] = {i: [] for i in range(len(runs))}
    started, load_before = now(), load_average()
    order = list(range(len(runs)))
    for r in range(rounds):
        random.Random(r).shuffle(order)
        for i in order:
            name, params = runs[i]
            wall, cpu = measure(hists[name], params)
            times[i].append(wall)
            cpus[i].append(cpu)

    print(f"# cv2.kmeans time against the page's estimate ({started})\n")
    for line in machine_summary():
        print(line)
    print(f"Load average before / after: {load_before} / {load_average()}.")
    print(f"{rounds} round(s), interleaved; RGB features; seed 0; eps 0.1 where it applies.\n")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    rows, ratios, old_ratios, alone = [], [], [], []
    for i, (name, params) in enumerate(runs):
        hist = hists[name]
        n = hist.n_opaque
        median = statistics.median(times[i])
        old, new = old_estimate(n, params), sidebar.opencv_estimate(n, params)
        rows.append((n, params, median))
        crit = params.criteria + ("" if params.criteria == "eps" else f" {params.max_iter}")
        if is_full(params):
            ratios.append(new / median)
            old_ratios.append(old / median)
            if statistics.median(cpus[i]) / median >= 1.5:
                alone.append(new / median)
        print(
            f"| {name} | {n / 1e6:.2f} | {params.k} | {params.init} | {params.attempts} | "
            f"{crit} | {'yes' if is_full(params) else 'no'} | {old:.2f} | {new:.2f} | "
            f"{median:.3f} | {min(times[i]):.3f}-{max(times[i]):.3f} | "
            f"{statistics.median(cpus[i]) / median:.2f} | {old / median:.2f} | "
            f"{new / median:.2f} |"
        )
    print()
    if ratios:
        for label, values in (("old", old_ratios), ("current", ratios)):
            print(
                f"Full runs, {label} estimate / measured: median {statistics.median(values):.2f}, "
                f"range {min(values):.2f}-{max(values):.2f}; within +/-20 %: "
                f"{sum(0.8 <= v <= 1.2 for v in values)} of {len(values)}."
            )
    if alone:
        print(
            f"Full runs with the cores nearly to themselves (CPU / wall >= 1.5), current "
            f"estimate / measured: median {statistics.median(alone):.2f}, range "
            f"{min(alone):.2f}-{max(alone):.2f}; within +/-20 %: "
            f"{sum(0.8 <= v <= 1.2 for v in alone)} of {len(alone)}."
        )
    if len([r for r in rows if is_full(r[1])]) >= 4:
        names = ("NS_PER_PIXEL", "NS_PER_PASS", "NS_PER_DISTANCE", "NS_PER_SEED")
        constants = fit(rows)
        print("Fitted (least squares on relative error, full runs): " + ", ".join(
            f"OPENCV_{n} = {c:.2f}" for n, c in zip(names, constants, strict=True)
        ) + ".")  # fmt: skip
        current = (
            sidebar.OPENCV_NS_PER_PIXEL,
            sidebar.OPENCV_NS_PER_PASS,
            sidebar.OPENCV_NS_PER_DISTANCE,
            sidebar.OPENCV_NS_PER_SEED,
        )
        print("In sidebar.py now: " + ", ".join(f"{c:g}" for c in current) + ".")


if __name__ == "__main__":
    main()
