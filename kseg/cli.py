"""The command line: ``kseg segment``, ``palette``, ``isolate``, ``superpixels``, ``elbow``
(``python -m kseg``).

Exit status: 0 when every file was done, 1 when any file failed (the others are
still done) or the Dask scheduler cannot be reached, 2 for bad usage.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from kseg import (
    INITS,
    MAX_K,
    SUPPORTED_FORMATS,
    ColorHistogram,
    ImageError,
    Segmentation,
    _batch,
    _jit,
    _memory,
    _runners,
    elbow,
    export,
    load_image,
    pick_regions,
    region_figures,
    suggest_k,
    superpixels,
)
from kseg._cli_parser import UsageError as _UsageError
from kseg._cli_parser import build_parser, settings_from
from kseg._runners import Progress as _Progress

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    _memory.use_small_pages()
    _jit.defer()  # compile numba's kernels after the first photo, not beside it
    parser = build_parser(_RUNNERS)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if getattr(args, "params", None) is not None:
            # The file's settings become the defaults: options given on the line win.
            args.command_parser.set_defaults(**settings_from(args.params, args.setting_actions))
            args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage and 0 on --help
        return int(exit_.code or 0)
    except _UsageError as err:
        return _usage_error(args, str(err))
    try:
        return args.run(args)
    except _UsageError as err:
        return _usage_error(args, str(err))
    except _runners.SchedulerError as err:
        if err.usage:
            return _usage_error(args, str(err))
        print(f"kseg: {err}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        _jit.release()


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


def _options(args, init) -> dict[str, object]:
    """The segmentation settings of ``args`` as plain values (they travel to workers)."""
    names = ("k", "attempts", "max_iter", "eps", "criteria", "color_space", "seed", "engine")
    names += ("max_side", "regions", "region_compactness", "region_max_iter")
    names += ("region_color_space", "min_region")
    return {"init": init, **{name: getattr(args, name) for name in names}}


def _segmentation(args, image, init) -> tuple[Segmentation, tuple[str, ...]]:
    """``segment`` of ``image`` with the command's settings, and its notes."""
    return _batch.segmentation(_options(args, init), image)


def _run_segment(args) -> int:
    init = _checked_init(args)
    summary = _open_summary(args)
    outdir = args.outdir
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"kseg: cannot create the output folder {outdir}: {err.strerror}.", file=sys.stderr)
        return EXIT_FAILED
    options = _options(args, init)
    inputs = _inputs(args.images)
    taken: set[str] = set()
    jobs: list[_batch.Job | dict] = []
    for path, problem in inputs:
        if problem is not None:
            jobs.append(_batch.failed_row(str(path), problem, 0.0))
            continue
        job = _batch.Job(
            path=str(path),
            source=str(path.absolute()),
            stem=_unique_stem(path, taken),
            outdir=str(outdir.absolute()),
            options=options,
            labels=args.labels,
            palette=args.palette,
        )
        if args.skip_existing and all((outdir / name).exists() for name in job.outputs()):
            jobs.append(_batch.skipped_row(job.path))
        else:
            jobs.append(job)
    with summary:
        rows = _run_jobs(args, _batch.segment_file, jobs, summary)
    return _exit_status(args, rows)


def _run_palette(args) -> int:
    """One palette for every image: their histograms summed, then k-means once."""
    if args.regions:
        raise _UsageError(
            "--regions: a collection palette clusters colours, not the regions of one image."
        )
    if args.min_region:
        raise _UsageError(
            "--min-region: it merges regions of one image's pixels, and a collection palette "
            "has none; leave it out (it does not change the colours)."
        )
    if args.engine != "histogram":
        raise _UsageError("--engine: a collection palette needs the histogram engine.")
    init = _checked_init(args)
    output = args.output
    summary = _open_summary(args)
    if args.skip_existing and output.exists():
        if not args.quiet:
            print(f"kseg: {output}: skipped, it exists already.", file=sys.stderr)
        with summary:
            summary.write(_batch.skipped_row(str(output)))
        return EXIT_OK
    options = _options(args, init)
    jobs: list[_batch.Job | dict] = []
    for path, problem in _inputs(args.images):
        if problem is not None:
            jobs.append(_batch.failed_row(str(path), problem, 0.0))
        else:
            jobs.append(_batch.Job(str(path), str(path.absolute()), path.stem, "", options))
    with summary:
        text, rows = _runners.run_palette(args, jobs, options, str(output), _printer(args, summary))
        if text is not None:
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                _batch.write_files(output.parent, {output.name: text.encode()})
            except OSError as err:
                rows[-1] = _batch.failed_row(str(output), _reason(err), 0.0)
                print(f"kseg: {output}: {_reason(err)}", file=sys.stderr)
        if not args.quiet:
            for note in rows[-1].get("notes", ()):
                print(f"kseg: {output}: {note}", file=sys.stderr)
        summary.write(rows[-1])
    status = _exit_status(args, rows[:-1])
    return EXIT_FAILED if rows[-1]["status"] == "failed" else status


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


def _inputs(paths: list[Path]) -> list[tuple[Path, str | None]]:
    """Each image to do, with None, or a path that gives none with the reason.

    A folder stands for the image files directly inside it, by name; a folder with
    none is one failure. Other paths are left for the decoder (and, on a cluster,
    for the workers, which may see files this machine does not).
    """
    found: list[tuple[Path, str | None]] = []
    for path in paths:
        if not path.is_dir():
            found.append((path, None))
            continue
        try:
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        except OSError as err:
            found.append((path, _reason(err)))
            continue
        inside = [p for p in inside if p.is_file()]
        if not inside:
            found.append(
                (path, f"a folder with no images in it ({', '.join(SUPPORTED_FORMATS)} files).")
            )
        found.extend((p, None) for p in inside)
    return found


_IMAGE_SUFFIXES = frozenset(
    (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif")
)


def _run_jobs(args, task, jobs, summary) -> list[dict]:
    """Run ``task`` on every Job (rows already made pass through); the rows in input order."""
    return _runners.run(args, task, jobs, _printer(args, summary))


def _printer(args, summary):
    """What to do with each file's row, in input order: its lines, then its summary row."""

    def emit(row: dict) -> None:
        if row["status"] == "failed":
            _runners.message(f"kseg: {row['file']}: {row['error']}")
        elif row["status"] == "skipped":
            if not args.quiet:
                _runners.message(f"kseg: {row['file']}: skipped, its outputs exist already.")
        elif not args.quiet:
            for note in row.get("notes", ()):
                _runners.message(f"kseg: {row['file']}: {note}")
        summary.write(row)

    return emit


def _exit_status(args, rows: list[dict]) -> int:
    failed = sum(row["status"] == "failed" for row in rows)
    if failed:
        print(f"kseg: {failed} of {len(rows)} files failed.", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _open_summary(args) -> _runners.Summary:
    """The ``--summary`` writer (one that writes nothing without it); _UsageError if bad."""
    path = args.summary
    if path is not None and path.suffix.lower() not in (".csv", ".jsonl"):
        raise _UsageError("--summary: the file's name must end in .csv or .jsonl.")
    try:
        return _runners.Summary(path)
    except OSError as err:
        raise _UsageError(f"--summary: cannot write {path}: {_reason(err)}") from None


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


def _unique_stem(path: Path, taken: set[str]) -> str:
    """Output name from the input's stem; a.jpg and a.png in one run become a, a-2."""
    stem = re.sub(r"[^\w.-]+", "_", path.stem) or "image"
    candidate, n = stem, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate)
    return candidate


_RUNNERS = {
    "segment": _run_segment,
    "palette": _run_palette,
    "isolate": _run_isolate,
    "superpixels": _run_superpixels,
    "elbow": _run_elbow,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
