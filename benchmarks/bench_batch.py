"""Benchmark batches: ``kseg segment`` on a folder of 3 MP photos, one process against two.

Prints a Markdown table of photos per second for ``--jobs 1``, ``--jobs 2``, two
independent ``--jobs 1`` commands at once on half the photos each (what two processes can
give on this machine at that moment, a ceiling for ``--jobs 2``) and (unless
``--no-dask``) a Dask cluster of two single-threaded workers on loopback
(``--scheduler``), and a PASS/FAIL line for issue 13's target: two processes give at
least 1.4x the throughput of one on this 2-core machine.

"New process" figures: each run is a new ``python -m kseg segment`` (start-up, imports,
and numba's kernels loaded from a cache compiled before the clock starts), as a user
meets it on a second run. The modes alternate, run after run; medians are reported.
The photos are photo-like JPEGs built from the bundled samples (upscaled, mild noise)
in a temporary folder and never committed; the outputs of every mode are checked to
be the same bytes.

    python benchmarks/bench_batch.py             # ~10 minutes on 2 cores (12, 48, 96 photos)
    python benchmarks/bench_batch.py --quick     # smoke run on small photos, ~30 s
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, encode_jpeg, load_average, machine_summary, photo_like  # noqa: E402

TARGET = 1.4
HALVES = ["halves"]
SAMPLES = ("coffee", "chelsea", "astronaut", "retina")
SETTINGS = ["-k", "6", "--color-space", "lab", "-q"]


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    size = (400, 300) if args.quick else (2000, 1500)
    batches = [4] if args.quick else sorted(set(args.photos))
    repeats = 1 if args.quick else args.repeats
    print("# Batches: kseg segment, one process against two\n")
    for line in machine_summary():
        print(f"- {line}")
    print(f"- photo-like {size[0]} x {size[1]} JPEGs (q 90), {' '.join(SETTINGS)}")
    print(
        f"- medians of {repeats} runs, modes alternating; new process each run; CPU s: "
        "the command and its pool's processes (the Dask workers are not counted)"
    )
    same = True
    ratios = {}
    medians: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="kseg-bench-batch-") as tmp:
        folder = Path(tmp)
        made = folder / "made"
        made.mkdir()
        for i in range(max(batches)):
            rgb = photo_like(SAMPLES[i % len(SAMPLES)], size, seed=i)
            (made / f"photo{i:03d}.jpg").write_bytes(encode_jpeg(rgb))
        _compile_kernels()
        modes = {"--jobs 1": ["-j", "1"], "--jobs 2": ["-j", "2"]}
        modes["two --jobs 1 at once, on halves (the machine's ceiling)"] = HALVES
        cluster = None
        if not args.no_dask:
            cluster = _Cluster(folder)
            modes["Dask, 2 workers"] = ["--scheduler", cluster.address]
        try:
            for n_photos in batches:
                photos = folder / f"batch{n_photos}"
                photos.mkdir()
                for path in sorted(made.iterdir())[:n_photos]:
                    (photos / path.name).symlink_to(path)
                times, cpus, outputs = _measure(photos, folder, modes, repeats)
                same = same and all(files == outputs["--jobs 1"] for files in outputs.values())
                ratios[n_photos] = _table(n_photos, times, cpus)
                medians[n_photos] = {mode: statistics.median(t) for mode, t in times.items()}
        finally:
            if cluster is not None:
                cluster.stop()
    print(f"\n- load average at the end: {load_average()}")
    _print_marginal(medians)
    print(f"Same output bytes in every mode: {'yes' if same else 'NO'}")
    for n_photos, (ratio, best) in ratios.items():
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        print(
            f"{verdict}: {n_photos} photos: --jobs 2 gives {ratio:.2f}x the photos per second "
            f"of --jobs 1 (target >= {TARGET}x; best runs {best:.2f}x)"
        )
    return 0 if same else 1


def _measure(photos: Path, folder: Path, modes: dict[str, list[str]], repeats: int):
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    cpus: dict[str, list[float]] = {mode: [] for mode in modes}
    outputs: dict[str, dict[str, bytes]] = {}
    for mode, extra in modes.items():  # one run each not timed: worker imports, caches
        outputs[mode] = _run(photos, folder / "warm", extra)[2]
    for _ in range(repeats):
        for mode, extra in modes.items():
            seconds, cpu, _ = _run(photos, folder / "out", extra)
            times[mode].append(seconds)
            cpus[mode].append(cpu)
    return times, cpus, outputs


def _table(n_photos: int, times, cpus) -> tuple[float, float]:
    """Print one batch size's table; (median ratio, best-run ratio) of --jobs 2 to 1."""
    base = statistics.median(times["--jobs 1"])
    print(f"\n{n_photos} photos, load average {load_average()}:\n")
    print("| mode | runs | median s | min–max s | photos / s | vs --jobs 1 | CPU s (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, values in times.items():
        median = statistics.median(values)
        print(
            f"| {mode} | {len(values)} | {median:.2f} | {min(values):.2f}–{max(values):.2f} "
            f"| {n_photos / median:.2f} | {base / median:.2f}x "
            f"| {statistics.median(cpus[mode]):.2f} |"
        )
    ratio = base / statistics.median(times["--jobs 2"])
    return ratio, min(times["--jobs 1"]) / min(times["--jobs 2"])


def _print_marginal(medians: dict[int, dict[str, float]]) -> None:
    """Seconds per photo beyond the smallest batch (start-up left out): the rate a long
    batch tends to, from the medians of the smallest and the largest batch."""
    if len(medians) < 2:
        return
    small, large = min(medians), max(medians)
    per_photo = {
        mode: (medians[large][mode] - medians[small][mode]) / (large - small)
        for mode in medians[large]
    }
    base = per_photo["--jobs 1"]
    start = medians[small]["--jobs 1"] - small * base
    print(
        f"- each photo beyond the first {small} (medians, {small} and {large} photos): "
        + "; ".join(
            f"{mode} {seconds:.3f} s ({base / seconds:.2f}x)" for mode, seconds in per_photo.items()
        )
        + f"; the start-up left over in --jobs 1: {start:.2f} s"
    )


def _run(photos: Path, out: Path, extra: list[str]) -> tuple[float, float, dict[str, bytes]]:
    """One timed run; ``extra`` HALVES: two ``--jobs 1`` commands at once, each on half
    the photos (no coordination at all: what two processes can give on this machine)."""
    if out.exists():
        for path in out.iterdir():
            path.unlink()
    start = time.perf_counter()
    base = [sys.executable, "-m", "kseg", "segment", *SETTINGS, "-o", str(out)]
    if extra == HALVES:
        files = sorted(str(path) for path in photos.iterdir())
        half = len(files) // 2
        parts = [files[:half], files[half:]]
        processes = [subprocess.Popen([*base, "-j", "1", *part], env=_env()) for part in parts]
    else:
        processes = [subprocess.Popen([*base, *extra, str(photos)], env=_env())]
    cpu = _cpu_seconds(processes)
    for process in processes:
        if process.returncode != 0:
            raise RuntimeError(f"kseg segment failed: exit status {process.returncode}")
    seconds = time.perf_counter() - start
    return seconds, cpu, {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def _cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """CPU seconds of the commands and every process under them (a pool's forkserver and
    workers), sampled until they end: the work a run costs, whatever else the machine does."""
    import psutil

    seen: dict[tuple[int, float], float] = {}
    roots = [psutil.Process(process.pid) for process in processes]
    while any(process.poll() is None for process in processes):
        for root in roots:
            try:
                found = [root, *root.children(recursive=True)]
            except psutil.Error:
                found = []
            for proc in found:
                try:
                    times = proc.cpu_times()
                    seen[(proc.pid, proc.create_time())] = times.user + times.system
                except psutil.Error:
                    pass
        time.sleep(0.05)
    return sum(seen.values())


def _compile_kernels() -> None:
    """numba's kernels into its cache before any clock starts (the "new process" case)."""
    code = "from kseg import _jit; _jit.wait_until_compiled()"
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


class _Cluster:
    """``dask scheduler`` and two ``dask worker --nthreads 1`` on loopback."""

    def __init__(self, folder: Path):
        scheduler_file = folder / "scheduler.json"
        self._log = open(folder / "cluster.log", "w")  # noqa: SIM115 - closed in stop()
        self._processes = [
            self._start(
                "distributed.cli.dask_scheduler",
                "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                "--scheduler-file", str(scheduler_file),
            )
        ]  # fmt: skip
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.1)
        time.sleep(0.2)
        self.address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            self._processes.append(
                self._start(
                    "distributed.cli.dask_worker", "--nworkers", "1", "--nthreads", "1",
                    "--no-dashboard", "--scheduler-file", str(scheduler_file),
                )
            )  # fmt: skip
        import distributed

        with distributed.Client(self.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)

    def _start(self, *argv: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", *argv],
            env=_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        self._log.close()


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small photos, one run each")
    parser.add_argument(
        "--photos", type=int, nargs="+", default=[12, 48, 96], help="batch sizes (default 12 48 96)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true", help="leave the Dask cluster out")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
