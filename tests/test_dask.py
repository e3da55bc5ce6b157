"""``--scheduler``: a real Dask scheduler and two worker processes on loopback.

The same batch and collection palette as on this machine, file by file; a worker
killed mid-batch (its tasks are redone); an unreachable scheduler; Dask missing.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from kseg import cli

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_batch import _photo, _rows, _without_seconds  # noqa: E402


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _start(argv, log):
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a process group of its own: torn down whole
    )


def _stop(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, [worker processes]): ``dask scheduler`` and two ``dask worker``."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    log = open(folder / "cluster.log", "w")  # noqa: SIM115 - closed at teardown
    processes = []
    try:
        processes.append(
            _start(
                [
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(scheduler_file),
                ],
                log,
            )
        )
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written whole, but give it a moment
        address = json.loads(scheduler_file.read_text())["address"]
        worker_argv = ["distributed.cli.dask_worker", "--nworkers", "1", "--nthreads", "1"]
        worker_argv += ["--no-dashboard", "--scheduler-file", str(scheduler_file)]
        workers = [_start(worker_argv, log) for _ in range(2)]
        processes += workers
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in reversed(processes):
            _stop(process)
        log.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask-photos")
    for i in range(12):
        cv2.imwrite(str(folder / f"p{i:02d}.png"), _photo(i, (160, 200))[:, :, ::-1])
    (folder / "broken.jpg").write_text("not really a photo")
    return folder


SETTINGS = ["-k", "6", "--color-space", "lab", "--attempts", "10", "-q"]


def _files(folder):
    """The outputs by name; a worker killed while writing may leave a hidden .partial file."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.endswith(".partial")}


def test_a_batch_on_the_cluster_gives_the_local_files(cluster, photos, tmp_path, capsys):
    address, _ = cluster
    files = [str(photos / "p00.png"), str(photos / "broken.jpg"), str(photos / "p01.png")]
    files.append(str(tmp_path / "nope.png"))
    runs = {}
    for where in ("local", "cluster"):
        out, summary = tmp_path / where, tmp_path / f"{where}.csv"
        argv = ["segment", *files, *SETTINGS, "--labels", "--palette", "--summary", str(summary)]
        argv += ["-j", "1"] if where == "local" else ["--scheduler", address]
        assert cli.main([*argv, "-o", str(out)]) == 1
        err = capsys.readouterr().err
        runs[where] = (_files(out), _without_seconds(_rows(summary)), err)
    assert runs["local"][0] == runs["cluster"][0] and len(runs["local"][0]) == 6
    assert runs["local"][1] == runs["cluster"][1]
    assert runs["local"][2] == runs["cluster"][2]  # the same lines, one per bad file
    assert runs["cluster"][2].count("broken.jpg") == 1 and "Traceback" not in runs["cluster"][2]


def test_a_collection_palette_on_the_cluster(cluster, photos, tmp_path):
    address, _ = cluster
    files = [str(photos / f"p{i:02d}.png") for i in range(10)] + [str(photos / "broken.jpg")]
    outputs = {}
    for where in ("local", "cluster"):
        output = tmp_path / f"{where}.json"
        argv = ["palette", *files, *SETTINGS, "--max-side", "150", "-o", str(output)]
        argv += ["-j", "2"] if where == "local" else ["--scheduler", address]
        assert cli.main(argv) == 1  # the broken file; the palette is made of the others
        outputs[where] = output.read_text()
    assert outputs["local"] == outputs["cluster"]
    assert len(json.loads(outputs["cluster"])["clusters"]) == 6


def test_a_killed_worker_s_files_are_redone(cluster, photos, tmp_path):
    address, workers = cluster
    files = sorted(str(p) for p in photos.glob("p*.png"))
    local = tmp_path / "local"
    assert cli.main(["segment", *files, *SETTINGS, "-j", "1", "-o", str(local)]) == 0
    out = tmp_path / "cluster"
    run = subprocess.Popen(
        [sys.executable, "-m", "kseg", "segment", *files, *SETTINGS, "--scheduler", address]
        + ["-o", str(out)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*.segmented.png")):
            assert run.poll() is None and time.monotonic() < deadline, run.stderr
            time.sleep(0.02)
        # The worker process itself (the nanny's child), not the nanny: it dies mid-task.
        import psutil

        victims = psutil.Process(workers[0].pid).children(recursive=True)
        assert victims
        for victim in victims:
            victim.kill()
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert len(_files(out)) == 12 and _files(out) == _files(local)
    assert "left; Dask runs its files again elsewhere." in err and "Traceback" not in err


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, photos):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        argv = ["segment", str(photos / "p00.png"), "--scheduler", "tcp://127.0.0.1:9"]
        assert cli.main([*argv, "-o", str(tmp_path / "out")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("kseg: cannot reach the Dask scheduler at tcp://127.0.0.1:9: ")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_without_dask_the_option_says_how_to_install_it(tmp_path, capsys, monkeypatch, photos):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    argv = ["palette", str(photos / "p00.png"), "--scheduler", "tcp://127.0.0.1:9"]
    assert cli.main([*argv, "-o", str(tmp_path / "p.json")]) == 2
    assert "pip install 'kseg[dask]'" in capsys.readouterr().err
