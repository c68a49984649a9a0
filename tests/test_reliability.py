"""Reliability: real processes killed with SIGKILL, concurrent writers, a full disk, a Chroma
server that goes away, faulty providers. Each scenario asserts that nothing was lost and
that nothing ran twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from task_orchestrator import Settings
from task_orchestrator.runner import Orchestrator

TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.slow

ORCHESTRATOR_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from _workers import slow_marker
from task_orchestrator import Settings
from task_orchestrator.runner import Orchestrator
with Orchestrator(Settings(data_dir={data!r}, embedder="hashing", _env_file=None),
                  work=slow_marker) as orch:
    r = {call}
    print(json.dumps({{"status": r["status"], "error": r.get("error", "")}}), flush=True)
"""


def _orchestrator_process(data: Path, call: str) -> subprocess.Popen:
    code = ORCHESTRATOR_SCRIPT.format(tests=str(TESTS), data=str(data), call=call)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_line(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def _recover(data: Path, thread: str) -> dict:
    proc = _orchestrator_process(data, f"orch.recover({thread!r})")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_kill_9_while_an_approved_action_runs_never_runs_it_twice(tmp_path):
    data, marker, hold = tmp_path / "data", tmp_path / "marker.txt", tmp_path / "hold"
    settings = Settings(data_dir=data, embedder="hashing", _env_file=None)
    evidence = {"marker": str(marker), "hold": str(hold)}
    sys.path.insert(0, str(TESTS))
    try:
        from _workers import slow_marker
    finally:
        sys.path.pop(0)
    with Orchestrator(settings, work=slow_marker) as orch:
        waiting = orch.run("wipe cache", action="rm -rf /data/cache", evidence=evidence)
    assert waiting["status"] == "waiting_for_approval"
    thread = waiting["thread_id"]

    hold.touch()  # the action will block mid-run
    proc = _orchestrator_process(data, f"orch.resume({thread!r}, {{'decision': 'approve'}})")
    _wait_for_line(marker, "start rm -rf /data/cache", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes its pipes
    hold.unlink()

    # A new process recovers the run from its checkpoint: the interrupted approved action is
    # not started again (it may have partly run); the task says so.
    got = _recover(data, thread)
    assert got["status"] == "error"
    assert "not run again automatically" in got["error"]
    assert marker.read_text() == "start rm -rf /data/cache\n"
    with Orchestrator(settings, work=slow_marker) as orch:
        assert orch.pending() == []


def test_kill_9_mid_step_of_a_routine_task_resumes_from_the_checkpoint(tmp_path):
    data, marker, hold = tmp_path / "data", tmp_path / "marker.txt", tmp_path / "hold"
    evidence = json.dumps({"marker": str(marker), "hold": str(hold)})
    hold.touch()
    proc = _orchestrator_process(
        data, f"orch.run('say hi', action='echo hi', evidence={evidence}, thread_id='t-routine')"
    )
    _wait_for_line(marker, "start echo hi", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes its pipes
    hold.unlink()
    got = _recover(data, "t-routine")
    assert got["status"] == "succeeded"
    # The guard ran once (its step was checkpointed); the unapproved work step ran again.
    assert marker.read_text() == "start echo hi\nstart echo hi\nend echo hi\n"


def _children_running(pattern: str) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and pattern in cmd:
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.anyio
@pytest.mark.parametrize("serve", ["relayed to the guard service", "in process"])
async def test_kill_9_the_mcp_server_while_a_task_waits_for_approval(tmp_path, serve):
    """SIGKILL the process that runs the tools (the guard service, or an in-process server)."""
    from _servers import FakeOpenAI
    from mcp import Client, StdioServerParameters

    from task_orchestrator import guard_client

    with FakeOpenAI(["Cache wiped: 412 files removed."]) as openai:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TASK_ORCHESTRATOR_")},
            "TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"),
            "HOME": str(tmp_path),
            "TASK_ORCHESTRATOR_PROVIDERS": '["openai"]',
            "OPENAI_API_KEY": "sk-test-fake",
            "OPENAI_BASE_URL": openai.url,
        }
        args = ["-m", "task_orchestrator.cli", "serve"] + (["--in-process"] if serve == "in process" else [])
        params = StdioServerParameters(command=sys.executable, args=args, env=env)
        thread = None
        try:
            async with Client(params, read_timeout_seconds=120) as client:
                r = await client.call_tool(
                    "run_task", {"task": "wipe the build cache", "action": "rm -rf /data/cache"}
                )
                thread = r.structured_content["thread_id"]
                assert r.structured_content["status"] == "waiting_for_approval"
                if serve == "in process":
                    servers = _children_running("task_orchestrator.cli serve")
                    assert len(servers) == 1
                    os.kill(servers[0], signal.SIGKILL)
                else:
                    os.kill(guard_client.read_endpoint(tmp_path / "data").pid, signal.SIGKILL)
                time.sleep(0.5)
        except BaseException as exc:  # the client notices its server died
            if thread is None:
                raise
            assert not isinstance(exc, AssertionError), exc
        assert openai.requests == []

        async with Client(params, read_timeout_seconds=120) as client:
            listed = await client.call_tool("list_approvals", {})
            assert thread in json.dumps(listed.structured_content)
            r = await client.call_tool("resume_task", {"thread_id": thread, "decision": "approve"})
            assert r.structured_content["status"] == "succeeded", r.structured_content
            again = await client.call_tool("resume_task", {"thread_id": thread, "decision": "approve"})
            assert again.is_error  # a replayed approval
        assert len(openai.requests) == 1  # the approved work ran exactly once
        with contextlib.suppress(guard_client.GuardUnavailable):  # the one the relay started again
            guard_client.request(tmp_path / "data", "shutdown", timeout=10)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.parametrize(
    ("backend", "per_worker"),
    [
        ("sqlite+chroma-server", 1250),
        ("postgres+chroma-server", 1250),
        # Embedded Chroma reloads its index whenever another process wrote: correct but slow
        # under 8 writers, so a smaller run (one MCP server per data directory is the norm).
        ("sqlite+embedded-chroma", 150),
    ],
)
def test_8_processes_recording_and_checking_at_once_lose_nothing(backend, per_worker, tmp_path, request):
    import multiprocessing as mp

    from task_orchestrator.memory.store import PersistentFailureMemory

    url = request.getfixturevalue("postgres_url") if backend.startswith("postgres") else None
    chroma = None
    if backend.endswith("chroma-server"):
        from _servers import start_chroma

        chroma, chroma_proc = start_chroma(tmp_path / "chroma")
    data = str(tmp_path / "data")
    workers, shared = 8, 25
    ctx = mp.get_context("spawn")
    sys.path.insert(0, str(TESTS))
    try:
        from _workers import record_and_check
    finally:
        sys.path.pop(0)
    procs = [
        ctx.Process(target=record_and_check, args=(data, url, chroma, w, per_worker, shared))
        for w in range(workers)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(900)
    assert [p.exitcode for p in procs] == [0] * workers  # no "database is locked", no miss
    elapsed = time.monotonic() - started

    m = PersistentFailureMemory(
        Settings(data_dir=data, embedder="hashing", postgres_url=url, chroma_url=chroma, _env_file=None)
    )
    try:
        total = workers * per_worker
        records = m.list(limit=total)
        assert len(records) == shared + workers * per_worker // 2
        assert sum(r.count for r in records) == total
        for r in records:
            if r.action.startswith("job "):
                assert r.count == workers * per_worker // 2 // shared  # every repeat counted
        assert sum(m.outcomes(r.action)[0] for r in records) == total
        m.reembed_missing()
        assert m.index.count() == len(records)
    finally:
        m.close()
        if chroma:
            chroma_proc.terminate()
            chroma_proc.wait(timeout=30)
    print(f"\n{backend}: {total} records from {workers} processes in {elapsed:.1f} s")


def test_eight_openers_racing_on_a_new_database_all_get_a_wal_connection(tmp_path):
    """Turning a new file to WAL needs an exclusive lock, and SQLite refuses one of two racing
    openers at once, without waiting (CI saw a worker of the test above die so). With raw
    sqlite3, 9-26 of these 1,600 openers failed in three runs; every opener must succeed."""
    import sqlite3
    import threading

    from task_orchestrator._db import connect

    failures: list[Exception] = []

    def open_it(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            conn = connect(path)
            try:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            finally:
                conn.close()
        except (sqlite3.Error, AssertionError) as exc:
            failures.append(exc)

    for round_ in range(200):
        start = threading.Barrier(8)
        threads = [
            threading.Thread(target=open_it, args=(tmp_path / f"{round_}.sqlite", start)) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []


def test_provider_faults_open_the_breaker_fall_back_heal_and_keep_the_budget(tmp_path):
    """A real OpenAI client against a faulty endpoint: 503, 500, a malformed body, a timeout.
    (A 429 is a rate limit, not a fault: tests/test_pacing.py.)"""
    from _servers import FakeOpenAI
    from langchain_openai import ChatOpenAI

    from task_orchestrator.errors import BudgetExceeded
    from task_orchestrator.testing import SCRIPTED_PRICES, ScriptedChatModel

    faults = [
        {"status": 503},
        {"status": 500},
        {"malformed": True},
        {"sleep": 3.0},
        "recovered answer from openai",
    ]
    with FakeOpenAI(faults) as fake:
        openai = ChatOpenAI(
            model="gpt-5-mini", base_url=fake.url, api_key="sk-test-fake", timeout=1.0, max_retries=0
        )
        gemini = ScriptedChatModel(script=["fallback answer from gemini"], cycle=True)
        settings = Settings(
            data_dir=tmp_path / "data",
            providers=["openai", "gemini"],
            breaker_failure_threshold=2,
            breaker_reset_timeout_s=0.5,
            prices=SCRIPTED_PRICES,
            embedder="hashing",
            _env_file=None,
        )
        with Orchestrator(settings, models={"openai": openai, "gemini": gemini}) as orch:
            router = orch.context.router
            now = [1_000_000.0]
            router.breakers.clock = lambda: now[0]  # the reset timeout passes when the test says

            def call(n: int):
                return router.invoke(f"question {n}", task_id=f"t{n}")

            assert call(1).provider == "gemini"  # 503 -> fallback; openai: 1 failure
            assert router.breakers.status("openai").state == "closed"
            assert call(2).provider == "gemini"  # 500 -> fallback; openai opens
            assert router.breakers.status("openai").state == "open"
            assert call(3).provider == "gemini"
            assert len(fake.requests) == 2  # no call while open
            now[0] += 0.6
            assert call(4).provider == "gemini"  # half-open probe: malformed body -> open again
            assert router.breakers.status("openai").state == "open"
            assert len(fake.requests) == 3
            now[0] += 0.6
            assert call(5).provider == "gemini"  # probe times out -> open again
            assert len(fake.requests) == 4
            now[0] += 0.6
            healed = call(6)  # the probe succeeds: closed, openai answers again
            assert healed.provider == "openai"
            assert healed.message.content == "recovered answer from openai"
            assert router.breakers.status("openai").state == "closed"
            transitions = [
                e["transition"] for e in reversed(router.breakers.events()) if e["provider"] == "openai"
            ]
            assert transitions == [
                "closed->open",
                "open->half_open",
                "half_open->open",
                "open->half_open",
                "half_open->open",
                "open->half_open",
                "half_open->closed",
            ]
            # Budgets hold whatever the providers do: refused before any call is made.
            orch.context.router.settings = settings.model_copy(update={"task_budget_usd": 1e-9})
            orch.context.router.ledger.settings = orch.context.router.settings
            before = len(fake.requests)
            with pytest.raises(BudgetExceeded):
                router.invoke("an expensive question", task_id="t-budget")
            assert len(fake.requests) == before


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path, monkeypatch):
    import sqlite3

    from task_orchestrator import _db
    from task_orchestrator.errors import StoreUnavailable
    from task_orchestrator.service import Service

    monkeypatch.setenv("TASK_ORCHESTRATOR_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(embedder="hashing")
    svc = Service(settings)
    for i in range(20):
        svc.record_failure(action=f"make target-{i}", error="no rule to make target")
    svc.close()

    # The disk fills up: SQLite may not grow the file by one more page (a real SQLITE_FULL).
    real_connect = _db.connect

    def full_disk(path, **kwargs):
        conn = real_connect(path, **kwargs)
        if str(path).endswith("memory.sqlite"):
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(_db, "connect", full_disk)
    svc = Service(settings)
    with pytest.raises(StoreUnavailable, match=r"full.*free disk space"):
        for i in range(200):  # until the last free page is used up
            svc.record_failure(action=f"npm run build-{i}", error="x" * 4000)
    svc.close()
    # The command hook on a full disk: the agent is not bricked, repeats are still denied.
    import io

    from task_orchestrator import hooks

    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    event = {
        "hook_event_name": "PostToolUse",
        "cwd": str(tmp_path),
        "tool_name": "Bash",
        "tool_input": {"command": "docker compose up -d"},
        "tool_response": {"stderr": "y" * 4000, "exit_code": 101},
    }
    hooks.main("post-tool-use", stdin=io.StringIO(json.dumps(event)), stdout=out)
    assert "full" in err.getvalue()
    event = {
        "hook_event_name": "PreToolUse",
        "cwd": str(tmp_path),
        "tool_name": "Bash",
        "tool_input": {"command": "make target-3"},
    }
    hooks.main("pre-tool-use", stdin=io.StringIO(json.dumps(event)), stdout=out)
    assert json.loads(out.getvalue())["hookSpecificOutput"]["permissionDecision"] == "deny"

    # Space is freed: everything recorded before is intact and writing works again.
    monkeypatch.setattr(_db, "connect", real_connect)
    check = sqlite3.connect(tmp_path / "data" / "memory.sqlite")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    svc = Service(settings)
    try:
        stored = {r.action for r in svc.memory.list(limit=1000)}
        assert {f"make target-{i}" for i in range(20)} <= stored
        svc.record_failure(action="docker compose up -d", error="port 5432 in use")
        assert svc.check_action("docker compose up -d").decision == "deny"
    finally:
        svc.close()


def test_a_chroma_server_that_goes_away_degrades_then_catches_up(tmp_path):
    from _servers import start_chroma

    from task_orchestrator.memory import FailureRecord, assess_action
    from task_orchestrator.memory.store import PersistentFailureMemory
    from task_orchestrator.risk.assessor import RuleRiskAssessor

    url, proc = start_chroma(tmp_path / "chroma")
    port = int(url.rsplit(":", 1)[1])
    settings = Settings(data_dir=tmp_path / "data", chroma_url=url, _env_file=None)
    m = PersistentFailureMemory(settings)
    risk = RuleRiskAssessor(m)
    try:
        # a real name at a missing version (an invented name is denied by the package guard)
        m.record(FailureRecord(action="pip install requests==9.9", error="no matching distribution"))
        d = assess_action("pip3 install requests==9.9", memory=m, risk=risk, settings=settings)
        assert d.decision == "allow"
        assert "similar" in d.advice[0]  # similarity works: advice
        os.kill(proc.pid, signal.SIGKILL)  # the server goes away mid-run
        proc.wait(timeout=30)

        # Recording still works (SQLite has the row; its vector waits); nothing raises.
        m.record(FailureRecord(action="npm publish --access public", error="403 Forbidden"))
        assert m.count() == 2
        # Exact repeats are still denied; a paraphrase falls back to the rules, flagged.
        d = assess_action("npm publish   --access public", memory=m, risk=risk, settings=settings)
        assert d.decision == "deny"
        d = assess_action("npm publish --tag next --access public", memory=m, risk=risk, settings=settings)
        assert d.degraded
        assert d.decision == "allow"
        assert assess_action("rm -rf ~", memory=m, risk=risk, settings=settings).decision == "deny"

        # The server comes back on the same port and data: the missing vector is caught up.
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("chroma")),
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--path",
                str(tmp_path / "chroma"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from _servers import wait_for_port

        assert wait_for_port(port, 30, proc)
        d = assess_action("npm publish --tag next --access public", memory=m, risk=risk, settings=settings)
        assert not d.degraded
        assert "npm publish --access public" in " ".join(d.advice)
        assert m.index.count() == 2
    finally:
        m.close()
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.anyio
async def test_a_corrupt_store_fails_safe_through_the_mcp_tools(settings):
    from mcp import Client

    from task_orchestrator.mcp_server import build_server

    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    (data / "memory.sqlite").write_bytes(b"this is not a database " * 500)
    async with Client(build_server(settings)) as client:
        r = await client.call_tool("check_action", {"action": "rm -rf /"})
        assert r.structured_content["decision"] == "deny"
        assert r.structured_content["degraded"]
        r = await client.call_tool("check_action", {"action": "ls -la"})
        assert r.structured_content["decision"] == "allow"
        assert r.structured_content["degraded"]
        r = await client.call_tool("record_failure", {"action": "make deploy", "error": "boom"})
        assert r.is_error
        assert "corrupt" in r.content[0].text
        assert "move it aside" in r.content[0].text
    # Recovery as the message says: move it aside; a new store is created, the server works.
    (data / "memory.sqlite").rename(data / "memory.sqlite.corrupt")
    async with Client(build_server(settings)) as client:
        r = await client.call_tool("record_failure", {"action": "make deploy", "error": "boom"})
        assert not r.is_error
        r = await client.call_tool("check_action", {"action": "make  deploy"})
        assert r.structured_content["decision"] == "deny"
        assert not r.structured_content["degraded"]
