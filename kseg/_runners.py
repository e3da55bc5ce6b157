"""Where ``kseg segment`` and ``kseg palette`` run their files, and what comes back.

Here in this process (``--jobs 1``), in this process and a pool of N - 1 worker
processes (``--jobs N``) or on a Dask cluster (``--scheduler``, :mod:`kseg._dask`).
Files finish in any order; their rows are handed on in the order the files were given,
so the lines printed and the summary written are the same however the files ran.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import sys
import threading
import warnings
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from kseg import _batch, _cores, _jit

__all__ = [
    "PRELOAD",
    "Progress",
    "SchedulerError",
    "Summary",
    "message",
    "preload",
    "run",
    "run_palette",
]

# Sparse histograms summed at once in a step of the reduction.
FAN_IN = 8


class SchedulerError(Exception):
    """The Dask scheduler cannot be reached, or Dask is missing (``usage`` then)."""

    def __init__(self, text: str, *, usage: bool = False):
        super().__init__(text)
        self.usage = usage


def run(args, task, items: list, emit) -> list[dict[str, Any]]:
    """Run ``task`` (:func:`kseg._batch.segment_file`) on each Job among ``items``.

    ``items`` holds Jobs and rows already made (inputs that give nothing to run);
    ``emit(row)`` is called once per item in input order. Returns the rows.
    """
    todo = [(i, item) for i, item in enumerate(items) if isinstance(item, _batch.Job)]
    with _InOrder(args, items, emit) as rows:
        for index, row in _results(args, task, todo, _batch.failed_row):
            rows.put(index, row)
    return rows.rows


def run_palette(args, items: list, options: dict, name: str, emit):
    """The palette JSON of every Job's image together (None if none could be read),
    and the rows: one per item, then the palette's own (not emitted)."""
    todo = [(i, item) for i, item in enumerate(items) if isinstance(item, _batch.Job)]

    def failed(path, error, seconds):
        return _batch.FileHistogram(_batch.failed_row(path, error, seconds))

    with _InOrder(args, items, emit) as rows:
        if args.scheduler and todo:
            from kseg import _dask

            found, finish = _dask.palette(args.scheduler, todo, options, name)
            for index, row in found:
                rows.put(index, row)
            text, row = finish()
        else:
            total = _TreeSum()
            for index, part in _results(args, _batch.file_histogram, todo, failed):
                rows.put(index, part.row)
                total.add(part)
            text, row = _batch.collection_palette(total.result(), options, name)
    if text is None and todo:
        message(f"kseg: {name}: {row['error']}")
    return text, [*rows.rows, row]


def message(text: str) -> None:
    """Print a line on stderr, above the progress bar when there is one."""
    if _progress is not None:
        _progress.message(text)
    else:
        print(text, file=sys.stderr)


_progress: Progress | None = None


def _results(args, task, todo, failed):
    """(index, result) of each (index, Job) in ``todo``, as they finish.

    ``failed(path, error, seconds)`` makes the result of a file whose task broke
    (a worker that died, an unexpected error), so one file never stops the others.
    """
    if not todo:
        return
    if args.scheduler:
        from kseg import _dask

        yield from _dask.results(args.scheduler, task, todo, failed)
    elif args.jobs == 1 or len(todo) == 1:
        for index, job in todo:
            yield index, task(job)
            _jit.release()  # the next photos (and the next runs) get the compiled kernels
    else:
        yield from _pool_results(task, todo, min(args.jobs, len(todo)), failed)


def _pool_results(task, todo, processes: int, failed):
    """``processes`` at work: this one and a pool of ``processes - 1`` workers.

    The pool is kept fed from the front of the list (at most two files waiting per
    worker) and this process takes files from the back meanwhile, so no core idles
    while the workers start.
    """
    workers = processes - 1
    threads = max(1, _cores.available() // processes)
    pool, started = _start_pool(workers, threads)
    share = _cores.limit(threads)  # this process too is one of ``processes``
    pending = deque(todo)
    running: dict = {}
    released = broken = False
    try:
        while pending or running:
            while started.is_set() and pending and not broken and len(running) < 2 * workers:
                try:
                    future = pool.submit(task, pending[0][1])
                except BrokenProcessPool:  # a worker died: this process does the rest
                    broken = True
                    break
                running[future] = pending.popleft()
            done = [future for future in running if future.done()]
            if not done and not pending:
                done = list(wait(running, return_when=FIRST_COMPLETED).done)
            for future in done:
                index, job = running.pop(future)
                yield index, _pool_result(future, job, failed)
            if pending and not done:
                index, job = pending.pop()
                yield index, task(job)
            if not released:
                # The warm-up compiles once, for every process, after the first photo:
                # the workers load the kernels from the cache when its markers appear.
                _jit.release()
                released = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _cores.limit(share)


def _start_pool(workers: int, threads: int) -> tuple[ProcessPoolExecutor, threading.Event]:
    """The pool, and an event set once its workers are up.

    Where this process has no other Python thread yet (the usual case: nothing has
    been read), the workers are forked from it at once, with kseg imported and the
    kernels loaded, in a few milliseconds and without a second of a core each spent
    importing and loading them again. Else they fork from
    a forkserver that imports kseg itself, and a thread waits for that (a second or
    two) while this process works.
    """
    started = threading.Event()
    initargs = (threads,)
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        preload()
        context = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_batch.init_worker, initargs=initargs
        )
        with warnings.catch_warnings():
            # Python 3.12 warns of any thread, OpenBLAS's too; the forkserver forks
            # with the very same ones (its preload imports the same modules).
            warnings.simplefilter("ignore", DeprecationWarning)
            pool.submit(_batch.ping)  # forks every worker now, before the pool's thread
        started.set()
        return pool, started
    pool = ProcessPoolExecutor(
        workers, mp_context=_forkserver(), initializer=_batch.init_worker, initargs=initargs
    )
    threading.Thread(target=_start_workers, args=(pool, started), daemon=True).start()
    return pool, started


# The kernel groups every segmentation uses, loaded before the workers fork.
PRELOAD = ("counting", "lloyd")


def preload() -> None:
    """Load the compiled kernels of :data:`PRELOAD` where numba's cache has them
    (groups not compiled yet stay on their numpy twins), before workers fork."""
    for group in PRELOAD:
        try:
            _jit.kernels(group)  # loads the compiled group when its marker is there
        except Exception:  # noqa: BLE001 - a broken cache: the worker finds out for itself
            pass


def _start_workers(pool: ProcessPoolExecutor, started: threading.Event) -> None:
    try:
        pool.submit(_batch.ping).result()
    except Exception:  # noqa: BLE001 - a pool that cannot start: its submits say so later
        pass
    finally:
        started.set()


def _pool_result(future, job, failed):
    try:
        return future.result()
    except BrokenProcessPool:
        return failed(job.path, "the worker process died (out of memory?).", 0.0)
    except Exception as err:  # noqa: BLE001 - this file's error; the others go on
        return failed(job.path, _batch.unexpected(err), 0.0)


def _forkserver():
    """forkserver where there is one (workers fork from a process that imported kseg
    once, with no threads of ours), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["kseg._pool_preload"])
        return context
    return multiprocessing.get_context("spawn")


class _TreeSum:
    """Sums sparse histograms as they come, pairing equal-sized partial sums (a binary
    counter), so each colour is merged about log2(files) times, not once per file."""

    def __init__(self):
        self._stack: list[tuple[int, tuple]] = []  # (files in it, (keys, counts))

    def add(self, part) -> None:
        size, pair = 1, _batch.add_histograms(part)
        while self._stack and self._stack[-1][0] == size:
            other_size, other = self._stack.pop()
            size, pair = size + other_size, _batch.add_histograms(other, pair)
        self._stack.append((size, pair))

    def result(self) -> tuple:
        return _batch.add_histograms(*(pair for _, pair in self._stack))


class _InOrder:
    """Rows put in any order, emitted in input order; drives the progress bar."""

    def __init__(self, args, items: list, emit):
        self.rows: list[dict[str, Any]] = [None] * len(items)  # type: ignore[list-item]
        self._emit = emit
        self._next = 0
        self._progress = Progress(len(items), enabled=not args.quiet and len(items) > 1)
        self._items = items

    def __enter__(self):
        global _progress
        _progress = self._progress
        for index, item in enumerate(self._items):
            if not isinstance(item, _batch.Job):
                self.put(index, item)
        return self

    def __exit__(self, *exc):
        global _progress
        self._progress.close()
        _progress = None
        return False

    def put(self, index: int, row: dict[str, Any]) -> None:
        self.rows[index] = row
        self._progress.advance()
        while self._next < len(self.rows) and self.rows[self._next] is not None:
            self._emit(self.rows[self._next])
            self._next += 1


class Progress:
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


class Summary:
    """``--summary``: one row per file as CSV or JSON lines (by the name's ending)."""

    def __init__(self, path: Path | None):
        self._file = None
        self._csv = None
        if path is None:
            return
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        if path.suffix.lower() == ".csv":
            self._csv = csv.writer(self._file, lineterminator="\n")
            self._csv.writerow(_batch.COLUMNS)

    def write(self, row: dict[str, Any]) -> None:
        if self._file is None:
            return
        if self._csv is not None:
            values = dict(row)
            values["palette"] = " ".join(row["palette"])
            values["shares"] = " ".join(f"{share:.6f}" for share in row["shares"])
            if isinstance(row["compactness"], float):
                values["compactness"] = repr(row["compactness"])
            self._csv.writerow([values[name] for name in _batch.COLUMNS])
        else:
            values = {name: (None if row[name] == "" else row[name]) for name in _batch.COLUMNS}
            values["error"] = row["error"] or None
            self._file.write(json.dumps(values) + "\n")
        self._file.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._file is not None:
            self._file.close()
        return False
