"""Reaching the guard service: where it listens, how to ask it, how to start it.

One guard service runs per user and data directory (``task_orchestrator.guard``). It listens
on a loopback port and answers only requests that carry the secret it wrote into a private
runtime directory, ``<data dir>/guard`` (mode 0700; the endpoint file 0600), so another local
user can neither read the secret nor get an answer. The endpoint file is one line the shell
client (``task-orchestrator-hook``) reads with a builtin: ``PORT SECRET VERSION PID TOKEN``.
The service answers with the token, which only the process that wrote the file knows: a
process listening on a dead service's port cannot pass for it.

The wire protocol, one request per connection::

    TO1 <secret> <client version> <verb> <body bytes>\\n<body>
    -> ok <token>\\n<answer>    (then the service closes the connection)
    -> <error word> <detail>\\n (denied, version, busy, invalid, failed, env)

``mcp`` is the one verb that keeps the connection: after ``ok`` it carries the MCP session's
JSON-RPC lines both ways (``task-orchestrator serve`` relays its stdio to it).

Standard library only: the hook fallback and ``serve`` import this on every start.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from pathlib import Path

from task_orchestrator._version import __version__

__all__ = [
    "MAX_BODY",
    "PROTOCOL",
    "Endpoint",
    "GuardUnavailable",
    "connect",
    "data_dir_of",
    "endpoint_path",
    "env_fingerprint",
    "exchange",
    "holds_lock",
    "read_endpoint",
    "request",
    "runtime_dir",
    "spawn",
    "spawn_soon",
    "wait_until_up",
]

PROTOCOL = "TO1"
MAX_BODY = 32 * 1024 * 1024  # a Write's content or a long tool output fits; more is refused
MAX_HEADER = 512


class Endpoint:
    """Where the service listens, the secret it answers to, its version and process id, and
    the token it answers with."""

    __slots__ = ("pid", "port", "secret", "token", "version")

    def __init__(self, port: int, secret: str, version: str, pid: int, token: str) -> None:
        self.port, self.secret, self.version, self.pid, self.token = port, secret, version, pid, token

    def line(self) -> str:
        return f"{self.port} {self.secret} {self.version} {self.pid} {self.token}\n"


class GuardUnavailable(Exception):
    """The service could not answer; ``reason`` is one word for the fallback log and ``guard
    status``: absent (no endpoint file), stale (its process is gone), refused (nothing
    listens), timeout, impostor (the port is answered without the service's token), or the
    service's own refusal (version, denied, busy, invalid, failed, env)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# What configures a service and its tools: a session whose MCP server was registered with other
# values (``claude mcp add -e OPENAI_API_KEY=...``) is served in its own process, not by a
# service started with different ones.
_CONFIG_PREFIXES = ("TASK_ORCHESTRATOR_", "OPENAI_", "GOOGLE_", "GEMINI_", "LANGSMITH_", "LANGCHAIN_")
_NOT_CONFIG = ("TASK_ORCHESTRATOR_DATA_DIR", "TASK_ORCHESTRATOR_GUARD_FALLBACK")


def env_fingerprint(env: dict[str, str] | None = None) -> str:
    """A hash of the settings and provider variables in ``env`` (no value leaves the process)."""
    from hashlib import blake2b

    items = (os.environ if env is None else env).items()
    pairs = sorted(f"{k}={v}" for k, v in items if k.startswith(_CONFIG_PREFIXES) and k not in _NOT_CONFIG)
    return blake2b("\0".join(pairs).encode(), digest_size=16).hexdigest()


def data_dir_of(env: dict[str, str] | None = None) -> Path:
    """The data directory the hooks use (as ``HookConfig`` reads it)."""
    value = (os.environ if env is None else env).get("TASK_ORCHESTRATOR_DATA_DIR")
    return Path(value or "~/.task-orchestrator").expanduser().absolute()


def runtime_dir(data_dir: Path, *, create: bool = False) -> Path:
    """``<data_dir>/guard``, private to this user (0700). Created when asked; a folder that
    another user owns, or that others can read, is refused rather than used."""
    d = data_dir / "guard"
    if create:
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            pass
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(f"{d} is not a folder of this user: remove it and start the guard again")
    if st.st_mode & 0o077:
        os.chmod(d, 0o700)  # ours, too open: close it before anything secret goes in
    return d


def endpoint_path(data_dir: Path) -> Path:
    return data_dir / "guard" / "endpoint"


def read_endpoint(data_dir: Path) -> Endpoint:
    try:
        text = endpoint_path(data_dir).read_text()
    except OSError as exc:
        raise GuardUnavailable("absent", "no guard service runs for this data directory") from exc
    # PORT SECRET VERSION first in every version, so another version's file still says which
    parts = text.split() + [""] * 5
    port, secret, version, pid, token = parts[:5]
    numbers = all(p.isascii() and p.isdigit() for p in (port, pid))
    if not numbers or not secret or not version or (version == __version__ and not token):
        raise GuardUnavailable("absent", "the endpoint file is unreadable")
    return Endpoint(int(port), secret, version, int(pid), token)


def connect(data_dir: Path, verb: str, body: bytes = b"", *, timeout: float = 1.0) -> socket.socket:
    """A connection to the service with ``verb`` sent and its ``ok`` read (the caller reads
    the answer, or for ``mcp`` the session). Raises ``GuardUnavailable``."""
    ep = read_endpoint(data_dir)
    if ep.version != __version__:
        raise GuardUnavailable("version", f"the service is {ep.version}, this client {__version__}")
    try:
        os.kill(ep.pid, 0)
    except ProcessLookupError as exc:
        raise GuardUnavailable("stale", f"the service (pid {ep.pid}) is gone") from exc
    except PermissionError as exc:  # a pid reused by another user's process
        raise GuardUnavailable("stale", f"pid {ep.pid} is not this user's service") from exc
    try:
        sock = _send(ep, verb, body, timeout)
    except TimeoutError as exc:
        raise GuardUnavailable("timeout", "connecting") from exc
    except OSError as exc:
        raise GuardUnavailable("refused", str(exc)) from exc
    try:
        status = _readline(sock)
    except TimeoutError as exc:
        sock.close()
        raise GuardUnavailable("timeout", f"no answer within {timeout:g} s") from exc
    except OSError as exc:
        sock.close()
        raise GuardUnavailable("refused", str(exc)) from exc
    if status != f"ok {ep.token}":
        sock.close()
        word, _, detail = status.partition(" ")
        if word == "ok":
            raise GuardUnavailable("impostor", f"port {ep.port} is not answered by the service")
        raise GuardUnavailable(word or "failed", detail or "the service closed the connection")
    return sock


def _send(ep: Endpoint, verb: str, body: bytes, timeout: float) -> socket.socket:
    """A connection to ``ep`` with one request sent (raises ``OSError``)."""
    sock = socket.create_connection(("127.0.0.1", ep.port), timeout=timeout)
    try:
        sock.sendall(f"{PROTOCOL} {ep.secret} {__version__} {verb} {len(body)}\n".encode() + body)
    except OSError:
        sock.close()
        raise
    return sock


def exchange(ep: Endpoint, verb: str, *, timeout: float) -> bytes:
    """Everything ``ep`` answers to ``verb``, judged by nobody: for talking to a service of
    another version (its version, a request to stop). Raises ``OSError``."""
    with _send(ep, verb, b"", timeout) as sock:
        reply = b""
        while chunk := sock.recv(256):
            reply += chunk
    return reply


def _readline(sock: socket.socket) -> str:
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
        if len(line) > MAX_HEADER:
            break
    return line.decode("utf-8", "replace").strip()


def request(data_dir: Path, verb: str, body: bytes = b"", *, timeout: float = 1.0) -> bytes:
    """The service's answer to one request. Raises ``GuardUnavailable``."""
    deadline = time.monotonic() + timeout
    sock = connect(data_dir, verb, body, timeout=timeout)
    chunks = []
    try:
        while True:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except TimeoutError as exc:
        raise GuardUnavailable("timeout", f"the answer took over {timeout:g} s") from exc
    except OSError as exc:
        raise GuardUnavailable("refused", str(exc)) from exc
    finally:
        sock.close()
    return b"".join(chunks)


def spawn(data_dir: Path) -> None:
    """Start a service for ``data_dir`` in the background and return at once. It takes over
    from a hung or outdated one, or exits if a healthy one runs (``guard.main``)."""
    rt = runtime_dir(data_dir, create=True)
    log = os.open(rt / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # posix_spawn, not Popen: nothing of the child is kept (it outlives this process),
        # and a new session keeps it out of reach of the client's signals
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "task_orchestrator.guard", "--data-dir", str(data_dir)],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(log)


def holds_lock(data_dir: Path) -> bool:
    """Whether a service holds the data directory's lock (one that has exited does not, even
    before its parent has reaped it)."""
    import fcntl

    try:
        fd = os.open(data_dir / "guard" / "lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases it if this took it
    return False


def spawn_soon(data_dir: Path, *, every_s: float = 3.0) -> bool:
    """``spawn`` unless one was started in the last ``every_s`` seconds (a burst of calls
    that find no service starts one, not one each). True if it started one."""
    data_dir = data_dir.expanduser().absolute()
    stamp = runtime_dir(data_dir, create=True) / "spawned"
    try:
        if time.time() - stamp.stat().st_mtime < every_s:
            return False
    except FileNotFoundError:
        pass
    stamp.touch()
    spawn(data_dir)
    return True


def wait_until_up(data_dir: Path, timeout: float) -> bool:
    """Whether a service of this version answers within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            request(data_dir, "ping", timeout=min(1.0, max(0.05, deadline - time.monotonic())))
            return True
        except GuardUnavailable:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
