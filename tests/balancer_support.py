"""Several replicas of kseg's page behind the real HAProxy, from deploy/haproxy.cfg.

    with Balancer(2) as balancer:
        page.goto(balancer.url)            # through haproxy, sticky by cookie
        balancer.replica_of(context)       # "r1" or "r2": the context's KSEGSRV cookie
        balancer.stop_replica("r1")        # terminate one replica's whole process group

The replicas are ``StreamlitServer`` processes (tests/browser_support.py) on free
loopback ports; haproxy runs in the foreground (``-db``) with the configuration that
``deploy/replicas.py`` renders, so the test runs the deployment's own file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from browser_support import ROOT, ServerError, StreamlitServer, free_port

COOKIE = "KSEGSRV"  # deploy/haproxy.cfg's sticky cookie


def load_replicas_module() -> Any:
    spec = importlib.util.spec_from_file_location("kseg_replicas", ROOT / "deploy" / "replicas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_haproxy() -> str:
    """The haproxy binary; ServerError (a failure, not a skip) when it is not installed."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )
    if found is None:
        raise ServerError(
            "haproxy is not installed: tests/run.sh installs it (apt-get install -y haproxy)"
        )
    return found


class Balancer:
    """`n` replicas of app.py behind haproxy, as a context manager."""

    def __init__(self, n: int, *, env: dict[str, str] | None = None) -> None:
        self.haproxy = find_haproxy()
        self.replicas = {f"r{i}": StreamlitServer("app.py", env=env) for i in range(1, n + 1)}
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="kseg-balancer-"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Balancer:
        with ThreadPoolExecutor(len(self.replicas)) as pool:
            for future in [pool.submit(r.start) for r in self.replicas.values()]:
                future.result()
        replicas = load_replicas_module()
        self.port = free_port()
        ports = [server.port for server in self.replicas.values()]
        config = self._dir / "haproxy.cfg"
        config.write_text(replicas.haproxy_config(self.port, ports))
        subprocess.run([self.haproxy, "-c", "-q", "-f", str(config)], check=True)
        with (self._dir / "haproxy.log").open("wb") as log:
            self.process = subprocess.Popen(
                [self.haproxy, "-db", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_up()
        return self

    def _wait_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServerError(f"haproxy exited early. Its output:\n{self.log()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        return
            time.sleep(0.1)
        raise ServerError(f"haproxy did not answer in {timeout:.0f} s. Its output:\n{self.log()}")

    def log(self) -> str:
        path = self._dir / "haproxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """haproxy's and every replica's output, for a failure's report."""
        parts = [f"--- haproxy\n{self.log()}"]
        parts += [f"--- {name}\n{server.log()}" for name, server in self.replicas.items()]
        return "\n".join(parts)

    @staticmethod
    def replica_of(context: Any) -> str | None:
        """The replica a browser context is stuck to (its sticky cookie), or None."""
        values = [c["value"] for c in context.cookies() if c["name"] == COOKIE]
        return values[0] if values else None

    def stop_replica(self, name: str) -> None:
        """Terminate one replica (its whole process group), as a crash or a scale-down does."""
        self.replicas[name].stop()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for server in self.replicas.values():
            server.stop()

    def cleanup(self) -> None:
        self.stop()
        for server in self.replicas.values():
            server.cleanup()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Balancer:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()
