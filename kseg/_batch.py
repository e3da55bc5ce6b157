"""One file's work for ``kseg segment`` and ``kseg palette``, wherever it runs.

The command line runs these functions in its own process (``--jobs 1``), in a pool of
processes on this machine (``--jobs N``) or as tasks on a Dask cluster
(``--scheduler``): the same function gives the same bytes in each place. Everything a
task needs travels with it as plain values (a :class:`Job`), every answer comes back as
plain values (a row for the summary, and for ``palette`` a sparse histogram: sorted
uint32 colour keys and int64 counts, never a 2^24 table).

A file that cannot be read or segmented is an answer too (a row with its error), so one
bad photo never stops a batch.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kseg import _cores, _jit, _memory, export
from kseg._errors import ImageError
from kseg._histogram import ColorHistogram, add_counts
from kseg._io import load_image
from kseg._segment import segment, shrink
from kseg._superpixels import superpixels

__all__ = [
    "FileHistogram",
    "Job",
    "add_histograms",
    "collection_palette",
    "file_histogram",
    "init_worker",
    "row_of",
    "segment_file",
    "segmentation",
]

# Summary columns, in order (``--summary``).
COLUMNS = (
    "file",
    "status",
    "width",
    "height",
    "k",
    "compactness",
    "palette",
    "shares",
    "seconds",
    "error",
)


@dataclass(frozen=True)
class Job:
    """One input file and everything its task needs.

    ``path`` is the file as the user named it (for messages and the summary);
    ``source`` the path a worker opens (absolute: on a cluster it must be visible to
    the workers under that name, as must ``outdir``).
    """

    path: str
    source: str
    stem: str
    outdir: str
    options: dict[str, Any]
    labels: bool = False
    palette: bool = False

    def outputs(self) -> list[str]:
        """The names of the files this job writes into ``outdir``."""
        names = [f"{self.stem}.segmented.png"]
        if self.labels:
            names.append(f"{self.stem}.labels.png")
        if self.palette:
            names.append(f"{self.stem}.palette.json")
        return names


@dataclass(frozen=True)
class FileHistogram:
    """One file's sparse histogram (empty when it failed) and its summary row."""

    row: dict[str, Any]
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint32))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def init_worker(threads: int | None = None) -> None:
    """Set up a worker process of the local pool.

    Small pages as the command line has them; the numba warm-up is held back for
    good, because the command line's own process starts it (once, not once per
    worker) after the first photo; the workers switch to the compiled kernels as
    soon as the warm-up's markers appear. ``threads``: the cores this worker's
    threads may use (its share, so N workers do not each start a thread per core).
    """
    _memory.use_small_pages()
    _jit.defer()
    if threads is not None:
        _cores.limit(threads)


def ping() -> bool:
    """Nothing: a first task that has the local pool start its workers."""
    return True


def _on_cluster_worker() -> None:
    """Set up a Dask worker's process on its first kseg task (later calls do nothing)."""
    global _cluster_ready
    if not _cluster_ready:
        _cluster_ready = True
        _memory.use_small_pages()
        _jit.defer()  # released after this first task: it compiles beside later ones


_cluster_ready = False


def segmentation(options: dict[str, Any], image) -> tuple[Any, tuple[str, ...]]:
    """``segment`` of ``image`` with the command's settings, and its notes."""
    # The same pixels as the page's Superpixels tab at its working size.
    max_side = options.get("max_side")
    image = shrink(image, max_side) if max_side else image
    regions = None
    if options.get("regions"):
        regions = superpixels(
            image,
            options["regions"],
            compactness=options["region_compactness"],
            max_iter=options["region_max_iter"],
            color_space=options["region_color_space"],
        )
    seg = segment(
        image,
        options["k"],
        init=options["init"],
        attempts=options["attempts"],
        max_iter=options["max_iter"],
        eps=options["eps"],
        criteria=options["criteria"],
        color_space=options["color_space"],
        seed=options["seed"],
        engine=options["engine"],
        regions=regions,
        max_side=max_side,
        min_region=options.get("min_region", 0),
    )
    return seg, (*(regions.warnings if regions else ()), *seg.warnings)


def segment_file(job: Job, *, on_cluster: bool = False) -> dict[str, Any]:
    """Segment one file and write its outputs; its summary row (with ``notes``)."""
    if on_cluster:
        _on_cluster_worker()
    start = time.perf_counter()
    try:
        loaded = load_image(job.source)
        seg, notes = segmentation(job.options, loaded)
        files = {f"{job.stem}.segmented.png": export.segmented_png(seg)}
        if job.labels:
            files[f"{job.stem}.labels.png"] = export.label_map_png(seg)
        if job.palette:
            files[f"{job.stem}.palette.json"] = export.palette_json(seg).encode()
        write_files(Path(job.outdir), files)
    except (ImageError, OSError) as err:
        return failed_row(job.path, _reason_for(job, err), time.perf_counter() - start)
    finally:
        if on_cluster:
            _jit.release()
    height, width = seg.shape
    row = _row(job.path, "done", width, height, time.perf_counter() - start)
    row.update(_palette_fields(seg))
    row["notes"] = (*loaded.notes, *notes)
    return row


def file_histogram(job: Job, *, on_cluster: bool = False) -> FileHistogram:
    """One file's colours and counts (after ``max_side``), as sent to the reduction."""
    if on_cluster:
        _on_cluster_worker()
    start = time.perf_counter()
    try:
        loaded = load_image(job.source)
        max_side = job.options.get("max_side")
        hist = shrink(loaded, max_side) if max_side else ColorHistogram.from_image(loaded)
    except (ImageError, OSError) as err:
        return FileHistogram(
            failed_row(job.path, _reason_for(job, err), time.perf_counter() - start)
        )
    except Exception as err:  # noqa: BLE001 - reported as this file's error, the others go on
        return FileHistogram(failed_row(job.path, unexpected(err), time.perf_counter() - start))
    finally:
        if on_cluster:
            _jit.release()
    height, width = hist.shape
    row = _row(job.path, "done", width, height, time.perf_counter() - start)
    row["notes"] = tuple(loaded.notes)
    return FileHistogram(row, hist.keys.astype(np.uint32), hist.counts.astype(np.int64))


def row_of(part: FileHistogram) -> dict[str, Any]:
    """A file's summary row without its histogram (what the command line fetches)."""
    return part.row


def add_histograms(*parts) -> tuple[np.ndarray, np.ndarray]:
    """The sum of :class:`FileHistogram` s and (keys, counts) pairs: one step of the reduction."""
    pairs = [(p.keys, p.counts) if isinstance(p, FileHistogram) else p for p in parts]
    return add_counts(pairs)


def collection_palette(total, options: dict[str, Any], name: str) -> tuple[str | None, dict]:
    """The palette JSON of the summed histogram ``total`` and its summary row.

    ``options`` are the command's settings (no regions, min_region or max_side:
    those act on each photo's pixels, before the sum); ``name`` is the palette
    file's name, for its row. With no colour at all, no palette and a failed row.
    """
    start = time.perf_counter()
    keys, counts = add_histograms(total)
    if keys.size == 0:
        return None, failed_row(name, "no photo could be read, so there is no palette.", 0.0)
    hist = ColorHistogram.from_counts(keys, counts)
    seg, notes = segmentation({**options, "max_side": None, "regions": None}, hist)
    row = _row(name, "done", "", "", time.perf_counter() - start)
    row.update(_palette_fields(seg))
    row["notes"] = notes
    return export.palette_json(seg), row


def write_files(outdir: Path, files: dict[str, bytes]) -> None:
    """Write every file whole or not at all.

    Each goes to a temporary name first and is renamed into place, so an interrupted
    batch never leaves a half-written output that ``--skip-existing`` would take for
    a finished one.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    partial: dict[Path, Path] = {}
    try:
        for name, data in files.items():
            temporary = outdir / f".{name}.{os.getpid()}.partial"
            temporary.write_bytes(data)
            partial[temporary] = outdir / name
        for temporary, final in partial.items():
            os.replace(temporary, final)
    finally:
        for temporary in partial:
            temporary.unlink(missing_ok=True)


def failed_row(path: str, error: str, seconds: float) -> dict[str, Any]:
    row = _row(path, "failed", "", "", seconds)
    row["error"] = error
    return row


def skipped_row(path: str) -> dict[str, Any]:
    row = _row(path, "skipped", "", "", 0.0)
    row["error"] = ""
    return row


def reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def _reason_for(job: Job, err: Exception) -> str:
    """The reason, naming the file as the user did (the task opened its absolute path)."""
    return reason(err).replace(job.source, job.path)


def unexpected(err: BaseException) -> str:
    return f"unexpected {type(err).__name__}: {err} (please report this file)"


def _row(path: str, status: str, width, height, seconds: float) -> dict[str, Any]:
    return {
        "file": path,
        "status": status,
        "width": width,
        "height": height,
        "k": "",
        "compactness": "",
        "palette": [],
        "shares": [],
        "seconds": round(seconds, 3),
        "error": "",
        "notes": (),
    }


def _palette_fields(seg) -> dict[str, Any]:
    entries = seg.palette()
    return {
        "k": seg.k,
        "compactness": seg.compactness,
        "palette": [e.hex for e in entries],
        "shares": [round(e.share, 6) for e in entries],
    }
