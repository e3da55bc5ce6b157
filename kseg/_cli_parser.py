"""The command line's parser: every subcommand, its options and their value types.

Built by :func:`kseg.cli.main`, which hands it the function that runs each command.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from kseg import (
    COLOR_SPACES,
    CRITERIA,
    ENGINES,
    INITS,
    MAX_K,
    export,
)

__all__ = ["UsageError", "build_parser", "settings_from"]


class UsageError(Exception):
    """A usage problem found after parsing (exit 2), e.g. in a --params file."""


def build_parser(runners: dict) -> argparse.ArgumentParser:
    """The ``kseg`` parser; ``runners`` maps each command to the function that runs it."""
    parser = argparse.ArgumentParser(
        prog="kseg", description="Fast, exact k-means colour segmentation of photos."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    settings, setting_actions = _segment_settings()
    batch = _batch_options()

    seg = sub.add_parser(
        "segment",
        parents=[settings, batch],
        help="segment images into k colours",
        description="Write each image's segmented PNG (and optionally labels and palette). "
        "A folder stands for the images directly inside it.",
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
    seg.set_defaults(run=runners["segment"], command_parser=seg, setting_actions=setting_actions)

    pal = sub.add_parser(
        "palette",
        parents=[settings, batch],
        help="one palette for a whole set of images",
        description="Write one palette JSON for all the images together: the same as "
        "segmenting a single image holding all their pixels (same seed and options). "
        "Apply it with: kseg segment IMAGES --init PALETTE.json --max-iter 0. "
        "A folder stands for the images directly inside it.",
    )
    pal.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    pal.add_argument("-o", "--output", type=Path, required=True, metavar="PALETTE.json")
    pal.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pal.set_defaults(run=runners["palette"], command_parser=pal, setting_actions=setting_actions)

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
    iso.set_defaults(run=runners["isolate"], command_parser=iso, setting_actions=setting_actions)

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
    spx.set_defaults(run=runners["superpixels"], command_parser=spx)

    elb = sub.add_parser(
        "elbow", help="compactness for each k", description="Print compactness per k."
    )
    elb.add_argument("image", type=Path, metavar="IMAGE")
    elb.add_argument("--ks", type=_k_range, default=range(2, 13), help="range of k (default 2-12)")
    elb.add_argument("--attempts", type=_positive_int, default=3)
    elb.add_argument("--color-space", choices=COLOR_SPACES, default="rgb")
    elb.add_argument("--seed", type=_non_negative_int, default=0)
    elb.set_defaults(run=runners["elbow"], command_parser=elb)
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


def _batch_options() -> argparse.ArgumentParser:
    """How ``segment`` and ``palette`` run their files: processes, a cluster, a summary."""
    options = argparse.ArgumentParser(add_help=False)
    add = options.add_argument
    add(
        "-j",
        "--jobs",
        type=_positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="files at once: this process and N - 1 worker processes (default: the number "
        f"of cores, {os.cpu_count() or 1} here); 1 runs them one after another",
    )
    add(
        "--summary",
        type=Path,
        metavar="FILE.csv|FILE.jsonl",
        help="also write one row per image: file, status (done, skipped or failed), width, "
        "height, k, compactness, palette hex colours and shares, seconds, error",
    )
    add(
        "--skip-existing",
        action="store_true",
        help="skip the images whose output files all exist already (resumes a batch)",
    )
    add(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run each file as a task on this Dask cluster (pip install 'kseg[dask]'); the "
        "workers open the images and write the outputs by path, so those paths must be "
        "visible to them under the same names",
    )
    return options


def settings_from(path: Path, actions: dict[str, argparse.Action]) -> dict[str, object]:
    """A run parameters file's settings as option defaults, checked as the options are."""
    try:
        params = export.load_params(path)
    except ValueError as err:
        raise UsageError(f"--params: {err}") from None
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
                raise UsageError(f"--params: the file's {name} is not one of {', '.join(choices)}.")
            settings[action.dest] = value
        else:
            try:
                settings[action.dest] = action.type(str(value))
            except argparse.ArgumentTypeError as err:
                raise UsageError(f"--params: the file's {name}: {err}.") from None
    return settings


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
