"""The guard service and its thin client, as Claude Code runs them: real processes, a real
loopback socket and a real failure table in tmp_path; the service started, killed, stopped
with SIGSTOP, impersonated and attacked the ways a user's machine can."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from task_orchestrator import guard_client
from task_orchestrator._version import __version__
from task_orchestrator.events import EVENTS
from task_orchestrator.guard_client import MAX_BODY, PROTOCOL, GuardUnavailable
from task_orchestrator.memory._table import FailureTable

BIN = Path(sys.executable).parent
HOOK = shutil.which("task-orchestrator-hook", path=str(BIN)) or str(BIN / "task-orchestrator-hook")
SESSION_ID = "0c6bd1e6-6a6e-4d3c-9d8e-guard-tests"
UP_S = 20.0  # a service starts in well under a second; a loaded CI machine gets slack

# the processes a test leaves behind (hooks spawn services) are found and killed through /proc
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


# -- processes -----------------------------------------------------------------------------------
def _stat_state(pid: int) -> str | None:
    """The process state letter, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """A process that runs or is stopped (a zombie nobody reaped is gone)."""
    if Path("/proc").is_dir():
        return _stat_state(pid) not in (None, "Z")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def guard_pids(data_dir: Path) -> list[int]:
    """The guard service processes of ``data_dir`` (ours or spawned by a hook), zombies aside."""
    wanted = f"task_orchestrator.guard --data-dir {data_dir}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:
            continue
        if cmdline.endswith(wanted) or wanted + b" " in cmdline:
            if alive(int(entry.name)):
                out.append(int(entry.name))
    return sorted(out)


def wait_for(predicate, timeout: float, what: str | Callable[[], str]):
    """``predicate()``'s first true value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"not within {timeout:g} s: {what if isinstance(what, str) else what()}")
        time.sleep(0.05)


def ping(data_dir: Path) -> tuple[str, int]:
    version, pid = guard_client.request(data_dir, "ping", timeout=5.0).decode().split()
    return version, int(pid)


def status(data_dir: Path) -> dict:
    return json.loads(guard_client.request(data_dir, "status", timeout=5.0))


def calls(data_dir: Path, event: str) -> int:
    return status(data_dir)["calls"].get(event, 0)


def one_healthy_service(data_dir: Path, *, not_pid: int | None = None) -> int:
    """Wait until exactly one service process runs for ``data_dir`` and it answers with this
    version (and is not ``not_pid``); its pid."""

    def settled() -> int | None:
        try:
            version, pid = ping(data_dir)
        except GuardUnavailable:
            return None
        if version == __version__ and pid != not_pid and guard_pids(data_dir) == [pid]:
            return pid
        return None

    return wait_for(settled, UP_S, lambda: f"exactly one healthy service (running: {guard_pids(data_dir)})")


class Guards:
    """Starts guard services for one data directory; the teardown kills whatever guard
    process of that directory is left, the ones a hook spawned included."""

    def __init__(self, data_dir: Path, env: dict[str, str], log: Path) -> None:
        self.data_dir, self.env, self.log = data_dir, env, log
        self.procs: list[subprocess.Popen] = []

    def start(self, *extra: str, how: str = "module") -> subprocess.Popen:
        """``python -m task_orchestrator.guard`` (as hooks start it) or, ``how="cli"``,
        ``task-orchestrator guard run`` (as a user runs it in the foreground)."""
        if how == "cli":
            args = [sys.executable, "-m", "task_orchestrator.cli", "guard", "run", *extra]
        else:
            args = [sys.executable, "-m", "task_orchestrator.guard", "--data-dir", str(self.data_dir), *extra]
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def up(self, *extra: str, how: str = "module") -> subprocess.Popen:
        proc = self.start(*extra, how=how)
        wait_for(lambda: _answers(self.data_dir, proc.pid), UP_S, "the service answers")
        return proc

    def cleanup(self) -> None:
        for pid in guard_pids(self.data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # a stopped one dies as well
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            proc.wait(timeout=10)
        wait_for(lambda: not guard_pids(self.data_dir), 10, "every guard process of the test is gone")


def _answers(data_dir: Path, pid: int) -> bool:
    try:
        return ping(data_dir) == (__version__, pid)
    except GuardUnavailable:
        return False


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def ws(tmp_path) -> Path:
    """The session's working directory (not an ancestor of HOME: ``rm -rf ~`` reaches outside it)."""
    d = tmp_path / "ws"
    d.mkdir()
    return d


@pytest.fixture
def env(data_dir) -> dict[str, str]:
    return {
        **os.environ,
        "TASK_ORCHESTRATOR_DATA_DIR": str(data_dir),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # a service this test fails to kill still goes away by itself
        "TASK_ORCHESTRATOR_GUARD_IDLE_S": "120",
    }


@pytest.fixture
def guards(data_dir, env, tmp_path):
    g = Guards(data_dir, env, tmp_path / "guard.log")
    try:
        yield g
    finally:
        g.cleanup()


@pytest.fixture
def service(guards) -> subprocess.Popen:
    """A running guard service for the test's data directory."""
    return guards.up()


# -- the thin client ---------------------------------------------------------------------------------
def pre(command: str, cwd: Path) -> dict:
    """The PreToolUse input Claude Code sends for a Bash call."""
    return {
        "session_id": SESSION_ID,
        "transcript_path": str(cwd / "transcript.jsonl"),
        "cwd": str(cwd),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "a command"},
        "tool_use_id": "toolu_01",
    }


def failed(command: str, cwd: Path, n: int) -> dict:
    """The PostToolUseFailure input Claude Code sends for a Bash call that exited 1."""
    return {
        "session_id": SESSION_ID,
        "cwd": str(cwd),
        "hook_event_name": "PostToolUseFailure",
        "tool_name": "Bash",
        "tool_input": {"command": command},
        "tool_use_id": f"toolu_{n:02d}",
        "error": f"Exit code 1\nERROR: case {n} failed: AssertionError: expected 200, got 500",
    }


def hook(name: str, payload: dict | str, env: dict, wait_s: float = 1.0) -> subprocess.CompletedProcess:
    """``task-orchestrator-hook NAME WAIT_S`` with the hook JSON on stdin, as Claude Code runs it."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    proc = subprocess.run(
        [HOOK, name, str(wait_s)], input=data, capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def decision(proc: subprocess.CompletedProcess) -> str:
    if not proc.stdout.strip():
        return "allow"
    return json.loads(proc.stdout)["hookSpecificOutput"].get("permissionDecision", "allow")


def fallbacks(data_dir: Path) -> list[str]:
    """The details of the fallbacks logged ("pre-tool-use: absent", ...)."""
    if not (data_dir / "memory.sqlite").exists():
        return []
    table = FailureTable(data_dir / "memory.sqlite")
    try:
        return [e["detail"] for e in table.events() if e["event"] == "fallback"]
    finally:
        table.close()


def stored_actions(data_dir: Path) -> set[str]:
    table = FailureTable(data_dir / "memory.sqlite")
    try:
        return {r["action"] for r in table.list(limit=1000)}
    finally:
        table.close()


# -- 1-5: the thin client against a service up, absent, killed, hung, of another version --------
def test_thin_client_is_answered_by_the_running_service(service, data_dir, env, ws):
    before = calls(data_dir, "pre-tool-use")
    assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env)) == "deny"
    assert decision(hook("pre-tool-use", pre("git reset --hard", ws), env)) == "deny"
    ls = hook("pre-tool-use", pre("ls", ws), env)
    assert ls.stdout == ""
    st_ = status(data_dir)
    assert st_["calls"]["pre-tool-use"] == before + 3
    assert st_["pid"] == service.pid and st_["sessions"] == 1
    assert fallbacks(data_dir) == []  # no call was judged in-process


def test_non_ascii_input_is_counted_in_bytes_and_served(service, data_dir, env, ws):
    """The client announces the body's size in bytes: a miscount would make every call
    with a non-ASCII character wait for the timeout and fall back."""
    command = "rm -rf ~  # nettoyer le répertoire ☃ 清理"
    proc = subprocess.run(
        [HOOK, "pre-tool-use", "3"],
        input=json.dumps(pre(command, ws), ensure_ascii=False).encode(),
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert calls(data_dir, "pre-tool-use") == 1
    assert fallbacks(data_dir) == []


def test_thin_client_with_no_service_judges_itself_and_starts_one(guards, data_dir, env, ws):
    assert not guard_pids(data_dir)
    assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env)) == "deny"
    assert "pre-tool-use: absent" in fallbacks(data_dir)
    assert decision(hook("pre-tool-use", pre("git reset --hard", ws), env)) == "deny"
    assert hook("pre-tool-use", pre("ls", ws), env).stdout == ""

    assert guard_client.wait_until_up(data_dir, UP_S), "the fallback started no service"
    pid = one_healthy_service(data_dir)
    logged = len(fallbacks(data_dir))
    before = calls(data_dir, "pre-tool-use")
    assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env)) == "deny"
    assert calls(data_dir, "pre-tool-use") == before + 1
    assert len(fallbacks(data_dir)) == logged
    assert ping(data_dir)[1] == pid


def test_killed_service_leaves_a_stale_endpoint_and_is_replaced(service, data_dir, env, ws):
    service.kill()
    service.wait(timeout=10)
    assert guard_client.endpoint_path(data_dir).exists()  # what SIGKILL leaves behind
    assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env)) == "deny"
    assert [f for f in fallbacks(data_dir) if f.startswith("pre-tool-use: ")]  # refused, or stale
    new = one_healthy_service(data_dir, not_pid=service.pid)
    assert guard_client.read_endpoint(data_dir).pid == new
    assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env)) == "deny"
    assert calls(data_dir, "pre-tool-use") == 1


@pytest.mark.parametrize("how", ["module", "cli"], ids=["started-by-a-hook", "guard-run"])
def test_hung_service_is_bypassed_in_bounded_time_then_replaced(how, guards, data_dir, env, ws):
    service = guards.up(how=how)
    os.kill(service.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        proc = hook("pre-tool-use", pre("rm -rf ~", ws), env, wait_s=0.5)
        elapsed = time.monotonic() - t0
        assert decision(proc) == "deny"
        assert elapsed < 5.0, f"the hook took {elapsed:.1f} s with a hung service"
        assert "pre-tool-use: timeout" in fallbacks(data_dir)
        # the starter the fallback spawned kills the hung service and takes over
        wait_for(lambda: service.poll() is not None, UP_S, "the hung service is killed")
        assert service.returncode == -signal.SIGKILL
        new = one_healthy_service(data_dir, not_pid=service.pid)
        assert not alive(service.pid)
        assert guard_client.read_endpoint(data_dir).pid == new
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(service.pid, signal.SIGCONT)


def test_hung_service_with_a_full_accept_queue_is_bypassed_in_bounded_time(service, data_dir, env, ws):
    """Every call that gave up on a hung service leaves its connection in the accept queue;
    once the queue is full a connect is not refused but left unanswered."""
    port = guard_client.read_endpoint(data_dir).port
    os.kill(service.pid, signal.SIGSTOP)
    queued = []
    try:
        for _ in range(300):  # more than the service's listen backlog (128)
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", port))
            queued.append(s)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                [HOOK, "pre-tool-use", "0.5"],
                input=json.dumps(pre("rm -rf ~", ws)),
                capture_output=True,
                text=True,
                env=env,
                timeout=8,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the thin client was still connecting to the hung service after 8 s")
        assert decision(proc) == "deny"
        assert time.monotonic() - t0 < 5.0
    finally:
        for s in queued:
            s.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(service.pid, signal.SIGCONT)


class FakeOldService:
    """A guard service of version 0.0.1 as far as anyone can tell: it holds the service lock,
    writes its endpoint, answers ping with its version and stops when asked to."""

    VERSION = "0.0.1"

    def __init__(self, data_dir: Path) -> None:
        rt = guard_client.runtime_dir(data_dir, create=True)
        self.lock_fd = os.open(rt / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.secret = "f" * 64
        self.requests: list[str] = []
        self.asked_to_stop = threading.Event()
        self.closed = threading.Event()
        port = self.listener.getsockname()[1]
        endpoint = guard_client.endpoint_path(data_dir)
        endpoint.write_text(f"{port} {self.secret} {self.VERSION} {os.getpid()}\n")
        endpoint.chmod(0o600)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                header = b""
                with contextlib.suppress(OSError):
                    while not header.endswith(b"\n") and len(header) < 600:
                        chunk = conn.recv(1)
                        if not chunk:
                            break
                        header += chunk
                parts = header.decode(errors="replace").split()
                verb = parts[3] if len(parts) == 5 and parts[1] == self.secret else "?"
                self.requests.append(verb)
                with contextlib.suppress(OSError):
                    if verb == "ping":
                        conn.sendall(f"ok\n{self.VERSION} {os.getpid()}".encode())
                    elif verb == "shutdown":
                        conn.sendall(b"ok\nstopping")
                    else:
                        conn.sendall(f"version {self.VERSION}\n".encode())
            if verb == "shutdown":
                self.asked_to_stop.set()
                self.close()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.listener.close()
        os.close(self.lock_fd)  # the old service exits: its lock is free


def test_service_of_another_version_is_not_asked_and_is_replaced(guards, data_dir, env, ws):
    old = FakeOldService(data_dir)
    try:
        with pytest.raises(GuardUnavailable) as err:
            guard_client.connect(data_dir, "status")
        assert err.value.reason == "version"
        assert old.requests == []  # refused from its endpoint file, before connecting

        assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env)) == "deny"
        assert "pre-tool-use: version" in fallbacks(data_dir)
        # the starter the fallback spawned asks the old one to stop, then takes over
        assert old.asked_to_stop.wait(UP_S), f"the old service was never asked to stop: {old.requests}"
        assert "status" not in old.requests and "pre-tool-use" not in old.requests
        new = one_healthy_service(data_dir)
        assert guard_client.read_endpoint(data_dir).version == __version__
        assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env)) == "deny"
        assert calls(data_dir, "pre-tool-use") == 1 and ping(data_dir)[1] == new
    finally:
        old.close()
        old.thread.join(5)


def test_thin_client_speaks_the_package_version():
    """A client whose VERSION differs from the package's would never be answered."""
    for path in (
        Path(HOOK),
        Path(__file__).parents[1] / "task_orchestrator" / "bin" / "task-orchestrator-hook",
    ):
        lines = [x for x in path.read_text().splitlines() if x.startswith("VERSION=")]
        assert lines == [f"VERSION={__version__}"], path
    # an editable install copies the script once: a stale copy would test old behaviour
    source = Path(__file__).parents[1] / "task_orchestrator" / "bin" / "task-orchestrator-hook"
    assert Path(HOOK).read_text() == source.read_text(), "reinstall: pip install -e ."


# -- 6: starters racing ---------------------------------------------------------------------------
def test_two_starters_racing_end_with_one_service(guards, data_dir):
    a, b = guards.start(), guards.start()
    loser = wait_for(
        lambda: next((p for p in (a, b) if p.poll() is not None), None), 30, "one of the starters exits"
    )
    winner = b if loser is a else a
    assert loser.returncode == 0
    assert winner.poll() is None
    assert one_healthy_service(data_dir) == winner.pid
    assert guard_client.read_endpoint(data_dir).pid == winner.pid


def test_a_burst_of_spawns_ends_with_one_service(guards, data_dir, env):
    # from another process, as hooks do (the starters outlive it)
    burst = (
        "from pathlib import Path\nfrom task_orchestrator.guard_client import spawn\n"
        f"for _ in range(3): spawn(Path({str(data_dir)!r}))"
    )
    subprocess.run([sys.executable, "-c", burst], env=env, check=True, timeout=60)
    pid = one_healthy_service(data_dir)
    assert guard_client.read_endpoint(data_dir).pid == pid


# -- 7: failures are never lost -------------------------------------------------------------------
def test_failures_reach_the_table_whatever_the_service_does(service, guards, data_dir, env, ws):
    commands = [f"python -m pytest tests/test_api.py::test_case_{n}" for n in range(4)]

    hook("post-tool-use", failed(commands[0], ws, 0), env, wait_s=3.0)  # service up
    assert calls(data_dir, "post-tool-use") == 1

    service.kill()  # killed between two events
    service.wait(timeout=10)
    hook("post-tool-use", failed(commands[1], ws, 1), env, wait_s=3.0)
    assert [f for f in fallbacks(data_dir) if f.startswith("post-tool-use: ")]

    one_healthy_service(data_dir, not_pid=service.pid)  # the fallback started another
    hook("post-tool-use", failed(commands[2], ws, 2), env, wait_s=3.0)
    assert calls(data_dir, "post-tool-use") == 1

    stop = subprocess.run(
        [sys.executable, "-m", "task_orchestrator.cli", "guard", "stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    hook("post-tool-use", failed(commands[3], ws, 3), env, wait_s=3.0)  # service absent
    assert "post-tool-use: absent" in fallbacks(data_dir)

    assert set(commands) <= stored_actions(data_dir)


# -- 8: hostile requests ----------------------------------------------------------------------------
def raw(data_dir: Path, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` as one client, end the sending side, and read the reply to its end."""
    port = guard_client.read_endpoint(data_dir).port
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the service may drop us before all is sent
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                reply += chunk
    return reply


def header(
    data_dir: Path, verb: str, size: int, *, secret: str | None = None, version: str = __version__
) -> bytes:
    ep = guard_client.read_endpoint(data_dir)
    return f"{PROTOCOL} {ep.secret if secret is None else secret} {version} {verb} {size}\n".encode()


def still_answers(data_dir: Path, pid: int) -> None:
    """The service answers, and sooner than a service held up by one client could: that
    one is dropped only after READ_TIMEOUT_S (5 s)."""
    t0 = time.monotonic()
    assert ping(data_dir) == (__version__, pid)
    assert time.monotonic() - t0 < 3.0


def test_hostile_requests_get_an_error_or_are_dropped(service, data_dir, ws):
    body = json.dumps(pre("rm -rf ~", ws)).encode()
    wrong = "0" * 64

    reply = raw(data_dir, header(data_dir, "pre-tool-use", len(body), secret=wrong) + body)
    assert reply == b"denied wrong secret\n"  # and no decision, no hint of one
    still_answers(data_dir, service.pid)
    assert raw(data_dir, header(data_dir, "status", 0, secret=wrong)) == b"denied wrong secret\n"
    assert raw(data_dir, header(data_dir, "shutdown", 0, secret="")) == b"denied wrong secret\n"
    still_answers(data_dir, service.pid)

    for malformed in (
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"TO1 onlythree fields\n",
        b"TO2 " + header(data_dir, "ping", 0)[4:],
        header(data_dir, "ping", 0).replace(b" 0\n", b" -1\n"),
        header(data_dir, "ping", 0).replace(b" 0\n", b" 0x10\n"),
    ):
        assert raw(data_dir, malformed).startswith(b"invalid "), malformed
        still_answers(data_dir, service.pid)
    # digits str.isdigit() accepts and int() does not: refused or dropped, never served
    for size in ("\u00b2", "\u0663\u0660"):
        assert raw(data_dir, header(data_dir, "status", 0).replace(b" 0\n", f" {size}\n".encode())) in (
            b"",
            b"invalid not a guard request\n",
        )
        still_answers(data_dir, service.pid)

    over = raw(data_dir, header(data_dir, "pre-tool-use", MAX_BODY + 1) + b"{}")
    assert over.startswith(b"invalid request over")
    still_answers(data_dir, service.pid)

    for bad in (b"rm -rf ~", b"[1, 2]", b"\xff\xfe{}", b'{"tool_name": '):
        reply = raw(data_dir, header(data_dir, "pre-tool-use", len(bad)) + bad)
        assert reply.startswith(b"invalid hook input"), (bad, reply)
        still_answers(data_dir, service.pid)

    assert raw(data_dir, header(data_dir, "frobnicate", 0)).startswith(b"invalid unknown request")
    assert (
        raw(data_dir, header(data_dir, "status", 0, version="0.0.1")) == f"version {__version__}\n".encode()
    )
    still_answers(data_dir, service.pid)

    # a header past 512 bytes is dropped without an answer, whatever follows
    assert raw(data_dir, b"TO1 " + b"A" * 600 + b"\n") == b""
    assert raw(data_dir, header(data_dir, "ping", 0)[:-1] + b" " * 600 + b"\n") == b""
    # a body shorter than announced, then the end: dropped
    assert raw(data_dir, header(data_dir, "pre-tool-use", 1000) + body[:10]) == b""
    still_answers(data_dir, service.pid)
    assert status(data_dir)["calls"] == {}  # nothing above reached a hook


def test_a_stranger_on_a_dead_service_port_does_not_decide(guards, data_dir, env, ws):
    """A service killed by SIGKILL or the OOM killer leaves its endpoint behind; whoever binds
    its port next (another local user's process, once the port is free) must not get to allow
    calls by answering "ok"."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stranger = socket.create_server(("127.0.0.1", 0))
    stranger.settimeout(10)
    guard_client.runtime_dir(data_dir, create=True)
    guard_client.endpoint_path(data_dir).write_text(
        f"{stranger.getsockname()[1]} {'5' * 64} {__version__} {dead.pid}\n"
    )
    got = []

    def answer_ok() -> None:  # "ok", and nothing to say: the call is allowed
        with contextlib.suppress(OSError):
            conn, _ = stranger.accept()
            with conn:
                got.append(conn.recv(65536))
                conn.sendall(b"ok\n")

    thread = threading.Thread(target=answer_ok, daemon=True)
    thread.start()
    try:
        proc = hook("pre-tool-use", pre("rm -rf ~", ws), env, wait_s=0.5)
        assert decision(proc) == "deny", f"the stranger received {got[:1]!r} and allowed rm -rf ~"
    finally:
        stranger.close()
        thread.join(15)


def test_silent_clients_do_not_hold_up_the_others(service, data_dir, env, ws):
    port = guard_client.read_endpoint(data_dir).port
    loris = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    try:
        loris[0].sendall(b"TO1 ")  # half a header, then nothing
        for _ in range(3):
            still_answers(data_dir, service.pid)
        assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env, wait_s=0.5)) == "deny"
        assert calls(data_dir, "pre-tool-use") == 1  # served within 0.5 s, not judged in-process
        assert fallbacks(data_dir) == []
    finally:
        for s in loris:
            s.close()


@contextlib.contextmanager
def all_connections_taken(data_dir: Path):
    """Hold as many idle connections as the service serves at once, until it answers busy."""
    from task_orchestrator.guard import MAX_CONNECTIONS

    port = guard_client.read_endpoint(data_dir).port
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))

        def busy() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                return s.recv(100).startswith(b"busy ")

        wait_for(busy, 10, "a connection past the limit is answered busy")
        yield
    finally:
        for s in held:
            s.close()


def test_too_many_connections_get_busy_and_the_client_still_decides(service, data_dir, env, ws):

    with all_connections_taken(data_dir):
        assert decision(hook("pre-tool-use", pre("rm -rf ~", ws), env, wait_s=0.5)) == "deny"
        assert "pre-tool-use: busy" in fallbacks(data_dir)
    still_answers(data_dir, service.pid)
    assert guard_pids(data_dir) == [service.pid]  # busy is no reason to start another
    assert status(data_dir)["refused"]["busy"] >= 2


def test_a_large_request_refused_early_still_gets_a_decision(service, data_dir, env, ws):
    """A service that answers before reading the whole request (busy, over the size limit)
    closes on a client still writing it: the client must judge in-process, not die of
    SIGPIPE (Claude Code runs the tool call when a hook dies)."""

    event = pre("rm -rf ~", ws)
    event["tool_input"]["description"] = "clean up " * 250_000  # 2.2 MB: more than a socket buffers
    with all_connections_taken(data_dir):
        proc = subprocess.run(
            [HOOK, "pre-tool-use", "3"],
            input=json.dumps(event),
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 0, f"the thin client died (exit {proc.returncode}): {proc.stderr}"
        assert decision(proc) == "deny"


def test_runtime_files_are_private_and_loopback_only(service, data_dir):
    rt = guard_client.runtime_dir(data_dir)
    assert stat.S_IMODE(rt.stat().st_mode) == 0o700
    assert stat.S_IMODE(guard_client.endpoint_path(data_dir).stat().st_mode) == 0o600
    rt.chmod(0o755)  # opened up by hand: closed again before it is used
    guard_client.runtime_dir(data_dir)
    assert stat.S_IMODE(rt.stat().st_mode) == 0o700

    port = guard_client.read_endpoint(data_dir).port
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    listening.append(local.rsplit(":", 1)[0])
    if not listening:
        pytest.skip("no /proc/net/tcp to read the listening address from")
    assert listening == ["0100007F"]  # 127.0.0.1, nothing else


_VERBS = st.sampled_from([*EVENTS, "ping", "status", "frobnicate", ""]) | st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\n "), max_size=20
).filter(lambda v: v not in ("shutdown", "mcp"))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
# hook events of random shape (no Write/Edit: their advice may ask a package registry)
_hook_json = st.fixed_dictionaries(
    {},
    optional={
        "session_id": st.text(max_size=40) | _JSON,
        "cwd": st.sampled_from(["/", "/tmp", "relative", ""]) | _JSON,
        "hook_event_name": st.sampled_from(["PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop"]),
        "tool_name": st.sampled_from(["Bash", "Read", "Grep", "mcp__db__query", "Task"]) | _JSON,
        "tool_input": st.fixed_dictionaries({}, optional={"command": st.text(max_size=80) | _JSON}) | _JSON,
        "tool_response": _JSON,
        "error": st.text(max_size=80) | _JSON,
        "stop_hook_active": _JSON,
    },
).map(lambda d: json.dumps(d).encode())


@st.composite
def _requests(draw, secret: str) -> bytes:
    kind = draw(st.sampled_from(["bytes", "header", "request"]))
    if kind == "bytes":  # anything at all
        return draw(st.binary(max_size=2000))
    if kind == "header":  # a header of random fields, right or wrong secret
        fields = draw(st.lists(st.text(max_size=40), max_size=7))
        if fields and draw(st.booleans()):
            fields[min(1, len(fields) - 1)] = secret
        return " ".join(fields).encode("utf-8", "surrogatepass") + b"\n" + draw(st.binary(max_size=200))
    verb = draw(_VERBS)  # a well-formed request with a random verb and body
    body = draw(st.binary(max_size=500) | st.text(max_size=300).map(str.encode) | _hook_json)
    size = draw(st.sampled_from([len(body), len(body) + 1, max(0, len(body) - 1), 0]))
    return f"{PROTOCOL} {secret} {__version__} {verb} {size}\n".encode() + body


def test_random_requests_never_take_the_service_down(service, data_dir):
    secret = guard_client.read_endpoint(data_dir).secret

    @hsettings(
        max_examples=50,
        deadline=None,
        database=None,  # nothing written outside tmp_path
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(request=_requests(secret))
    def one(request: bytes) -> None:
        reply = raw(data_dir, request)
        word = reply.split(b"\n", 1)[0].split(b" ", 1)[0]
        assert word in (b"", b"ok", b"denied", b"invalid", b"version", b"failed"), reply[:200]
        assert service.poll() is None
        assert ping(data_dir) == (__version__, service.pid)

    one()
    assert guard_client.read_endpoint(data_dir).pid == service.pid


# -- 9-11: lifetime and unreadable input -----------------------------------------------------------
def test_idle_service_exits_and_removes_its_endpoint(guards, data_dir):
    proc = guards.up("--idle-s", "1")
    assert proc.wait(timeout=15) == 0
    assert not guard_client.endpoint_path(data_dir).exists()
    assert not guard_pids(data_dir)


GUARD_CLI = [sys.executable, "-m", "task_orchestrator.cli", "guard"]


def test_guard_stop_stops_it_and_status_says_so(guards, data_dir, env):
    cli = GUARD_CLI
    start = subprocess.run([*cli, "start"], env=env, capture_output=True, text=True, timeout=60)
    assert start.returncode == 0 and "guard service: running" in start.stdout, start.stdout + start.stderr
    pid = one_healthy_service(data_dir)
    stop = subprocess.run([*cli, "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert f"stopped the guard service (pid {pid})" in stop.stdout
    assert not alive(pid)
    assert not guard_client.endpoint_path(data_dir).exists()
    st_ = subprocess.run([*cli, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(st_.stdout)["running"] is False
    text = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert "not running" in text.stdout


def test_guard_stop_of_a_service_its_parent_has_not_reaped_yet(service, data_dir, env):
    """The MCP relay (``task-orchestrator serve``, alive for the whole Claude Code session)
    spawns the service as its child and never waits for it: once stopped, the service is a
    zombie until then. ``guard stop`` should still see that it stopped."""
    stop = subprocess.run([*GUARD_CLI, "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert not guard_client.endpoint_path(data_dir).exists()
    assert _stat_state(service.pid) == "Z"  # it has exited; its parent (this test) has not reaped it
    assert stop.returncode == 0, stop.stdout
    assert f"stopped the guard service (pid {service.pid})" in stop.stdout


@pytest.mark.parametrize("up", [True, False], ids=["service-up", "service-absent"])
@pytest.mark.parametrize("payload", ["not json {", "[1, 2, 3]", "\x00\xff"], ids=["text", "array", "binary"])
def test_unreadable_hook_input_never_blocks(up, payload, guards, data_dir, env):
    if up:
        guards.up()
    t0 = time.monotonic()
    proc = hook("pre-tool-use", payload, env, wait_s=0.5)  # asserts exit code 0
    assert proc.stdout == ""
    assert time.monotonic() - t0 < 5.0
