"""Loopback helpers for tests that start real servers: free ports, readiness waits, and a
scripted OpenAI-compatible chat-completions endpoint (a provider for server processes; it lives in
the package, task_orchestrator.fake_endpoints, beside the Gemini one)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from task_orchestrator.fake_endpoints import FakeGemini, FakeOpenAI

__all__ = ["FakeGemini", "FakeOpenAI", "PrivatePostgres", "free_port", "wait_for_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, proc: Any = None) -> bool:
    """True once 127.0.0.1:port accepts connections; False on timeout or if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free loopback port (Debian's server binaries),
    or the one named by TASK_ORCHESTRATOR_TEST_POSTGRES_URL (started by .ci/run)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc_dir: Path | None = None
        self.url = os.environ.get("TASK_ORCHESTRATOR_TEST_POSTGRES_URL", "")

    @staticmethod
    def binaries() -> Path | None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        return found[-1].parent if found else None

    def start(self) -> str:
        if self.url:
            return self.url
        bindir = self.binaries()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        # The server runs as `postgres` when we are root: its directory must be reachable by
        # that user, which pytest's private tmp (mode 700) is not; a system tmp dir is.
        self.proc_dir = (
            Path(tempfile.mkdtemp(prefix="task-orchestrator-pg-")) if as_user else (self.root / "pg")
        )
        self.proc_dir.mkdir(parents=True, exist_ok=True)
        if as_user:
            shutil.chown(self.proc_dir, "postgres")
        data = self.proc_dir / "data"
        port = free_port()
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *as_user,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(self.proc_dir / "log"),
                "-o",
                f"-p {port} -k {self.proc_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self._stop = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        return self.url

    def new_database(self) -> str:
        """A fresh empty database on the server; returns its URL."""
        import uuid

        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.proc_dir is not None:
            subprocess.run(self._stop, capture_output=True, timeout=60)
            shutil.rmtree(self.proc_dir, ignore_errors=True)


def start_chroma(path: Path) -> tuple[str, subprocess.Popen]:
    """`chroma run` on a free loopback port with its data in ``path``: (url, process)."""
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(exe).exists():
        raise FileNotFoundError("the `chroma` server binary is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if not wait_for_port(port, 30, proc):
        proc.kill()
        raise RuntimeError("chroma server did not start within 30 s")
    return f"http://127.0.0.1:{port}", proc
