"""The replay benchmark judges decisions by what really happened: its own logic, on small runs.

The figures in BENCHMARKS.md come from benchmarks/replay.py; these tests check that it reads
the two recorded formats right and classifies a denial the way its name says.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import replay

SESSIONS = Path(__file__).resolve().parents[2] / "shared" / "eval" / "claude_code"


def _runs_file(tmp_path: Path, steps: list[tuple[str, int, str]]) -> Path:
    path = tmp_path / "runs.jsonl"
    path.write_text(
        json.dumps(
            {
                "instance_id": "demo__demo-1",
                "repo": "demo",
                "resolved": True,
                "final_message": "",
                "patch": "",
                "steps": [
                    {"thought": "", "command": c, "returncode": rc, "output": out} for c, rc, out in steps
                ],
            }
        )
        + "\n"
    )
    return path


def test_a_claude_code_transcript_becomes_tool_calls_with_exit_codes():
    [run] = replay.load([SESSIONS / "session.jsonl"])
    bash = [s for s in run.steps if s.tool == "Bash"]
    assert len(bash) > 50
    assert any(s.tool in ("Edit", "Write") for s in run.steps)
    ran = [s for s in bash if s.returncode and s.error.startswith("Exit code")]
    assert ran
    assert all(not s.output.startswith("Exit code") for s in ran)
    # a call the client or another hook stopped keeps its own text, as PostToolUseFailure has it
    assert any(s.returncode and not s.error.startswith("Exit code") for s in bash)


def test_an_unchanged_repeat_is_a_right_denial_and_a_rerun_after_sed_is_not_denied(tmp_path):
    trace = "Traceback (most recent call last):\nValueError: bad total"
    runs = replay.load(
        [
            _runs_file(
                tmp_path,
                [
                    ("python repro.py", 1, trace),
                    ("cat repro.py", 0, "print(1)"),
                    ("python repro.py", 1, trace),  # nothing changed: denied, and it would have failed
                    ("sed -i 's/1/2/' repro.py", 0, ""),
                    ("python repro.py", 0, "ok"),  # after a change: runs, with the lesson
                ],
            )
        ]
    )
    stats = replay.replay(runs, "fresh", "command")
    assert stats["flags"][("memory", "deny", "failed_same")] == 1
    assert stats["flags"][("memory", "advice", "would_succeed")] == 1
    assert stats["loops"] == 1
    assert stats["loops_unchanged_denied"] == 1
    assert replay.summary(stats)["memory_wrong_denials"] == 0


@pytest.mark.parametrize("transport", ["command", "guard"])
def test_a_denial_of_a_command_that_then_succeeds_is_counted_wrong(tmp_path, transport, monkeypatch):
    """Force a denial the memory would not make (a standing rule) and check it is judged wrong."""
    from task_orchestrator.memory import _decide

    real = _decide.decide

    def deny_every_exact_repeat(**kw):
        if kw.get("exact") is not None:
            kw["exact"] = {**kw["exact"], "session": ""}  # as if recorded on purpose
        return real(**kw)

    monkeypatch.setattr(_decide, "decide", deny_every_exact_repeat)
    runs = replay.load(
        [
            _runs_file(
                tmp_path,
                [
                    ("./tests/runtests.py admin", 1, "FAILED (failures=1)"),
                    ("sed -i 's/a/b/' app.py", 0, ""),
                    ("./tests/runtests.py admin", 0, "OK"),
                ],
            )
        ]
    )
    embedder = None
    if transport == "guard":
        from task_orchestrator.memory.embeddings import make_embedder
        from task_orchestrator.settings import Settings

        embedder = make_embedder(Settings(embedder="hashing", _env_file=None))
    s = replay.summary(replay.replay(runs, "fresh", transport, embedder))
    assert s["memory_wrong_denials"] == 1
    assert s["sessions_with_wrong_denial"] == 1
