"""The guard is there on every call: in the real client, with its parts absent, killed or hung.

Claude Code runs a tool when a hook cannot be reached (an ``mcp_tool`` hook whose server is not
connected, a hook that times out): the hooks are command hooks that fail closed, so a critical
command is denied and a failing call is learned whatever state the MCP server and the guard
service are in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from task_orchestrator import guard_client

pytestmark = pytest.mark.e2e


def _git_workspace(s) -> None:
    """A repository with a committed file and an uncommitted edit that `git reset --hard` loses."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=s.ws, check=True, capture_output=True, env=s.env)

    git("init", "-q")
    git("config", "user.email", "e2e@example.com")
    git("config", "user.name", "e2e")
    (s.ws / "app.py").write_text("print('v1')\n")
    git("add", "app.py")
    git("commit", "-q", "-m", "v1")
    (s.ws / "app.py").write_text("print('v2: an hour of work')\n")


def _start_guard(s) -> int:
    guard_client.spawn(s.data)
    assert guard_client.wait_until_up(s.data, 60)
    return guard_client.read_endpoint(s.data).pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    "guard_state, mcp",
    [
        ("absent", None),  # the MCP server not registered: the hooks do not need it
        ("absent", "broken"),  # registered, but its command cannot start (a moved install)
        ("killed", "serve"),  # the service died by SIGKILL: a stale endpoint file is left
        ("hung", "serve"),  # the service stopped (SIGSTOP): it accepts but never answers
    ],
)
def test_critical_commands_are_denied_whatever_is_down(session_factory, guard_state, mcp):
    s = session_factory("guard", mcp=mcp)
    _git_workspace(s)
    stopped = None
    if guard_state in ("killed", "hung"):
        pid = _start_guard(s)
        if guard_state == "killed":
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.05)
            assert guard_client.endpoint_path(s.data).exists()  # stale
        else:
            os.kill(pid, signal.SIGSTOP)
            stopped = pid
    try:
        result, api = s.ask(
            "clean up",
            [
                ("tool", "Bash", {"command": "git reset --hard", "description": "reset"}),
                ("tool", "Bash", {"command": "rm -rf ~", "description": "wipe"}),
                ("tool", "Bash", {"command": "ls", "description": "list"}),
                ("text", "Stopped."),
            ],
        )
    finally:
        if stopped is not None and _alive(stopped):
            os.kill(stopped, signal.SIGCONT)
            os.kill(stopped, signal.SIGKILL)
    denied = [d["tool_input"]["command"] for d in result["permission_denials"]]
    assert denied == ["git reset --hard", "rm -rf ~"]
    assert (s.ws / "app.py").read_text() == "print('v2: an hour of work')\n"  # the work survives
    assert s.home.is_dir()
    results = [r.get("content") for r in api.tool_results()]
    reasons = json.dumps(results[:2])
    assert "task-orchestrator" in reasons
    assert "git reset --hard discards" in reasons
    assert "app.py" in json.dumps(results[2])  # ls ran
    if guard_state in ("killed", "hung"):  # a healthy service replaced the one that failed
        for _ in range(400):
            st = s.guard()
            if st and st["pid"] != stopped:
                break
            time.sleep(0.05)
        assert st is not None and st["pid"] != stopped


def _failing(i: int) -> str:
    return f"ls /definitely/not/here/e2e-{i}"


@pytest.mark.parametrize(
    "calls, guard_state",
    [
        (1, "absent"),  # the first call of a session that found no service
        (1, "cannot start"),
        (2, "up"),
        (20, "up"),
        (20, "restarted"),  # killed mid-session by the agent's own command, then started again
        (20, "cannot start"),
    ],
)
def test_every_failing_call_is_stored(session_factory, calls, guard_state):
    s = session_factory("guard", mcp=None)
    if guard_state == "up":
        _start_guard(s)
    elif guard_state == "cannot start":
        (s.data / "guard").write_text("a file where the runtime folder should be")
    commands = [_failing(i) for i in range(calls)]
    script = [("tool", "Bash", {"command": c, "description": "list"}) for c in commands]
    if guard_state == "restarted":
        kill = 'kill -9 "$(cut -d" " -f4 "$TASK_ORCHESTRATOR_DATA_DIR/guard/endpoint")"'
        _start_guard(s)
        script.insert(calls // 2, ("tool", "Bash", {"command": kill, "description": "kill"}))
    result, _ = s.ask("list them", [*script, ("text", "None exist.")])
    assert result["permission_denials"] == []
    stored = {r["action"] for r in s.failures()}
    assert set(commands) <= stored, sorted(set(commands) - stored)
    if guard_state == "cannot start":
        assert s.guard() is None
    else:
        assert s.guard() is not None  # running (again) for the next session


@pytest.mark.parametrize("guard_state", ["up", "absent"])
def test_obfuscated_spellings_are_denied_in_the_real_client(session_factory, guard_state):
    """The gate reads a command the way bash will run it (issue 32), in the service and in the
    in-process fallback alike: each spelling of `rm -rf ~` is denied before it runs, and the
    look-alike that only prints the trick runs."""
    s = session_factory("guard", mcp=None)
    _git_workspace(s)
    if guard_state == "up":
        _start_guard(s)
    tricks = [
        "{rm,-rf,~}",
        "rm${IFS}-rf${IFS}~",
        "echo cm0gLXJmIH4= | base64 -d | sh",
        "git -c core.pager='sh -c \"rm -rf ~\"' log",
        "x=xrmx; ${x:1:2} -rf ~",
        "git checkout -f",
    ]
    script = [("tool", "Bash", {"command": c, "description": "clean"}) for c in tricks]
    script.append(("tool", "Bash", {"command": "echo '{rm,-rf,~}'", "description": "print"}))
    result, api = s.ask("clean up", [*script, ("text", "Stopped.")])
    denied = [d["tool_input"]["command"] for d in result["permission_denials"]]
    assert denied == tricks
    assert s.home.is_dir() and (s.ws / "app.py").read_text() == "print('v2: an hour of work')\n"
    assert "{rm,-rf,~}" in json.dumps(api.tool_results()[-1].get("content"))  # the echo ran
