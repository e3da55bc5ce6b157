"""``--scheduler tcp://HOST:PORT``: each file a task on a Dask cluster.

The tasks are the functions of :mod:`kseg._batch`, so a cluster gives the bytes the
local run gives. The workers open every image and write every output by its absolute
path: those paths must be visible to the workers (a shared file system mounted under
the same name). For ``palette`` the files' sparse histograms are summed on the cluster
in a tree (:data:`kseg._runners.FAN_IN` at a time) and k-means runs there on the sum;
only the rows and the palette come back. A worker that dies takes its tasks with it and
Dask runs them again on the others (``distributed.scheduler.allowed-failures`` times);
a file whose task breaks anyway is reported as failed and the others go on.

Dask is optional: ``pip install 'kseg[dask]'``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from kseg import _batch
from kseg._runners import FAN_IN, SchedulerError, message

__all__ = ["palette", "results"]

# A task that fails by raising (not by the file: those come back as rows) is tried again.
RETRIES = 1
_ADDRESS = re.compile(r"(tcp|tls|ws|wss|inproc|ucx)://[^\s/]+", re.IGNORECASE)


def results(address: str, task, todo, failed) -> Iterator[tuple[int, Any]]:
    """(index, result) of each (index, Job) in ``todo`` as its task finishes."""
    distributed = _distributed()
    with _connect(distributed, address) as client:
        batch = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                task,
                job,
                on_cluster=True,
                key=f"kseg-{batch}-{index}",
                pure=False,
                retries=RETRIES,
            ): (index, job)
            for index, job in todo
        }
        watch = _Workers(client)
        for future in distributed.as_completed(futures, loop=client.loop):
            watch.check()
            index, job = futures[future]
            yield index, _result(future, job, failed)


def palette(address: str, todo, options: dict[str, Any], name: str):
    """The rows of the files as they finish, and a function giving (palette JSON, row).

    Each file's histogram stays on the cluster: a small task takes its row out, and the
    histograms are summed by tasks of :data:`FAN_IN` inputs until one is left.
    """
    distributed = _distributed()
    client = _connect(distributed, address)
    batch = uuid.uuid4().hex[:8]

    def submit(function, *args, key, **kwargs):
        return client.submit(
            function, *args, key=f"kseg-{batch}-{key}", pure=False, retries=RETRIES, **kwargs
        )

    parts = [
        submit(_batch.file_histogram, job, on_cluster=True, key=f"histogram-{index}")
        for index, job in todo
    ]
    rows = {
        submit(_batch.row_of, part, key=f"row-{index}"): (index, job)
        for part, (index, job) in zip(parts, todo, strict=True)
    }
    level, depth = parts, 0
    while len(level) > 1:
        depth += 1
        level = [
            submit(_batch.add_histograms, *level[j : j + FAN_IN], key=f"sum-{depth}-{j}")
            for j in range(0, len(level), FAN_IN)
        ]
    final = submit(_batch.collection_palette, level[0], options, name, key="palette")
    del parts, level  # the cluster frees each histogram once it is summed

    def found():
        watch = _Workers(client)
        for future in distributed.as_completed(rows, loop=client.loop):
            watch.check()
            index, job = rows[future]
            yield index, _result(future, job, _batch.failed_row)

    def finish():
        try:
            return final.result()
        except Exception as err:  # noqa: BLE001 - one line, like a failed file
            return None, _batch.failed_row(name, f"the cluster could not make it: {err}", 0.0)
        finally:
            client.close()

    return found(), finish


def _result(future, job, failed):
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - this file's error; the others go on
        if type(err).__name__ == "KilledWorker":
            return failed(
                job.path, "the Dask workers running it died each time; it was given up.", 0.0
            )
        return failed(job.path, _batch.unexpected(err), 0.0)


class _Workers:
    """One line when the cluster has no worker, and one per worker that leaves."""

    def __init__(self, client):
        self._client = client
        self._next = 0.0
        self._known = self._workers()
        if not self._known:
            message("kseg: the Dask cluster has no workers yet; the files wait for one.")

    def check(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + 1.0  # a round trip to the scheduler: not every file
        now = self._workers()
        for address in sorted(self._known - now):
            message(f"kseg: the Dask worker {address} left; Dask runs its files again elsewhere.")
        self._known = now

    def _workers(self) -> set[str]:
        try:
            return set(self._client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - a notice only, never a reason to stop
            return set()


def _distributed():
    try:
        import distributed
    except ImportError:
        raise SchedulerError(
            "--scheduler: Dask is not installed; install it with: pip install 'kseg[dask]' "
            "(or pip install 'dask[distributed]').",
            usage=True,
        ) from None
    return distributed


def _connect(distributed, address: str):
    if not _ADDRESS.fullmatch(address.strip()):
        raise SchedulerError(
            "--scheduler: expected an address like tcp://HOST:PORT.",
            usage=True,
        )
    try:
        return distributed.Client(address.strip(), set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {address.strip()}: {err or type(err).__name__}"
        ) from None
