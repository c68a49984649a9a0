"""Issue 35: unattended Claude Code sessions as guarded tasks, in the real client (2.1.330)
against a scripted Messages API. A call the gate would ask about is deferred; the task waits
for a human; a decision from another process resumes the session, and the call runs exactly
once as approved (or edited), or never (rejected)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .fake_anthropic import FakeAnthropic

RISKY = "cat ~/.aws/credentials > /dev/null; echo ran >> counter.txt"


def _tool() -> str:
    import shutil

    return shutil.which("task-orchestrator") or str(Path(sys.executable).parent / "task-orchestrator")


@pytest.fixture
def agent_env(claude_bin, tmp_path):
    home, ws, data = tmp_path / "home", tmp_path / "ws", tmp_path / "data"
    for d in (home / ".aws", ws, data):
        d.mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE00\n")
    env = {
        **os.environ,
        "HOME": str(home),
        "ANTHROPIC_API_KEY": "sk-ant-e2e-dummy",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "TASK_ORCHESTRATOR_DATA_DIR": str(data),
        "CLAUDE_CODE_BIN": str(claude_bin),
        "PATH": f"{Path(_tool()).parent}:{os.environ.get('PATH', '')}",
    }
    for var in ("GOOGLE_API_KEY", "OPENAI_API_KEY", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"):
        env.pop(var, None)
    yield env, ws
    subprocess.run([_tool(), "guard", "stop"], env=env, capture_output=True, timeout=60)


def _cli(env: dict, ws: Path, *args: str) -> dict:
    proc = subprocess.run([_tool(), *args], cwd=ws, env=env, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _kill_9_the_guard_service(env: dict) -> None:
    import signal

    st = json.loads(
        subprocess.run(
            [_tool(), "guard", "status", "--json"], env=env, capture_output=True, text=True, timeout=60
        ).stdout
    )
    assert st.get("running"), st  # the session's hooks started it
    os.kill(int(st["pid"]), signal.SIGKILL)


def _start(env: dict, ws: Path, api: FakeAnthropic) -> dict:
    env = {**env, "ANTHROPIC_BASE_URL": api.url}
    waiting = _cli(env, ws, "agent", "run", "rotate the deploy key", "--workspace", str(ws), "--json")
    assert waiting["status"] == "waiting_for_approval", waiting
    assert waiting["approval"]["tool"] == "Bash" and waiting["approval"]["input"]["command"] == RISKY
    assert any("credential" in w for w in waiting["approval"]["why"])
    assert not (ws / "counter.txt").exists()  # deferred: not run
    pending = subprocess.run(
        [_tool(), "approvals", "list", "--json"], cwd=ws, env=env, capture_output=True, text=True, timeout=120
    ).stdout
    listed = {p["thread_id"]: p["request"] for p in json.loads(pending)}
    assert listed[waiting["thread_id"]]["input"]["command"] == RISKY
    return waiting


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_approved_high_risk_call_runs_exactly_once(agent_env, backend, request):
    env, ws = agent_env
    if backend == "postgres":  # checkpoints, approvals and grants in the team's database
        env["TASK_ORCHESTRATOR_POSTGRES_URL"] = request.getfixturevalue("postgres_url")
    script = [("tool", "Bash", {"command": RISKY, "description": "check the key"}), ("text", "Done.")]
    with FakeAnthropic(script) as api:
        waiting = _start(env, ws, api)
        _kill_9_the_guard_service(env)  # while the task waits: a restart of everything
        done = _cli({**env, "ANTHROPIC_BASE_URL": api.url}, ws, "approvals", "approve", waiting["thread_id"])
        results = api.tool_results()
    assert done["status"] == "succeeded", done
    assert done["thread_id"] == waiting["thread_id"] == done["session_id"]
    assert (ws / "counter.txt").read_text() == "ran\n"  # exactly once
    assert len(results) == 1 and "approved" not in json.dumps(results)  # the tool's own output
    # the ledger holds each turn's share of what the client reported: they add up to its total
    from task_orchestrator.cost import CostLedger
    from task_orchestrator.settings import Settings

    settings = Settings(
        data_dir=env["TASK_ORCHESTRATOR_DATA_DIR"],
        postgres_url=env.get("TASK_ORCHESTRATOR_POSTGRES_URL") or None,
        _env_file=None,
    )
    ledger = CostLedger.for_settings(settings)
    rows = ledger.table(task_id=f"agent:{done['thread_id']}")
    ledger.close()
    assert sum(r["calls"] for r in rows) == 2 and done["cost_usd"] > waiting["cost_usd"] > 0
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(done["cost_usd"])


def test_a_rejected_call_never_runs_and_the_model_gets_the_note(agent_env):
    env, ws = agent_env
    script = [("tool", "Bash", {"command": RISKY, "description": "check the key"}), ("text", "Understood.")]
    with FakeAnthropic(script) as api:
        waiting = _start(env, ws, api)
        done = _cli(
            {**env, "ANTHROPIC_BASE_URL": api.url},
            ws,
            "approvals",
            "reject",
            waiting["thread_id"],
            "--note",
            "keys stay on the vault host",
        )
        results = api.tool_results()
    assert done["status"] == "succeeded" and done["result"] == "Understood."
    assert not (ws / "counter.txt").exists()
    assert "keys stay on the vault host" in json.dumps(results)


def test_an_edited_call_runs_as_edited(agent_env):
    env, ws = agent_env
    script = [("tool", "Bash", {"command": RISKY, "description": "check the key"}), ("text", "Done.")]
    with FakeAnthropic(script) as api:
        waiting = _start(env, ws, api)
        edited = json.dumps({"command": "echo edited >> counter.txt", "description": "check the key"})
        done = _cli(
            {**env, "ANTHROPIC_BASE_URL": api.url},
            ws,
            "approvals",
            "edit",
            waiting["thread_id"],
            "--input",
            edited,
        )
    assert done["status"] == "succeeded", done
    assert (ws / "counter.txt").read_text() == "edited\n"


def test_a_false_tests_pass_is_caught_by_the_orchestrators_run_and_fixed_by_a_second_attempt(agent_env):
    env, ws = agent_env
    (ws / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (ws / "tests").mkdir()
    (ws / "tests" / "test_calc.py").write_text(
        "import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__).parents[1]))\n"
        "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    fix = "sed -i 's/a - b/a + b/' calc.py"
    script = [
        ("text", "Done: all tests pass."),  # first attempt: claims, runs nothing
        ("text", "Done: all tests pass."),  # the Stop hook's block is answered with the same claim
        ("tool", "Bash", {"command": fix, "description": "fix add"}),  # second attempt, from the findings
        ("tool", "Bash", {"command": "python -m pytest -q", "description": "run the tests"}),
        ("text", "Fixed add(); the tests pass now."),
    ]
    with FakeAnthropic(script) as api:
        done = _cli(
            {**env, "ANTHROPIC_BASE_URL": api.url},
            ws,
            "agent",
            "run",
            "fix add()",
            "--workspace",
            str(ws),
            "--json",
        )
        prompts = [json.dumps(b.get("messages", [])[-1:]) for b in api.requests if b.get("tools")]
    assert done["status"] == "succeeded", done
    assert "return a + b" in (ws / "calc.py").read_text()
    assert any("pytest -q` fails in the workspace" in p for p in prompts)  # the reflected findings:
    assert any("the final message claims" in p for p in prompts)  # the run, and the transcript
    assert done["result"] == "Fixed add(); the tests pass now."


def test_several_risky_calls_in_one_turn_never_run_unapproved(agent_env):
    """The client defers one call of a turn that makes several: none of them runs before a
    decision, and an approval runs only the call it was given for."""
    env, ws = agent_env
    one = "cat ~/.aws/credentials > /dev/null; echo one >> counter.txt"
    two = "cat ~/.aws/credentials > /dev/null; echo two >> counter.txt"
    script = [
        (
            "tools",
            [("Bash", {"command": one, "description": "a"}), ("Bash", {"command": two, "description": "b"})],
        ),
        ("text", "Done."),
    ]
    with FakeAnthropic(script) as api:
        env_api = {**env, "ANTHROPIC_BASE_URL": api.url}
        waiting = _cli(env_api, ws, "agent", "run", "check both", "--workspace", str(ws), "--json")
        assert waiting["status"] == "waiting_for_approval" and not (ws / "counter.txt").exists()
        approved = waiting["approval"]["input"]["command"]
        done = _cli(env_api, ws, "approvals", "approve", waiting["thread_id"])
        while done["status"] == "waiting_for_approval":  # the other call, asked for in its turn
            assert done["approval"]["input"]["command"] != approved
            done = _cli(env_api, ws, "approvals", "reject", done["thread_id"], "--note", "one is enough")
    ran = (ws / "counter.txt").read_text().split()
    assert ran == [approved.split("echo ")[1].split()[0]]  # the approved call, once; the other never


@pytest.mark.anyio
async def test_the_mcp_tools_run_an_agent_task_and_resume_it(agent_env, monkeypatch):
    """run_task with agent_workspace, then resume_task: the tools a Claude Code user (or Studio,
    or another agent) drives a waiting agent task with."""
    from mcp import Client

    from task_orchestrator.mcp_server import build_server
    from task_orchestrator.settings import Settings

    env, ws = agent_env
    script = [("tool", "Bash", {"command": RISKY, "description": "check the key"}), ("text", "Done.")]
    with FakeAnthropic(script) as api:
        for k, v in {**env, "ANTHROPIC_BASE_URL": api.url}.items():
            monkeypatch.setenv(k, v)
        server = build_server(Settings(data_dir=env["TASK_ORCHESTRATOR_DATA_DIR"], _env_file=None))
        async with Client(server) as client:
            first = await client.call_tool("run_task", {"task": "rotate the key", "agent_workspace": str(ws)})
            waiting = first.structured_content
            assert waiting["status"] == "waiting_for_approval", waiting
            assert waiting["approval_request"]["input"]["command"] == RISKY
            assert not (ws / "counter.txt").exists()
            done = (
                await client.call_tool(
                    "resume_task", {"thread_id": waiting["thread_id"], "decision": "approve"}
                )
            ).structured_content
    assert done["status"] == "succeeded" and done["output"] == "Done."
    assert (ws / "counter.txt").read_text() == "ran\n"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, "the orchestrator ended before the point it was to be killed at"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def _kill_at(env: dict, ws: Path, marker: Path, *args: str) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [_tool(), *args], cwd=ws, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(3)  # what was already running (the tool's own process) finishes on its own


def test_kill_9_while_a_session_runs_then_recover_runs_nothing_twice(agent_env):
    import uuid

    env, ws = agent_env
    slow = "echo start >> started.txt; sleep 1; echo ran >> counter.txt"
    script = [("tool", "Bash", {"command": slow, "description": "work"}), ("text", "Done.")]
    thread = str(uuid.uuid4())
    with FakeAnthropic(script) as api:
        env_api = {**env, "ANTHROPIC_BASE_URL": api.url}
        _kill_at(
            env_api,
            ws,
            ws / "started.txt",
            "agent",
            "run",
            "work",
            "--workspace",
            str(ws),
            "--thread-id",
            thread,
        )
        done = _cli(env_api, ws, "approvals", "recover", thread)
    assert done["status"] == "succeeded", done
    assert (ws / "counter.txt").read_text() == "ran\n" and (ws / "started.txt").read_text() == "start\n"


def test_kill_9_right_after_an_approval_never_runs_the_call_twice(agent_env):
    env, ws = agent_env
    risky = "cat ~/.aws/credentials > /dev/null; echo start >> started.txt; sleep 1; echo ran >> counter.txt"
    script = [("tool", "Bash", {"command": risky, "description": "check"}), ("text", "Done.")]
    with FakeAnthropic(script) as api:
        env_api = {**env, "ANTHROPIC_BASE_URL": api.url}
        waiting = _cli(env_api, ws, "agent", "run", "check", "--workspace", str(ws), "--json")
        assert waiting["status"] == "waiting_for_approval"
        subprocess.run([_tool(), "guard", "stop"], env=env, capture_output=True, timeout=60)  # a restart
        _kill_at(env_api, ws, ws / "started.txt", "approvals", "approve", waiting["thread_id"])
        done = _cli(env_api, ws, "approvals", "recover", waiting["thread_id"])
        results = json.dumps(api.tool_results())
    assert done["status"] == "succeeded", done
    assert (ws / "counter.txt").read_text() == "ran\n"  # once
    # the resumed session asked for the call again; the used approval did not run it twice
    assert "approved once and has already run" in results


def test_an_overloaded_api_waits_for_the_breakers_probe_and_succeeds(agent_env):
    env, ws = agent_env
    env = {
        **env,
        "TASK_ORCHESTRATOR_BREAKER_FAILURE_THRESHOLD": "2",
        "TASK_ORCHESTRATOR_BREAKER_RESET_TIMEOUT_S": "1",
    }
    script = [("status", 529), ("status", 529), ("text", "Done despite the outage.")]
    with FakeAnthropic(script) as api:
        done = _cli(
            {**env, "ANTHROPIC_BASE_URL": api.url}, ws, "agent", "run", "hi", "--workspace", str(ws), "--json"
        )
    assert done["status"] == "succeeded" and done["result"] == "Done despite the outage.", done
    from task_orchestrator.breaker import CircuitBreakers
    from task_orchestrator.settings import Settings

    breakers = CircuitBreakers.for_settings(
        Settings(data_dir=env["TASK_ORCHESTRATOR_DATA_DIR"], _env_file=None)
    )
    transitions = [e["transition"] for e in reversed(breakers.events()) if e["provider"] == "claude-code"]
    breakers.close()
    assert transitions == ["closed->open", "open->half_open", "half_open->closed"]


def test_a_task_that_fails_every_attempt_is_remembered_and_not_paid_for_again(agent_env):
    env, ws = agent_env
    env = {**env, "TASK_ORCHESTRATOR_MAX_ATTEMPTS": "1"}
    (ws / "tests").mkdir()
    (ws / "tests" / "test_x.py").write_text("def test_x():\n    assert False\n")
    with FakeAnthropic([("text", "Done."), ("text", "Done.")]) as api:
        env_api = {**env, "ANTHROPIC_BASE_URL": api.url}
        failed = _cli(env_api, ws, "agent", "run", "make test_x pass", "--workspace", str(ws), "--json")
        asked = len([b for b in api.requests if b.get("tools")])
        again = _cli(env_api, ws, "agent", "run", "make test_x pass", "--workspace", str(ws), "--json")
        asked_again = len([b for b in api.requests if b.get("tools")])
    assert failed["status"] == "failed" and "fails in the workspace" in failed["error"]
    assert again["status"] == "blocked" and "failed verification" in again["error"]
    assert asked_again == asked  # the repeat was refused before a turn was paid for
