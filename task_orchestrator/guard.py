"""The guard service: one long-lived process per user and data directory.

It keeps what is expensive warm for every Claude Code session of that user: the risk rules
compiled, the failure table open, and (once a failure is stored) the embedding model and the
vector index, whose one writer it is. It answers the thin hook client
(``task-orchestrator-hook``), the MCP relay (``task-orchestrator serve``) and the CLI
(``guard status|stop``) on a loopback port guarded by a secret in a private runtime directory
(``guard_client`` describes the protocol). Each connection is served by its own thread, so a
similarity search or a Stop check of one session never holds up a rule check of another.

Exactly one runs per data directory: it holds an exclusive lock on ``guard/lock`` for its
lifetime. A starter that finds the lock held asks the holder: a healthy service of its version
is left alone; one of another version is asked to stop; one that does not answer is killed;
then the starter takes over. Starters queue on ``guard/start.lock``, so two hooks racing to
start it end with one service. It exits after ``--idle-s`` seconds with no request and no MCP
session open (``TASK_ORCHESTRATOR_GUARD_IDLE_S``, default 1800).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import hmac
import json
import logging
import os
import queue
import re
import secrets
import signal
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_orchestrator import guard_client
from task_orchestrator._version import __version__
from task_orchestrator.events import EVENTS, config_from_env, handle, read_event
from task_orchestrator.guard_client import MAX_BODY, MAX_HEADER, PROTOCOL, Endpoint, GuardUnavailable

if TYPE_CHECKING:
    from task_orchestrator._state import AppState
    from task_orchestrator.settings import Settings

__all__ = ["Guard", "main"]

log = logging.getLogger("task_orchestrator.guard")

MAX_CONNECTIONS = 256  # beyond this a request is answered "busy" and its client judges in-process
WORKERS = 16  # threads answering requests: a slow one (a Stop check) never holds up the rest
SEARCH_WAIT_S = 0.25  # a similarity search that cannot start by then is skipped (it is advice)
READ_TIMEOUT_S = 5.0  # a request's header and body must arrive within this (a slow client is dropped)
DEFAULT_IDLE_S = 1800.0


class BadRequest(ValueError):
    """A request the service refuses (its client is told why and judges in-process)."""


class _Similarity:
    """The similarity search, loaded in the background once a failure is stored: until then
    decisions come from exact repeats and the rules (the agent is not told: nothing of its
    own could have matched, or the model is still loading; ``status`` says which).

    One search (or background embedding) runs at a time, on one core: the rule checks of the
    other sessions keep the rest of the machine. A search that cannot start within
    ``SEARCH_WAIT_S`` is skipped (similarity is advice; exact repeats and the rules still
    decide) and counted for ``status``."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._slot = threading.Semaphore(1)
        self.skipped = 0
        self._ready = threading.Event()
        self._loader: threading.Thread | None = None
        self._embedder_thread: threading.Thread | None = None
        self._pending = threading.Event()
        self._closing = False
        self._lock = threading.Lock()
        self.error = ""

    @property
    def state(self) -> str:
        if self._ready.is_set():
            return "loaded"
        if self._loader is not None and self._loader.is_alive():
            return "loading"
        return f"failed: {self.error}" if self.error else "not loaded (no failure stored)"

    def search(self) -> Any:
        if not self._ready.is_set():
            return None
        service = self._state.service()

        def similar(action: str, kind: str, workspace: str) -> list[tuple[dict[str, Any], float]]:
            if not service.memory.store.has_failures(workspace, kind):
                return []  # nothing could match: no search, and no wait for one
            if not self._slot.acquire(timeout=SEARCH_WAIT_S):
                self.skipped += 1
                return []
            try:
                return service.similar_rows(action, kind, workspace)
            except Exception as exc:  # advice only: exact repeats and rules still decide
                log.warning("similarity search failed: %s", exc)
                return []
            finally:
                self._slot.release()

        return similar

    def learned(self) -> None:
        """A failure was stored: load the search, or embed the new row in the background, so
        the next session's search does not do it on a hook's path."""
        if not self._ready.is_set():
            self.load_soon()
            return
        self._pending.set()
        with self._lock:
            if self._embedder_thread is None:
                self._embedder_thread = threading.Thread(target=self._embed_pending, daemon=True)
                self._embedder_thread.start()

    def _embed_pending(self) -> None:
        memory = self._state.service().memory
        while self._pending.wait() and not self._closing:
            self._pending.clear()
            with self._slot:
                memory._catch_up()  # logs and goes on when it cannot embed

    def load_soon(self) -> None:
        with self._lock:
            if self._loader is not None or self._ready.is_set():
                return
            self._loader = threading.Thread(target=self._load, name="similarity-load", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        from task_orchestrator.memory import embeddings

        # a search must leave a core to the rule checks of the other sessions
        embeddings.MAX_THREADS = max(1, (os.cpu_count() or 2) - 1)
        try:
            service = self._state.service()
            service.load_similarity()
            if self._closing:
                return
            service.memory._catch_up()  # rows the hooks stored meanwhile: not on a search's path
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("loading the similarity search failed (%s); checks use exact repeats and rules", exc)
            return
        self._ready.set()

    def load_now(self) -> None:
        """Load it in this thread (tests and benchmarks that need similarity from the start)."""
        self.load_soon()
        self.join(300)

    def join(self, timeout: float) -> None:
        if self._loader is not None:
            self._loader.join(timeout)

    def stop(self, timeout: float) -> None:
        """Wait for the loader and the background embedding: never close a memory they use."""
        self._closing = True
        self._pending.set()
        self.join(timeout)
        if self._embedder_thread is not None:
            self._embedder_thread.join(timeout)


class Guard:
    """What one service process holds and how it answers a request (no sockets here)."""

    def __init__(
        self, data_dir: Path, *, idle_s: float = DEFAULT_IDLE_S, settings: Settings | None = None
    ) -> None:
        from task_orchestrator._state import AppState
        from task_orchestrator.hooks import HookConfig
        from task_orchestrator.settings import Settings

        self.data_dir = data_dir
        self.idle_s = idle_s
        if settings is None:
            self.config = config_from_env()
            self.config.data_dir = data_dir
            settings = Settings(data_dir=data_dir)
        else:  # a library caller's settings (tests, benchmarks): the hooks see the same
            self.config = HookConfig.from_settings(settings)
        self.store = self.config.open_store(create=True)
        self.state = AppState(settings)
        self.similarity = _Similarity(self.state)
        self.started = time.time()
        self.env = guard_client.env_fingerprint()
        self.sessions: set[str] = set()
        self.calls: collections.Counter[str] = collections.Counter()
        self.refused: collections.Counter[str] = collections.Counter()
        self._mcp: Any = None
        self._lock = threading.Lock()  # the counters: held for microseconds
        self._mcp_lock = threading.Lock()  # building the SDK server (~0.6 s to import it)
        self.active = 0
        self.mcp_sessions = 0
        self.last_request = time.monotonic()
        self.stopping = threading.Event()

    # -- lifetime ----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """The rules and the shell parser now; the similarity search if a failure is stored;
        the MCP SDK, so that a session's ``initialize`` is answered at once."""
        from task_orchestrator.risk.text import rule_level

        rule_level("cd /tmp && ls -la | head -n 3")
        if self.store is not None and not self.store.empty():
            self.similarity.load_soon()
        self.mcp_server()

    def enter(self) -> bool:
        with self._lock:
            if self.active >= MAX_CONNECTIONS:
                return False
            self.active += 1
            self.last_request = time.monotonic()
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1
            self.last_request = time.monotonic()

    def idle(self) -> bool:
        with self._lock:
            busy = self.active or self.mcp_sessions
            return not busy and time.monotonic() - self.last_request > self.idle_s

    def close(self) -> None:
        self.similarity.stop(30)
        self.state.close()
        if self.store is not None:
            self.store.close()

    # -- requests ----------------------------------------------------------------------------
    def answer(self, verb: str, body: bytes) -> bytes:
        """The answer to one request (``BadRequest`` for what cannot be answered)."""
        if verb in EVENTS:
            try:
                event = read_event(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise BadRequest(f"hook input is not a JSON object ({exc})") from exc
            return self.hook(verb, event)
        if verb == "ping":
            return f"{__version__} {os.getpid()}".encode()
        if verb == "status":
            return json.dumps(self.status()).encode()
        if verb == "shutdown":
            self.stopping.set()
            return b"stopping"
        raise BadRequest(f"unknown request {verb[:40]!r}")

    def hook(self, name: str, event: dict[str, Any]) -> bytes:
        out = self.decide(name, event)
        return json.dumps(out).encode() if out is not None else b""

    def decide(self, name: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to one hook event (Claude Code's JSON, or None for nothing to say)."""
        session = str(event.get("session_id") or "")
        with self._lock:
            self.calls[name] += 1
            if session:
                self.sessions.add(session[:100])
        out = handle(name, event, self.config, self.store, self.similarity.search())
        if name == "post-tool-use" and self.store is not None:
            from task_orchestrator.hooks import failure_of

            if event.get("tool_name") == "Bash" and failure_of(event) is not None:
                self.similarity.learned()  # the next checks have something to compare with
        return out

    def status(self) -> dict[str, Any]:
        since_start: collections.Counter[str] = collections.Counter()
        day: collections.Counter[str] = collections.Counter()
        if self.store is not None:
            with contextlib.suppress(Exception):
                for e in self.store.events(time.time() - 86400):
                    if e["event"] == "fallback":
                        why = str(e["detail"]).split(": ", 1)[-1].split(":")[0]
                        day[why] += 1
                        if e["ts"] >= self.started:
                            since_start[why] += 1
        with self._lock:
            return {
                "pid": os.getpid(),
                "version": __version__,
                "data_dir": str(self.data_dir),
                "started": self.started,
                "uptime_s": round(time.time() - self.started, 1),
                "sessions": len(self.sessions),
                "calls": dict(self.calls),
                "refused": dict(self.refused),
                "fallbacks_since_start": dict(since_start),
                "fallbacks_24h": dict(day),
                "similarity": self.similarity.state,
                "similarity_skipped_busy": self.similarity.skipped,
                "connections": self.active,
                "mcp_sessions": self.mcp_sessions,
                "idle_exit_s": self.idle_s,
            }

    # -- MCP sessions ------------------------------------------------------------------------
    def mcp_server(self) -> Any:
        """The SDK server every relayed MCP session shares (with this process's service)."""
        with self._mcp_lock:
            if self._mcp is None:
                from task_orchestrator.mcp_server import build_server

                self._mcp = build_server(state=self.state)
            return self._mcp

    def serve_mcp(self, sock: socket.socket) -> None:
        """One MCP session over ``sock`` (the relay's stdio), until either side closes it."""
        import anyio

        from task_orchestrator.mcp_server import serve_stream

        with self._lock:
            self.mcp_sessions += 1
        try:
            sock.settimeout(None)
            anyio.run(serve_stream, self.mcp_server(), sock)
        except Exception as exc:  # one session's end never stops the service
            log.info("MCP session ended: %s: %s", type(exc).__name__, exc)
        finally:
            sock.close()
            with self._lock:
                self.mcp_sessions -= 1
                self.last_request = time.monotonic()


class _Server(socketserver.TCPServer):
    """Accepts on one thread and hands each connection to an idle worker of a pool (a thread
    started per request costs about a tenth of a millisecond, a fifth of a rule check), or,
    when every worker is busy (slow clients, Stop checks), to a thread of its own, so no
    request waits for another."""

    allow_reuse_address = False
    request_queue_size = 1024  # a full queue drops connections silently: bash's connect waits minutes

    def __init__(self, guard: Guard, secret: str, token: str) -> None:
        self.guard, self.secret, self.token = guard, secret, token
        self.ok = f"ok {token}\n".encode()
        self.waiting: queue.SimpleQueue[tuple[socket.socket, Any]] = queue.SimpleQueue()
        self.idle_workers = 0
        self._detached: set[int] = set()
        self._idle_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        for i in range(WORKERS):
            threading.Thread(target=self._work, name=f"guard-worker-{i}", daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._idle_lock:
            pooled = self.idle_workers > 0
            if pooled:
                self.idle_workers -= 1
        if pooled:
            self.waiting.put((request, client_address))
        else:
            threading.Thread(target=self._answer, args=(request, client_address), daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._idle_lock:
                self.idle_workers += 1
            self._answer(*self.waiting.get())

    def _answer(self, request: Any, address: Any) -> None:
        try:
            self.finish_request(request, address)
        except Exception:
            log.exception("a request failed")
        finally:
            with self._idle_lock:
                detached = id(request) in self._detached
                self._detached.discard(id(request))
            if not detached:
                self.shutdown_request(request)

    def detach(self, request: socket.socket) -> None:
        """Leave ``request`` open when its handler returns (an MCP session's thread owns it)."""
        with self._idle_lock:
            self._detached.add(id(request))


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        guard, sock = self.server.guard, self.request
        sock.settimeout(READ_TIMEOUT_S)
        if not guard.enter():
            self._refuse(guard, "busy", "too many connections")
            return
        try:
            self._serve(guard, sock)
        except (TimeoutError, ConnectionError) as exc:
            guard.refused["slow or dropped"] += 1
            log.info("a client was dropped: %s", exc)
        except OSError as exc:
            log.info("connection error: %s", exc)
        finally:
            guard.leave()

    def _refuse(self, guard: Guard, word: str, detail: str) -> None:
        guard.refused[word] += 1
        with contextlib.suppress(OSError):
            self.request.sendall(f"{word} {detail}\n".encode())

    def _serve(self, guard: Guard, sock: socket.socket) -> None:
        header, start = _read_header(sock)
        parts = header.split(" ")
        if len(parts) != 5 or parts[0] != PROTOCOL or not (parts[4].isascii() and parts[4].isdigit()):
            self._refuse(guard, "invalid", "not a guard request")
            return
        _, secret, version, verb, size = parts
        if not hmac.compare_digest(secret.encode(), self.server.secret.encode()):
            self._refuse(guard, "denied", "wrong secret")
            return
        if version != __version__ and verb not in ("ping", "shutdown"):
            self._refuse(guard, "version", __version__)
            return
        if int(size) > MAX_BODY:
            self._refuse(guard, "invalid", f"request over {MAX_BODY} bytes")
            return
        body = _read_exact(sock, int(size), start)
        if verb == "mcp":
            if body.decode("ascii", "replace") != guard.env:
                self._refuse(guard, "env", "the session's settings differ from the service's")
                return
            sock.sendall(self.server.ok)
            # a session lasts as long as the client's: on a thread of its own, not a worker's
            self.server.detach(sock)
            threading.Thread(target=guard.serve_mcp, args=(sock,), name="mcp-session", daemon=True).start()
            return
        try:
            answer = guard.answer(verb, body)
        except BadRequest as exc:
            self._refuse(guard, "invalid", str(exc).replace("\n", " ")[:200])
            return
        except Exception as exc:  # a bug: this request fails, the service goes on
            log.exception("request %s failed", verb)
            self._refuse(guard, "failed", f"{type(exc).__name__}")
            return
        sock.sendall(self.server.ok + answer)
        if guard.stopping.is_set():
            threading.Thread(target=self.server.shutdown, daemon=True).start()


def _read_header(sock: socket.socket) -> tuple[str, bytes]:
    """The header line, and the bytes of the body that came with it (usually all of it)."""
    data = bytearray()
    while (end := data.find(b"\n")) < 0:
        if len(data) > MAX_HEADER:
            raise ConnectionError("header too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the end of the header")
        data += chunk
    if end > MAX_HEADER:
        raise ConnectionError("header too long")
    return data[:end].decode("utf-8", "replace"), bytes(data[end + 1 :])


def _read_exact(sock: socket.socket, size: int, start: bytes = b"") -> bytes:
    if len(start) > size:
        raise ConnectionError("more bytes than the header announced")
    data = bytearray(start)
    while len(data) < size:
        chunk = sock.recv(min(1 << 20, size - len(data)))
        if not chunk:
            raise ConnectionError("closed before the end of the body")
        data += chunk
    return bytes(data)


# -- starting, taking over, stopping ---------------------------------------------------------------
def _poll_lock(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


_GUARD_COMMAND = re.compile(rb"task_orchestrator\.guard\b|task[-_]orchestrator(?:\.cli)? guard run\b")


def _is_guard_process(pid: int) -> bool:
    """Whether ``pid`` is a guard service, started by a hook (``python -m
    task_orchestrator.guard``) or by hand (``task-orchestrator guard run``): an endpoint file
    may outlive its process and the pid be reused, so never signal a process that is not ours."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        import subprocess

        try:
            cmdline = subprocess.run(
                ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, timeout=5, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return _GUARD_COMMAND.search(cmdline) is not None


def _ping(data_dir: Path, timeout: float) -> tuple[str, int] | None:
    """(version, pid) of the service answering, or None."""
    try:
        ep = guard_client.read_endpoint(data_dir)
        reply = guard_client.exchange(ep, "ping", timeout=timeout)
    except (GuardUnavailable, OSError):
        return None
    lines = reply.decode("utf-8", "replace").split("\n", 1)
    # a service of this version proves itself with its token; another version's is only asked
    # its version (then asked to stop, or killed), never trusted with a decision
    if lines[0] != f"ok {ep.token}" and not (ep.version != __version__ and lines[0].split()[:1] == ["ok"]):
        return None
    if len(lines) < 2 or len(lines[1].split()) != 2:
        return None
    version, pid = lines[1].split()
    return version, int(pid)


def _take_over(data_dir: Path, lock_fd: int) -> bool:
    """The lock is held: leave a healthy service of this version, or make it go. True when
    this process now holds the lock and should serve."""
    answer = None
    deadline = time.monotonic() + 5.0
    while answer is None and time.monotonic() < deadline:  # it may be starting: give it time
        answer = _ping(data_dir, timeout=max(0.1, deadline - time.monotonic()))
        if answer is None and _poll_lock(lock_fd, 0.2):
            return True  # it exited meanwhile
    if answer is not None and answer[0] == __version__:
        print(f"a guard service of version {__version__} already runs (pid {answer[1]})", file=sys.stderr)
        return False
    if answer is not None:  # another version: ask it to stop
        print(f"stopping the guard service of version {answer[0]} (pid {answer[1]})", file=sys.stderr)
        _send_shutdown(data_dir)
    else:  # it does not answer: hung, or stopped by a signal
        with contextlib.suppress(GuardUnavailable):
            pid = guard_client.read_endpoint(data_dir).pid
            if pid != os.getpid() and _is_guard_process(pid):
                print(f"the guard service (pid {pid}) does not answer: killing it", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    return _poll_lock(lock_fd, 10.0)


def _send_shutdown(data_dir: Path) -> None:
    with contextlib.suppress(GuardUnavailable, OSError):
        guard_client.exchange(guard_client.read_endpoint(data_dir), "shutdown", timeout=2.0)


def _write_endpoint(rt: Path, endpoint: Endpoint) -> None:
    tmp = rt / f"endpoint.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(endpoint.line())
    os.replace(tmp, rt / "endpoint")


def _remove_endpoint(rt: Path) -> None:
    """Remove the endpoint file if it is this process's (a successor may have written its own)."""
    with contextlib.suppress(OSError, GuardUnavailable):
        if guard_client.read_endpoint(rt.parent).pid == os.getpid():
            (rt / "endpoint").unlink()


def serve(data_dir: Path, *, idle_s: float = DEFAULT_IDLE_S) -> int:
    """Become the service for ``data_dir`` (or leave the healthy one be); returns an exit code."""
    data_dir = data_dir.expanduser().absolute()
    rt = guard_client.runtime_dir(data_dir, create=True)
    os.chdir(rt)  # a project's .env never configures a service every project shares
    start_fd = os.open(rt / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
    lock_fd = os.open(rt / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _poll_lock(start_fd, 30.0):
            print("another start of the guard service is under way", file=sys.stderr)
            return 0
        try:
            if not _poll_lock(lock_fd, 0) and not _take_over(data_dir, lock_fd):
                return 0
            guard = Guard(data_dir, idle_s=idle_s)
            secret, token = secrets.token_hex(32), secrets.token_hex(16)
            server = _Server(guard, secret, token)
            _write_endpoint(rt, Endpoint(server.server_address[1], secret, __version__, os.getpid(), token))
        finally:
            fcntl.flock(start_fd, fcntl.LOCK_UN)
        log.info("guard service %s listening (pid %d, data %s)", __version__, os.getpid(), data_dir)
        return _run(guard, server, rt)
    finally:
        os.close(start_fd)
        os.close(lock_fd)  # releases the service lock


def _run(guard: Guard, server: _Server, rt: Path) -> int:
    # A rule check waits for the interpreter lock while a search's Python parts hold it: hand
    # it over every millisecond, not every five (the default), so a check is never queued long.
    sys.setswitchinterval(0.001)

    def stop(*_: object) -> None:
        guard.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal or session that started it went away

    def watch() -> None:
        while not guard.stopping.wait(min(30.0, max(0.5, guard.idle_s / 4))):
            if guard.idle():
                log.info("idle for %.0f s: exiting", guard.idle_s)
                stop()

    threading.Thread(target=watch, name="idle-watch", daemon=True).start()
    threading.Thread(target=_warm, args=(guard,), name="warm-up", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        _remove_endpoint(rt)
        server.server_close()
        guard.close()
    return 0


def _warm(guard: Guard) -> None:
    try:
        guard.warm_up()
    except Exception as exc:  # requests still work: each part loads on first use
        log.warning("warm-up failed (%s: %s)", type(exc).__name__, exc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m task_orchestrator.guard", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--idle-s", type=float, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s")
    idle = args.idle_s
    if idle is None:
        idle = float(os.environ.get("TASK_ORCHESTRATOR_GUARD_IDLE_S") or DEFAULT_IDLE_S)
    return serve(args.data_dir or guard_client.data_dir_of(), idle_s=idle)


if __name__ == "__main__":
    sys.exit(main())
