"""The Stop hook's reviewer notes on the change a session leaves in its git working tree."""

from __future__ import annotations

import json
import subprocess

import pytest

from task_orchestrator import hooks
from task_orchestrator.verifiers.review import git_change, review_transcript


def _git(root, *args):
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "tests" / "test_calc.py").write_text("from pkg.calc import add\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    return root


def _session(root, commands, final="Fixed the bug in add."):
    rows = [{"type": "user", "cwd": str(root), "message": {"role": "user", "content": "fix add"}}]
    for i, (cmd, code) in enumerate(commands):
        rows.append(
            {
                "type": "assistant",
                "cwd": str(root),
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": f"t{i}", "name": "Bash", "input": {"command": cmd}}
                    ],
                },
            }
        )
        out = ("Exit code 1\n" if code else "") + ("1 passed in 0.1s" if "pytest" in cmd else "")
        rows.append(
            {
                "type": "user",
                "cwd": str(root),
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"t{i}",
                            "content": out,
                            "is_error": bool(code),
                        }
                    ],
                },
            }
        )
    rows.append(
        {
            "type": "assistant",
            "cwd": str(root),
            "message": {"role": "assistant", "content": [{"type": "text", "text": final}]},
        }
    )
    path = root.parent / "session.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_git_change_lists_new_and_modified_files(repo):
    (repo / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "reproduce.py").write_text("print(1)\n")
    change = git_change(str(repo / "pkg"))
    assert (change.added, change.modified) == (["reproduce.py"], ["pkg/calc.py"])
    assert git_change(str(repo.parent)) is None  # not a git tree


def test_a_sloppy_change_gets_all_three_notes(repo):
    (repo / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "reproduce_bug.py").write_text("from pkg.calc import add\nprint(add(1, 2))\n")
    (repo / "pkg" / "calc.py.orig").write_text("old\n")
    path = _session(
        repo, [("python -m pytest -q reproduce_bug.py", 0), ("sed -i 's/a - b/a + b/' pkg/calc.py", 0)]
    )
    codes = [f.code for f in review_transcript(path)]
    assert codes == ["scratch_files", "edited_after_last_test_run", "no_existing_test_run"]
    out = hooks.stop({"transcript_path": str(path), "cwd": str(repo)})
    assert "decision" not in out  # notes for the user, never a block
    assert "reproduce_bug.py" in out["systemMessage"]
    assert "calc.py.orig" in out["systemMessage"]


def test_a_clean_change_tested_after_its_last_edit_gets_no_note(repo):
    path = _session(
        repo,
        [
            ("cat > pkg/calc.py <<'EOF'\ndef add(a, b):\n    return a + b\nEOF", 0),
            ("python -m pytest -q tests/test_calc.py", 0),
        ],
    )
    (repo / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    assert review_transcript(path) == []
    assert hooks.stop({"transcript_path": str(path), "cwd": str(repo)}) is None


def test_new_tests_in_a_test_folder_are_not_scratch(repo):
    (repo / "tests" / "test_add_fix.py").write_text("def test_x():\n    pass\n")
    (repo / "tests" / "fixtures").mkdir()
    (repo / "tests" / "fixtures" / "logo.png").write_bytes(b"\x89PNG")
    path = _session(repo, [("python -m pytest -q tests", 0)])
    assert [f.code for f in review_transcript(path)] == []


def test_the_reviewer_never_runs_a_program_the_repository_configures(tmp_path):
    """git runs ``core.fsmonitor`` from the repository's own config on ``git status``: the
    reviewer (run by the guard service for every session) turns it off."""
    import os
    import stat
    import subprocess

    from task_orchestrator.verifiers.review import git_change

    repo, marker = tmp_path / "repo", tmp_path / "ran"
    repo.mkdir()
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "-q"], ["config", "core.fsmonitor", str(hook)]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    (repo / "new.py").write_text("x = 1\n")
    subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, env=env, check=False)
    assert marker.exists()  # plain git status runs it
    marker.unlink()
    change = git_change(str(repo))
    assert change is not None and change.added == ["new.py"]
    assert not marker.exists()
