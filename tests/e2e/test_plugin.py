"""The repository as a Claude Code plugin marketplace (issue 33): installed in a scratch HOME
with the real client's own plugin commands, its hooks guard every call."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from .test_always_on import _git_workspace

pytestmark = pytest.mark.e2e


def test_the_plugin_denies_git_reset_hard_over_an_uncommitted_edit(session_factory):
    s = session_factory("plugin")
    _git_workspace(s)
    listed = s.run([str(s.claude), "plugin", "list"]).stdout
    assert "task-orchestrator@task-orchestrator" in listed and "enabled" in listed
    servers = s.run([str(s.claude), "mcp", "list"]).stdout  # the plugin's MCP server answers
    assert "plugin:task-orchestrator:task-orchestrator" in servers and "Connected" in servers, servers
    result, api = s.ask(
        "clean up",
        [
            ("tool", "Bash", {"command": "git reset --hard", "description": "reset"}),
            ("tool", "Bash", {"command": "{rm,-rf,~}", "description": "wipe"}),
            ("tool", "Bash", {"command": "ls", "description": "list"}),
            ("text", "Stopped."),
        ],
    )
    denied = [d["tool_input"]["command"] for d in result["permission_denials"]]
    assert denied == ["git reset --hard", "{rm,-rf,~}"]
    assert (s.ws / "app.py").read_text() == "print('v2: an hour of work')\n"
    assert s.home.is_dir()
    assert "app.py" in json.dumps(api.tool_results()[2].get("content"))  # ls ran


def test_without_the_cli_on_path_every_call_is_refused_with_how_to_fix(session_factory):
    s = session_factory("plugin")
    _git_workspace(s)
    # every folder holding the client off PATH (a CI venv and a developer's may both be on it)
    keep = [p for p in s.env["PATH"].split(":") if p and not os.path.exists(f"{p}/task-orchestrator-hook")]
    s.env["PATH"] = ":".join(keep)
    assert shutil.which("task-orchestrator-hook", path=s.env["PATH"]) is None
    _, api = s.ask(
        "clean up",
        [
            ("tool", "Bash", {"command": "git reset --hard", "description": "reset"}),
            ("text", "Stopped."),
        ],
    )
    assert (s.ws / "app.py").read_text() == "print('v2: an hour of work')\n"  # it did not run
    said = json.dumps(api.tool_results()[0].get("content"))
    assert "task-orchestrator-hook did not run" in said and "on PATH" in said
