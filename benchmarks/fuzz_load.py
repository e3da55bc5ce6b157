"""Fuzz kseg.load_image for a while: mutated bytes of valid images of every format.

The longer run of tests/test_hostile_library.py::test_load_image_fuzz_quick. Each input is a
small valid image (PNG RGB/RGBA/LA/P/1-bit/16-bit, JPEG baseline/progressive/EXIF/CMYK/
gray, GIF, animated GIF, WebP lossy and lossless, BMP, TIFF raw/LZW/deflate/float/
multi-page) damaged once or twice (flipped bytes, a header field set to an extreme value,
a cut, a repeated, dropped, inserted or zeroed stretch, or another file's tail spliced
on). Every result must be an `Image` that keeps its promises or a `kseg.ImageError`;
anything else, and any load slower than 5 s, is a bug: the input is saved under
benchmarks/out/fuzz/ (ignored by git) and the run fails. One in ten loaded images is
also segmented.

    python benchmarks/fuzz_load.py                  # 5 minutes
    python benchmarks/fuzz_load.py --seconds 30 --seed 7 --only 16
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hostile_corpus import fuzz_seeds, mutate  # noqa: E402

import kseg  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "fuzz"
SLOW = 5.0


def check(image: kseg.Image) -> None:
    assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
    assert image.rgb.flags.c_contiguous and not image.rgb.flags.writeable
    assert image.alpha is None or (
        image.alpha.dtype == np.bool_ and image.alpha.shape == image.shape and not image.alpha.all()
    )
    assert image.n_pixels <= kseg.DEFAULT_MAX_PIXELS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="seed files whose name contains this")
    args = parser.parse_args(argv)
    seeds = {name: data for name, data in fuzz_seeds().items() if args.only in name}
    others = tuple(seeds.values())
    names = list(seeds)
    rng = np.random.default_rng(args.seed)
    outcome: dict[str, collections.Counter] = {name: collections.Counter() for name in names}
    failures: list[str] = []
    slowest = (0.0, "")
    started = time.perf_counter()
    i = 0
    warnings.simplefilter("ignore")  # Pillow warns about damaged EXIF and the like
    while time.perf_counter() - started < args.seconds and len(failures) < 20:
        name = names[i % len(names)]
        data = mutate(seeds[name], rng, others)
        if rng.random() < 0.3:
            data = mutate(data, rng, others)
        t = time.perf_counter()
        try:
            image = kseg.load_image(data)
            check(image)
            if i % 10 == 0:
                kseg.segment(image, 3, attempts=1)
            outcome[name]["loaded"] += 1
        except kseg.ImageError:
            outcome[name]["ImageError"] += 1
        except Exception as exc:  # the bug this script hunts
            outcome[name]["other"] += 1
            OUT.mkdir(parents=True, exist_ok=True)
            path = OUT / f"{name}-{args.seed}-{i}.bin"
            path.write_bytes(data)
            failures.append(f"{name}: {type(exc).__name__}: {exc} ({path})")
            traceback.print_exc()
        seconds = time.perf_counter() - t
        if seconds > slowest[0]:
            slowest = (seconds, name)
        if seconds > SLOW:
            OUT.mkdir(parents=True, exist_ok=True)
            path = OUT / f"slow-{name}-{args.seed}-{i}.bin"
            path.write_bytes(data)
            failures.append(f"{name}: took {seconds:.1f} s ({path})")
        i += 1
    elapsed = time.perf_counter() - started
    print(f"# load_image fuzz: {i:,} inputs in {elapsed:.0f} s (seed {args.seed})\n")
    print("| seed file | inputs | loaded | ImageError | other exception |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        counts = outcome[name]
        total = sum(counts.values())
        print(f"| {name} | {total} | {counts['loaded']} | {counts['ImageError']} | "
              f"{counts['other']} |")  # fmt: skip
    print(f"\nSlowest load: {slowest[0] * 1000:.0f} ms ({slowest[1]}).")
    for failure in failures:
        print(f"- {failure}")
    print("PASS" if not failures else "FAIL")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
