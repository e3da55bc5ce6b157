"""deploy/: the HAProxy configuration as rendered for N replicas, and replicas.py end to end.

haproxy missing is a failure, not a skip: tests/run.sh installs it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from balancer_support import find_haproxy, load_replicas_module
from browser_support import ROOT, free_port

replicas = load_replicas_module()


@pytest.mark.parametrize("n", [1, 3])
def test_the_config_names_each_replica_and_haproxy_accepts_it(n: int, tmp_path: Path) -> None:
    ports = [9101 + i for i in range(n)]
    text = replicas.haproxy_config(9100, ports)
    assert re.findall(r"(?m)^\s*bind\s+(\S+)", text) == ["127.0.0.1:9100"]
    servers = re.findall(r"(?m)^\s*server\s+(\S+)\s+(\S+)\s+cookie\s+(\S+)", text)
    assert servers == [(f"r{i}", f"127.0.0.1:{p}", f"r{i}") for i, p in enumerate(ports, 1)]
    for line in ("cookie KSEGSRV insert indirect nocache", "option redispatch",
                 "option httpchk GET /_stcore/health", "timeout tunnel"):  # fmt: skip
        assert line in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    check = subprocess.run(
        [find_haproxy(), "-c", "-q", "-f", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_repository_config_is_valid_as_it_stands() -> None:
    check = subprocess.run(
        [find_haproxy(), "-c", "-q", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_replicas_py_serves_through_haproxy_and_stops_everything_on_ctrl_c(
    tmp_path: Path,
) -> None:
    find_haproxy()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "replicas.py"), "1", str(port),
         "--log-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        line = process.stdout.readline()  # printed once haproxy runs
        assert f"kseg on http://127.0.0.1:{port}" in line, line + process.stdout.read()
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 2  # the replica and haproxy
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
            assert "KSEGSRV=r1" in response.headers.get("Set-Cookie", "")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "stopping" in process.stdout.read()
        deadline = time.monotonic() + 5
        while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
            assert time.monotonic() < deadline, "a replica or haproxy is still running"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert {p.name for p in tmp_path.iterdir()} >= {"haproxy.cfg", "haproxy.log", "r1.log"}
