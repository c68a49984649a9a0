"""``task-orchestrator serve``: the MCP server as Claude Code starts it, relayed to the guard service.

Standard library only, so the client's ``initialize`` reaches a server that is already warm
(the SDK imported, the service open) a few tens of milliseconds after it spawned this process:
it connects to the user's guard service (starting it when it is not running) and copies bytes
between its stdio and that connection. Should the service not come up, the SDK server runs in
this process instead (``mcp_server.main``), so the tools are there either way; the hooks never
depend on this process.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

from task_orchestrator import guard_client
from task_orchestrator.guard_client import GuardUnavailable

__all__ = ["main"]

START_WAIT_S = 15.0  # a cold service imports the SDK before it answers: ~1-2 s here


def _connect() -> socket.socket | None:
    data_dir = guard_client.data_dir_of()
    env = guard_client.env_fingerprint().encode()
    try:
        return guard_client.connect(data_dir, "mcp", env, timeout=2.0)
    except GuardUnavailable as exc:
        if exc.reason in ("denied", "invalid", "env"):
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


def _pump_stdin(sock: socket.socket) -> None:
    try:
        while data := os.read(0, 65536):
            sock.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(sock: socket.socket) -> None:
    """Copy stdin to ``sock`` and ``sock`` to stdout until either side ends."""
    sock.settimeout(None)
    threading.Thread(target=_pump_stdin, args=(sock,), daemon=True).start()
    try:
        while data := sock.recv(65536):
            view = memoryview(data)
            while view:
                view = view[os.write(1, view) :]
    except OSError:
        pass
    finally:
        sock.close()


def main() -> int:
    sock = _connect()
    if sock is None:
        print("task-orchestrator serve: no guard service; serving in this process", file=sys.stderr)
        from task_orchestrator.mcp_server import main as serve_here

        serve_here()
        return 0
    relay(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
