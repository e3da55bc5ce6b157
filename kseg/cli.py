"""The command line: ``kseg segment``, ``kseg superpixels``, ``kseg elbow`` (``python -m kseg``).

Exit status: 0 when every file was done, 1 when any file failed (the others are
still done), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from kseg import (
    COLOR_SPACES,
    CRITERIA,
    ENGINES,
    MAX_K,
    ColorHistogram,
    ImageError,
    _jit,
    _memory,
    elbow,
    export,
    load_image,
    segment,
    shrink,
    suggest_k,
    superpixels,
)

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    _memory.use_small_pages()
    _jit.defer()  # compile numba's kernels after the first photo, not beside it
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage and 0 on --help
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args, parser)
    finally:
        _jit.release()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kseg", description="Fast, exact k-means colour segmentation of photos."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    seg = sub.add_parser(
        "segment",
        help="segment images into k colours",
        description="Write each image's segmented PNG (and optionally labels and palette).",
    )
    seg.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    seg.add_argument("-k", type=_k_value, default=4, help="number of colour clusters (default 4)")
    seg.add_argument(
        "--init",
        default="k-means++",
        metavar="k-means++|random|FILE.json",
        help="how clusters start (default k-means++), or a JSON file: the page's run "
        "parameters (the same starting colours) or a palette from --palette",
    )
    seg.add_argument("--attempts", type=_positive_int, default=10)
    seg.add_argument("--max-iter", type=_non_negative_int, default=20)
    seg.add_argument("--eps", type=_non_negative_float, default=0.1)
    seg.add_argument("--criteria", choices=CRITERIA, default="eps+max_iter")
    seg.add_argument("--color-space", choices=COLOR_SPACES, default="rgb")
    seg.add_argument("--seed", type=_non_negative_int, default=0)
    seg.add_argument("--engine", choices=ENGINES, default="histogram")
    seg.add_argument(
        "--max-side",
        type=_positive_int,
        metavar="PX",
        help="first scale each image down so its longer side is at most PX pixels "
        "(as the page's Superpixels tab does)",
    )
    seg.add_argument(
        "--regions",
        type=_positive_int,
        metavar="N",
        help="regions then colours: cluster the mean colours of about N SLIC superpixels",
    )
    seg.add_argument(
        "--region-compactness",
        type=_positive_float,
        default=10.0,
        metavar="C",
        help="with --regions: SLIC's compactness; higher gives squarer regions (default 10)",
    )
    seg.add_argument(
        "--region-max-iter",
        type=_positive_int,
        default=10,
        metavar="N",
        help="with --regions: SLIC's iterations (default 10)",
    )
    seg.add_argument(
        "--region-color-space",
        choices=("lab", "rgb"),
        default="lab",
        help="with --regions: SLIC's colour space (default lab)",
    )
    seg.add_argument(
        "--labels",
        action="store_true",
        help="also write a label map PNG: pixel values are cluster numbers 1..k, 0 for "
        "transparent; it shows as the segmented image",
    )
    seg.add_argument(
        "--palette", action="store_true", help="also write a palette JSON (clusters 1..k)"
    )
    seg.add_argument("-o", "--outdir", type=Path, required=True, metavar="OUTDIR")
    seg.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(run=_run_segment)

    spx = sub.add_parser(
        "superpixels",
        help="split images into SLIC superpixels",
        description="Write each image's superpixels as a mean-colour PNG (and boundaries).",
    )
    spx.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    spx.add_argument("-n", "--n-segments", type=_positive_int, default=400, metavar="N")
    spx.add_argument("--compactness", type=_positive_float, default=10.0)
    spx.add_argument("--max-iter", type=_positive_int, default=10)
    spx.add_argument("--color-space", choices=("lab", "rgb"), default="lab")
    spx.add_argument(
        "--boundaries", action="store_true", help="also write the boundaries over the original"
    )
    spx.add_argument("--labels", action="store_true", help="also write a 16-bit label map PNG")
    spx.add_argument("-o", "--outdir", type=Path, required=True, metavar="OUTDIR")
    spx.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    spx.set_defaults(run=_run_superpixels)

    elb = sub.add_parser(
        "elbow", help="compactness for each k", description="Print compactness per k."
    )
    elb.add_argument("image", type=Path, metavar="IMAGE")
    elb.add_argument("--ks", type=_k_range, default=range(2, 13), help="range of k (default 2-12)")
    elb.add_argument("--attempts", type=_positive_int, default=3)
    elb.add_argument("--color-space", choices=COLOR_SPACES, default="rgb")
    elb.add_argument("--seed", type=_non_negative_int, default=0)
    elb.set_defaults(run=_run_elbow)
    return parser


def _run_segment(args, parser) -> int:
    if args.regions and args.engine != "histogram":
        return _usage_error(parser, "--regions: regions work with the histogram engine only.")
    init = args.init
    if init not in ("k-means++", "random"):
        try:
            init = export.load_init(Path(init), args.color_space)
        except ValueError as err:
            return _usage_error(parser, f"--init: {err}")
        if len(init) > MAX_K:
            return _usage_error(parser, f"--init: the file holds more than {MAX_K} centres.")
        if args.k != len(init):
            print(f"kseg: using k={len(init)} from the --init file.", file=sys.stderr)
        args.k = len(init)

    def write(path: Path, stem: str) -> tuple[str, ...]:
        loaded = load_image(path)
        # The same pixels as the page's Superpixels tab at its working size.
        image = shrink(loaded, args.max_side) if args.max_side else loaded
        regions = None
        if args.regions:
            regions = superpixels(
                image,
                args.regions,
                compactness=args.region_compactness,
                max_iter=args.region_max_iter,
                color_space=args.region_color_space,
            )
        seg = segment(
            image,
            args.k,
            init=init,
            attempts=args.attempts,
            max_iter=args.max_iter,
            eps=args.eps,
            criteria=args.criteria,
            color_space=args.color_space,
            seed=args.seed,
            engine=args.engine,
            regions=regions,
            max_side=args.max_side,
        )
        (args.outdir / f"{stem}.segmented.png").write_bytes(export.segmented_png(seg))
        if args.labels:
            (args.outdir / f"{stem}.labels.png").write_bytes(export.label_map_png(seg))
        if args.palette:
            (args.outdir / f"{stem}.palette.json").write_text(
                export.palette_json(seg), encoding="utf-8"
            )
        return (*loaded.notes, *(regions.warnings if regions else ()), *seg.warnings)

    return _for_each_file(args, write)


def _usage_error(parser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"kseg segment: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run_superpixels(args, parser) -> int:
    def write(path: Path, stem: str) -> tuple[str, ...]:
        image = load_image(path)
        sp = superpixels(
            image,
            args.n_segments,
            compactness=args.compactness,
            max_iter=args.max_iter,
            color_space=args.color_space,
        )
        mean = sp.mean_color_image()
        if image.alpha is not None:
            mean = np.dstack([mean, image.alpha.astype(np.uint8) * 255])
        (args.outdir / f"{stem}.superpixels.png").write_bytes(export.encode_png(mean))
        if args.boundaries:
            (args.outdir / f"{stem}.boundaries.png").write_bytes(export.encode_png(sp.overlay()))
        if args.labels:  # 16-bit: 65535 marks transparent pixels
            (args.outdir / f"{stem}.regions.png").write_bytes(
                export.encode_png(sp.labels.astype(np.uint16))
            )
        return (*image.notes, *sp.warnings, f"{sp.n_regions} regions")

    return _for_each_file(args, write)


def _for_each_file(args, write) -> int:
    """Run ``write(path, stem)`` per input; one clear line per failure, the rest still done."""
    try:
        args.outdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(
            f"kseg: cannot create the output folder {args.outdir}: {err.strerror}.", file=sys.stderr
        )
        return EXIT_FAILED
    failed = 0
    taken: set[str] = set()
    progress = _Progress(len(args.images), enabled=not args.quiet and len(args.images) > 1)
    for path in args.images:
        stem = _unique_stem(path, taken)
        try:
            for note in write(path, stem):
                if not args.quiet:
                    progress.message(f"kseg: {path}: {note}")
        except (ImageError, OSError) as err:
            failed += 1
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            progress.message(f"kseg: {path}: {reason}")
        progress.advance()
        _jit.release()  # the next photos (and the next runs) get the compiled kernels
    progress.close()
    if failed:
        print(f"kseg: {failed} of {len(args.images)} files failed.", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _run_elbow(args, parser) -> int:
    try:
        hist = ColorHistogram.from_image(load_image(args.image))
    except (ImageError, OSError) as err:
        print(f"kseg: {args.image}: {err}", file=sys.stderr)
        return EXIT_FAILED
    ks = [k for k in args.ks if k <= MAX_K]
    curve = elbow(hist, ks, attempts=args.attempts, color_space=args.color_space, seed=args.seed)
    best = suggest_k(curve)
    print(f"{'k':>4}  {'compactness':>18}  {'vs previous':>11}")
    previous = None
    for k, value in curve.items():
        change = "" if previous is None else f"{value / previous - 1:+.1%}"
        mark = "  <- suggested" if k == best else ""
        print(f"{k:>4}  {value:>18.6g}  {change:>11}{mark}")
        previous = value
    if hist.n_colors < max(ks):
        print(f"(the image has only {hist.n_colors} distinct colours)")
    return EXIT_OK


class _Progress:
    """A one-line progress bar on stderr; messages print above it."""

    def __init__(self, total: int, *, enabled: bool):
        self.total, self.done = total, 0
        self.enabled = enabled and sys.stderr.isatty()  # no control codes in logs
        self._draw()

    def advance(self):
        self.done += 1
        self._draw()

    def message(self, text: str):
        if self.enabled:
            sys.stderr.write("\r\033[K")
        print(text, file=sys.stderr)
        self._draw()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self):
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {self.done}/{self.total}")
        sys.stderr.flush()


def _unique_stem(path: Path, taken: set[str]) -> str:
    """Output name from the input's stem; a.jpg and a.png in one run become a, a-2."""
    stem = re.sub(r"[^\w.-]+", "_", path.stem) or "image"
    candidate, n = stem, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate)
    return candidate


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _k_value(text: str) -> int:
    value = _int(text)
    if not 1 <= value <= MAX_K:
        raise argparse.ArgumentTypeError(f"k must be between 1 and {MAX_K}, got {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number, e.g. 4") from None


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number, e.g. 0.1") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a finite number >= 0")
    return value


def _k_range(text: str) -> range:
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError("expected a range like 2-12")
    lo, hi = int(match[1]), int(match[2])
    if not 1 <= lo <= hi <= MAX_K:
        raise argparse.ArgumentTypeError(f"expected 1 <= first <= last <= {MAX_K}, got {lo}-{hi}")
    return range(lo, hi + 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
