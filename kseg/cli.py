"""The command line: ``kseg segment``, ``isolate``, ``superpixels``, ``elbow`` (``python -m kseg``).

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
    INITS,
    MAX_K,
    ColorHistogram,
    ImageError,
    Segmentation,
    _jit,
    _memory,
    elbow,
    export,
    load_image,
    pick_regions,
    region_figures,
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
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if getattr(args, "params", None) is not None:
            # The file's settings become the defaults: options given on the line win.
            args.command_parser.set_defaults(**_settings_from(args.params, args.setting_actions))
            args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage and 0 on --help
        return int(exit_.code or 0)
    except _UsageError as err:
        return _usage_error(args, str(err))
    try:
        return args.run(args)
    except _UsageError as err:
        return _usage_error(args, str(err))
    finally:
        _jit.release()


class _UsageError(Exception):
    """A request that cannot be run as given: exit status 2 with the command's usage."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kseg", description="Fast, exact k-means colour segmentation of photos."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    settings, setting_actions = _segment_settings()

    seg = sub.add_parser(
        "segment",
        parents=[settings],
        help="segment images into k colours",
        description="Write each image's segmented PNG (and optionally labels and palette).",
    )
    seg.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
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
    seg.set_defaults(run=_run_segment, command_parser=seg, setting_actions=setting_actions)

    iso = sub.add_parser(
        "isolate",
        parents=[settings],
        help="cut out the objects under given points",
        description="Segment the image, take the connected region of the colour cluster "
        "under each point, and write NAME.mask.png (full resolution, 255 inside), "
        "NAME.cutout.png (the photo inside, transparent elsewhere) and NAME.regions.json "
        "(each region's figures).",
    )
    iso.add_argument("image", type=Path, metavar="IMAGE")
    iso.add_argument(
        "--at",
        type=_point,
        action="append",
        required=True,
        metavar="X,Y",
        help="a point on the object: x is the column and y the row, in pixels from the top "
        "left of the image as segmented (after --max-side); repeat to add regions; a point "
        "inside a region picked before drops that region again",
    )
    iso.add_argument(
        "--no-fill-holes",
        dest="fill_holes",
        action="store_false",
        help="keep the holes inside each region (by default they are filled)",
    )
    iso.add_argument(
        "--connectivity",
        type=_connectivity,
        default=8,
        metavar="4|8",
        help="pixels of a region touch by an edge (4) or also by a corner (8, the default)",
    )
    iso.add_argument(
        "--full-size",
        action="store_true",
        help="the cut-out at the image's full size, not cropped to the regions' bounding box",
    )
    iso.add_argument("-o", "--outdir", type=Path, required=True, metavar="OUTDIR")
    iso.add_argument("-q", "--quiet", action="store_true", help="no notes")
    iso.set_defaults(run=_run_isolate, command_parser=iso, setting_actions=setting_actions)

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
    spx.set_defaults(run=_run_superpixels, command_parser=spx)

    elb = sub.add_parser(
        "elbow", help="compactness for each k", description="Print compactness per k."
    )
    elb.add_argument("image", type=Path, metavar="IMAGE")
    elb.add_argument("--ks", type=_k_range, default=range(2, 13), help="range of k (default 2-12)")
    elb.add_argument("--attempts", type=_positive_int, default=3)
    elb.add_argument("--color-space", choices=COLOR_SPACES, default="rgb")
    elb.add_argument("--seed", type=_non_negative_int, default=0)
    elb.set_defaults(run=_run_elbow, command_parser=elb)
    return parser


def _segment_settings() -> tuple[argparse.ArgumentParser, dict[str, argparse.Action]]:
    """The options that set a segmentation, shared by ``segment`` and ``isolate``.

    Also each option by the name a Segmentation's ``params`` gives it, for ``--params``.
    """
    options = argparse.ArgumentParser(add_help=False)
    add = options.add_argument
    actions = {
        "k": add("-k", type=_k_value, default=4, help="number of colour clusters (default 4)"),
        "init": add(
            "--init",
            default="k-means++",
            metavar="k-means++|random|FILE.json",
            help="how clusters start (default k-means++), or a JSON file: the page's run "
            "parameters (the same starting colours) or a palette from --palette",
        ),
        "attempts": add("--attempts", type=_positive_int, default=10),
        "max_iter": add("--max-iter", type=_non_negative_int, default=20),
        "eps": add("--eps", type=_non_negative_float, default=0.1),
        "criteria": add("--criteria", choices=CRITERIA, default="eps+max_iter"),
        "color_space": add("--color-space", choices=COLOR_SPACES, default="rgb"),
        "seed": add("--seed", type=_non_negative_int, default=0),
        "engine": add("--engine", choices=ENGINES, default="histogram"),
        "max_side": add(
            "--max-side",
            type=_positive_int,
            metavar="PX",
            help="first scale each image down so its longer side is at most PX pixels "
            "(as the page's Superpixels tab does)",
        ),
        "regions": add(
            "--regions",
            type=_positive_int,
            metavar="N",
            help="regions then colours: cluster the mean colours of about N SLIC superpixels",
        ),
        "region_compactness": add(
            "--region-compactness",
            type=_positive_float,
            default=10.0,
            metavar="C",
            help="with --regions: SLIC's compactness; higher gives squarer regions (default 10)",
        ),
        "region_max_iter": add(
            "--region-max-iter",
            type=_positive_int,
            default=10,
            metavar="N",
            help="with --regions: SLIC's iterations (default 10)",
        ),
        "region_color_space": add(
            "--region-color-space",
            choices=("lab", "rgb"),
            default="lab",
            help="with --regions: SLIC's colour space (default lab)",
        ),
        "min_region": add(
            "--min-region",
            type=_non_negative_int,
            default=0,
            metavar="PX",
            help="after clustering, every connected region smaller than PX pixels joins the "
            "neighbouring cluster it shares the longest border with (default 0: none)",
        ),
    }
    add(
        "--params",
        type=Path,
        metavar="FILE.json",
        help="every setting from the page's run parameters file; options given here win",
    )
    return options, actions


def _settings_from(path: Path, actions: dict[str, argparse.Action]) -> dict[str, object]:
    """A run parameters file's settings as option defaults, checked as the options are."""
    try:
        params = export.load_params(path)
    except ValueError as err:
        raise _UsageError(f"--params: {err}") from None
    settings: dict[str, object] = {}
    for name, action in actions.items():
        value = params.get(name)
        if value is None:
            continue
        if name == "init" and not isinstance(value, str):
            settings["init"] = str(path)  # given centres: --init reads them from this file
        elif action.choices is not None or name == "init":
            choices = INITS if name == "init" else action.choices
            if value not in choices:
                raise _UsageError(
                    f"--params: the file's {name} is not one of {', '.join(choices)}."
                )
            settings[action.dest] = value
        else:
            try:
                settings[action.dest] = action.type(str(value))
            except argparse.ArgumentTypeError as err:
                raise _UsageError(f"--params: the file's {name}: {err}.") from None
    return settings


def _usage_error(args, message: str) -> int:
    args.command_parser.print_usage(sys.stderr)
    print(f"kseg {args.command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _checked_init(args):
    """The start ``segment`` gets from ``--init``; raises _UsageError for a bad request."""
    if args.regions and args.engine != "histogram":
        raise _UsageError("--regions: regions work with the histogram engine only.")
    init = args.init
    if init in INITS:
        return init
    try:
        init = export.load_init(Path(init), args.color_space)
    except ValueError as err:
        raise _UsageError(f"--init: {err}") from None
    if len(init) > MAX_K:
        raise _UsageError(f"--init: the file holds more than {MAX_K} centres.")
    if args.k != len(init):
        print(f"kseg: using k={len(init)} from the --init file.", file=sys.stderr)
    args.k = len(init)
    return init


def _segmentation(args, image, init) -> tuple[Segmentation, tuple[str, ...]]:
    """``segment`` of ``image`` with the command's settings, and its notes."""
    # The same pixels as the page's Superpixels tab at its working size.
    image = shrink(image, args.max_side) if args.max_side else image
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
        min_region=args.min_region,
    )
    return seg, (*(regions.warnings if regions else ()), *seg.warnings)


def _run_segment(args) -> int:
    init = _checked_init(args)

    def write(path: Path, stem: str) -> tuple[str, ...]:
        loaded = load_image(path)
        seg, notes = _segmentation(args, loaded, init)
        (args.outdir / f"{stem}.segmented.png").write_bytes(export.segmented_png(seg))
        if args.labels:
            (args.outdir / f"{stem}.labels.png").write_bytes(export.label_map_png(seg))
        if args.palette:
            (args.outdir / f"{stem}.palette.json").write_text(
                export.palette_json(seg), encoding="utf-8"
            )
        return (*loaded.notes, *notes)

    return _for_each_file(args, write)


def _run_isolate(args) -> int:
    """One image: its picked regions' mask, cut-out and figures, or one line and no file."""
    init = _checked_init(args)
    stem = _unique_stem(args.image, set())
    try:
        loaded = load_image(args.image)
        seg, notes = _segmentation(args, loaded, init)
        try:
            picked = pick_regions(
                seg, args.at, fill_holes=args.fill_holes, connectivity=args.connectivity
            )
        except ValueError as err:  # a point outside the image or on a transparent pixel
            return _failed(args.image, str(err))
        if not picked:
            return _failed(
                args.image,
                "The points pick no region: a point inside a region picked before drops "
                "that region again.",
            )
        mask = np.logical_or.reduce([region.mask for region in picked])
        figures = [region_figures(seg, region.mask) for region in picked]
        points = [region.point for region in picked]
        files = {
            f"{stem}.mask.png": export.mask_png(mask),
            f"{stem}.cutout.png": export.cutout_png(seg, mask, crop=not args.full_size),
            f"{stem}.regions.json": export.regions_json(figures, points, seg.params).encode(),
        }
        _write_all(args.outdir, files)
    except (ImageError, OSError) as err:
        return _failed(args.image, _reason(err))
    if not args.quiet:
        for note in (*loaded.notes, *notes):
            print(f"kseg: {args.image}: {note}", file=sys.stderr)
    return EXIT_OK


def _failed(path: Path, reason: str) -> int:
    print(f"kseg: {path}: {reason}", file=sys.stderr)
    return EXIT_FAILED


def _reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def _write_all(outdir: Path, files: dict[str, bytes]) -> None:
    """Write every file, or (on an error) none: the ones already written are removed."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(
            err.errno, f"cannot create the output folder {outdir}: {err.strerror or err}."
        ) from None
    written: list[Path] = []
    try:
        for name, data in files.items():
            path = outdir / name
            path.write_bytes(data)
            written.append(path)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _run_superpixels(args) -> int:
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
            progress.message(f"kseg: {path}: {_reason(err)}")
        progress.advance()
        _jit.release()  # the next photos (and the next runs) get the compiled kernels
    progress.close()
    if failed:
        print(f"kseg: {failed} of {len(args.images)} files failed.", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _run_elbow(args) -> int:
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


def _point(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(-?\d{1,9})\s*,\s*(-?\d{1,9})\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(
            "expected X,Y: two whole numbers, the column and the row, e.g. 120,80"
        )
    return int(match[1]), int(match[2])


def _connectivity(text: str) -> int:
    if text.strip() not in ("4", "8"):
        raise argparse.ArgumentTypeError("expected 4 or 8")
    return int(text)


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
