"""``task-orchestrator doctor`` (issue 33): checks an install end to end and says how to fix
each miss, from a folder outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def where(tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir(parents=True)
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"),
        "PATH": f"{BIN}:/usr/bin:/bin",
    }
    env.pop("CLAUDE_CODE_BIN", None)
    yield home, project, env
    stop = [str(BIN / "task-orchestrator"), "guard", "stop"]
    subprocess.run(stop, env=env, capture_output=True, timeout=60)


def doctor(project: Path, env: dict) -> tuple[int, list[dict]]:
    out = subprocess.run(
        [str(BIN / "task-orchestrator"), "doctor", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return out.returncode, json.loads(out.stdout)


def by_name(checks: list[dict]) -> dict[str, dict]:
    return {c["check"]: c for c in checks}


def test_no_hooks_anywhere_is_a_miss_with_how_to_install(where):
    _, project, env = where
    code, checks = doctor(project, env)
    c = by_name(checks)
    assert code == 1
    assert c["hooks"]["state"] == "MISS" and "claude plugin install" in c["hooks"]["fix"]
    assert c["guard service"]["state"] == "ok"  # started for the check
    assert c["mcp server"]["what"].endswith("tools") and "answers tools/list" in c["mcp server"]["what"]


def test_installed_hooks_pass_and_a_moved_install_is_caught(where):
    _, project, env = where
    subprocess.run(
        [str(BIN / "task-orchestrator"), "hooks", "install"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    code, checks = doctor(project, env)
    c = by_name(checks)
    assert code == 0, checks
    assert c["hooks (project)"]["state"] == "ok" and "transport guard" in c["hooks (project)"]["what"]
    assert c["hook client"]["state"] == "ok"
    settings = project / ".claude" / "settings.json"
    moved = settings.read_text().replace("task-orchestrator-hook", "/moved/venv/bin/task-orchestrator-hook")
    settings.write_text(moved)
    code, checks = doctor(project, env)
    c = by_name(checks)
    assert code == 1 and c["hooks (project)"]["state"] == "MISS"
    assert "/moved/venv/bin/task-orchestrator-hook" in c["hooks (project)"]["what"]
    assert c["hooks (project)"]["fix"] == "task-orchestrator hooks install"
