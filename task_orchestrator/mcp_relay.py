"""``task-orchestrator serve``: the MCP server as Claude Code starts it, relayed to the guard service.

Standard library only, so the client's first message reaches a server that is already warm
(the SDK imported, the service open) a few tens of milliseconds after it spawned this process:
it connects to the user's guard service (starting it when it is not running) and copies
newline-delimited JSON-RPC between its stdio and that connection. Should the service not come
up, the SDK server runs in this process instead (``mcp_server.main``), so the tools are there
either way; the hooks never depend on this process.

When the service goes away mid-session (killed, or replaced by another version), the relay
connects to its successor: requests that were under way get an error saying to try again, and
a session that began with ``initialize`` (the older handshake) is initialized again, its answer
kept from the client, so the session goes on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading

from task_orchestrator import guard_client
from task_orchestrator.guard_client import GuardUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["main", "relay"]

START_WAIT_S = 15.0  # a cold service imports the SDK before it answers: ~1-2 s here
_REINIT_ID = "task-orchestrator-relay-reinitialize"
# Tools that change nothing: a call of one that was under way when the service went away is
# sent again to its successor; any other call may have run, so the client is told to retry.
_READ_ONLY_TOOLS = ("check_action", "search_memory", "verify_output", "list_approvals", "status")


def _repeatable(msg: dict) -> bool:
    if msg.get("method") != "tools/call":
        return True  # listing, discovery, pings: nothing changes
    params = msg.get("params")
    return isinstance(params, dict) and params.get("name") in _READ_ONLY_TOOLS


def _connect(*, start: bool) -> socket.socket | None:
    data_dir = guard_client.data_dir_of()
    env = guard_client.env_fingerprint().encode()
    try:
        return guard_client.connect(data_dir, "mcp", env, timeout=2.0)
    except GuardUnavailable as exc:
        if exc.reason in ("denied", "invalid", "env") or not start:
            print(f"task-orchestrator serve: the guard service refused ({exc})", file=sys.stderr)
            return None
    try:
        guard_client.spawn_soon(data_dir, every_s=0)
    except OSError as exc:
        print(f"task-orchestrator serve: cannot start the guard service ({exc})", file=sys.stderr)
        return None
    if not guard_client.wait_until_up(data_dir, START_WAIT_S):
        return None
    try:
        return guard_client.connect(data_dir, "mcp", env, timeout=2.0)
    except GuardUnavailable as exc:
        print(f"task-orchestrator serve: the guard service refused ({exc})", file=sys.stderr)
        return None


def _message(line: bytes) -> dict | None:
    try:
        msg = json.loads(line)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


class _Relay:
    """Client lines to the current connection, its lines back to stdout; a new connection
    when the service goes away."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.generation = 0
        self.changed = threading.Condition()
        # requests sent on this connection and not answered yet: id -> (line, repeatable)
        self.pending: dict[str, tuple[bytes, bool]] = {}
        self.handshake: list[bytes] = []  # the client's initialize and initialized, if it used them
        self.stdin_open = True
        self.down = False  # the connection ended: hold what the client sends for the next one

    # -- client to service ------------------------------------------------------------------
    def pump_stdin(self) -> None:
        buf = b""
        try:
            while data := os.read(0, 65536):
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._forward(line + b"\n")
        except OSError:
            pass
        with self.changed:
            self.stdin_open = False
            self.changed.notify_all()
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _forward(self, line: bytes) -> None:
        msg = _message(line)
        if msg is not None and msg.get("method") in ("initialize", "notifications/initialized"):
            self.handshake.append(line)
        key = json.dumps(msg["id"]) if msg is not None and "method" in msg and "id" in msg else None
        while True:
            with self.changed:  # never held while sending: the answers must keep flowing
                if self.down and not self.changed.wait_for(lambda: not self.down, timeout=60):
                    return
                sock, generation = self.sock, self.generation
                if key is not None and msg is not None:  # before it is sent: its answer cannot come first
                    self.pending[key] = (line, _repeatable(msg))
            try:
                sock.sendall(line)
                return
            except OSError:  # the service went away: wait for its successor, then send it there
                with self.changed:
                    self.pending.pop(key or "", None)
                    if not self.changed.wait_for(self._moved_on(generation), timeout=60):
                        return

    def _moved_on(self, generation: int) -> Callable[[], bool]:
        return lambda: self.generation != generation

    # -- service to client ------------------------------------------------------------------
    def pump_socket(self) -> None:
        while True:
            self._copy_answers()
            with self.changed:
                self.down = True
                if not self.stdin_open:
                    return
            if not self._reconnect():
                return

    def _copy_answers(self) -> None:
        buf = b""
        try:
            while data := self.sock.recv(65536):
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    msg = _message(line)
                    if msg is not None and "method" not in msg and "id" in msg:
                        if msg["id"] == _REINIT_ID:
                            continue  # the answer to our own re-initialize
                        with self.changed:
                            self.pending.pop(json.dumps(msg["id"]), None)
                    _write(line + b"\n")
        except OSError:
            pass

    def _reconnect(self) -> bool:
        print("task-orchestrator serve: the guard service went away; reconnecting", file=sys.stderr)
        sock = _connect(start=True)
        if sock is None:
            return False
        sock.settimeout(None)
        with self.changed:
            for line in self.handshake:
                msg = _message(line)
                if msg is not None and msg.get("method") == "initialize":
                    line = json.dumps({**msg, "id": _REINIT_ID}).encode() + b"\n"
                sock.sendall(line)
            for key, (line, repeatable) in list(self.pending.items()):
                if repeatable:
                    sock.sendall(line)
                else:
                    del self.pending[key]
                    _write(_error(json.loads(key)))
            self.sock.close()
            self.sock = sock
            self.generation += 1
            self.down = False
            self.changed.notify_all()
        return True


def _error(request_id: object) -> bytes:
    error = {
        "code": -32603,
        "message": "task-orchestrator's guard service restarted while this request ran; try it again",
    }
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode() + b"\n"


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def _exit_now(*_: object) -> None:
    os._exit(0)


def relay(sock: socket.socket) -> None:
    """Copy stdin to the service and its answers to stdout until the client or the service
    (with no successor) ends the session."""
    # The client ends a session with SIGINT and waits for the process: nothing is buffered
    # here (answers go out with os.write), so exit at once rather than unwind the interpreter.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_now)
    sock.settimeout(None)
    r = _Relay(sock)
    threading.Thread(target=r.pump_stdin, daemon=True).start()
    try:
        r.pump_socket()
    finally:
        r.sock.close()


def main() -> int:
    sock = _connect(start=True)
    if sock is None:
        print("task-orchestrator serve: no guard service; serving in this process", file=sys.stderr)
        from task_orchestrator.mcp_server import main as serve_here

        serve_here()
        return 0
    relay(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
