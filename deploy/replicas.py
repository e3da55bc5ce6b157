"""Start N replicas of kseg's page and HAProxy in front of them, all on loopback.

    python deploy/replicas.py 3          # replicas on 8501-8503, visitors on http://127.0.0.1:8500
    python deploy/replicas.py 2 9000     # replicas on 9001-9002, visitors on :9000

Each replica is ``python -m streamlit run app.py`` in the repository root (so it reads
``.streamlit/config.toml``: XSRF protection stays on) on 127.0.0.1:PORT+i, in its own
process group. HAProxy runs ``deploy/haproxy.cfg`` with its ``bind`` and ``server``
lines rewritten for these ports: sticky sessions by cookie, WebSockets, health checks
on /_stcore/health, redispatch when a replica stops. Ctrl-C (or SIGTERM) stops HAProxy,
then every replica (SIGTERM, SIGKILL after 10 s). The output of each process goes to
a file in ``--log-dir`` (a new temporary folder by default), named on start.

Environment variables (``KSEG_CACHE_MB`` and the others) pass on to every replica.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path(__file__).resolve().parent / "haproxy.cfg"
STOP_SECONDS = 10.0


def haproxy_config(port: int, replica_ports: Sequence[int], template: str | None = None) -> str:
    """deploy/haproxy.cfg for a balancer on 127.0.0.1:`port` and replicas on `replica_ports`.

    The ``bind`` line takes `port`; the backend's ``server`` lines are replaced by one
    per replica, named r1, r2, ... (the names are the sticky cookie's values).
    """
    text = CONFIG.read_text() if template is None else template
    text, binds = re.subn(r"(?m)^(\s*bind\s+)\S+", rf"\g<1>127.0.0.1:{port}", text)
    lines = text.splitlines()
    servers = [i for i, line in enumerate(lines) if re.match(r"\s*server\s", line)]
    if binds != 1 or not servers:
        raise ValueError("the HAProxy template needs one bind line and server lines")
    indent = re.match(r"\s*", lines[servers[0]]).group(0)
    new = [
        f"{indent}server r{i} 127.0.0.1:{p} cookie r{i}"
        for i, p in enumerate(replica_ports, start=1)
    ]
    kept = [line for i, line in enumerate(lines) if i not in servers]
    kept[servers[0] : servers[0]] = new
    return "\n".join(kept) + "\n"


def replica_command(port: int, extra_args: Sequence[str] = ()) -> list[str]:
    """The command of one replica on 127.0.0.1:`port` (run it in the repository root)."""
    return [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        *extra_args,
    ]  # fmt: skip


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process on port {port} exited with code {process.returncode}")
        with contextlib.suppress(OSError):
            url = f"http://127.0.0.1:{port}/_stcore/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        time.sleep(0.2)
    raise RuntimeError(f"port {port} did not answer healthy after {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group, SIGKILL if it is still there after STOP_SECONDS."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: Ctrl-C reaches us, we stop it
        )


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="how many replicas")
    parser.add_argument("port", type=int, nargs="?", default=8500, help="the balancer's port")
    parser.add_argument("--log-dir", type=Path, help="where the processes' output goes")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("n must be at least 1")
    haproxy = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )
    if haproxy is None:
        print("haproxy is not installed: apt-get install -y haproxy", file=sys.stderr)
        return 2
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="kseg-replicas-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    ports = [args.port + i for i in range(1, args.n + 1)]
    config = log_dir / "haproxy.cfg"
    config.write_text(haproxy_config(args.port, ports))
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], check=False)
    if check.returncode != 0:
        return 2

    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for i, port in enumerate(ports, start=1):
            log = log_dir / f"r{i}.log"
            processes.append((f"replica r{i} (port {port})", start(replica_command(port), log)))
        for (_, process), port in zip(processes, ports, strict=True):
            wait_healthy(port, process)
        balancer = start([haproxy, "-db", "-f", str(config)], log_dir / "haproxy.log")
        processes.insert(0, ("haproxy", balancer))
        wait_healthy(args.port, balancer, timeout=30.0)  # listening, and a replica answers
        print(
            f"kseg on http://127.0.0.1:{args.port}: {args.n} replicas on ports "
            f"{ports[0]}-{ports[-1]}, output in {log_dir}. Ctrl-C stops them all.",
            flush=True,
        )
        gone: set[str] = set()
        while True:
            for name, process in processes:
                if name not in gone and process.poll() is not None:
                    gone.add(name)
                    print(f"{name} exited with code {process.returncode}", flush=True)
            if processes[0][0] in gone:  # no balancer, no service
                return 1
            time.sleep(1.0)
    except _Stop:
        print("stopping...", flush=True)
        return 0
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C cannot cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _, process in processes:
            stop(process)


if __name__ == "__main__":
    sys.exit(main())
