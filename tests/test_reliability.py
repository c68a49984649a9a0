"""Reliability: real processes killed with SIGKILL, concurrent writers, a full disk, a Chroma
server that goes away, faulty providers. Each scenario asserts that nothing was lost and
that nothing ran twice."""

from __future__ import annotations

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
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


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
        waiting = orch.run("wipe cache", action="rm -rf ./cache", evidence=evidence)
    assert waiting["status"] == "waiting_for_approval"
    thread = waiting["thread_id"]

    hold.touch()  # the action will block mid-run
    proc = _orchestrator_process(data, f"orch.resume({thread!r}, {{'decision': 'approve'}})")
    _wait_for_line(marker, "start rm -rf ./cache", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    hold.unlink()

    # A new process recovers the run from its checkpoint: the interrupted approved action is
    # not started again (it may have partly run); the task says so.
    got = _recover(data, thread)
    assert got["status"] == "error" and "not run again automatically" in got["error"]
    assert marker.read_text() == "start rm -rf ./cache\n"
    with Orchestrator(settings, work=slow_marker) as orch:
        assert orch.pending() == []


def test_kill_9_mid_step_of_a_routine_task_resumes_from_the_checkpoint(tmp_path):
    data, marker, hold = tmp_path / "data", tmp_path / "marker.txt", tmp_path / "hold"
    evidence = json.dumps({"marker": str(marker), "hold": str(hold)})
    hold.touch()
    proc = _orchestrator_process(
        data, f"orch.run('say hi', action='echo hi', evidence={evidence}, thread_id='t-routine')")
    _wait_for_line(marker, "start echo hi", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
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
async def test_kill_9_the_mcp_server_while_a_task_waits_for_approval(tmp_path):
    from _servers import FakeOpenAI
    from mcp import Client, StdioServerParameters

    with FakeOpenAI(["Cache wiped: 412 files removed."]) as openai:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("TASK_ORCHESTRATOR_")},
               "TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path),
               "TASK_ORCHESTRATOR_PROVIDERS": '["openai"]', "OPENAI_API_KEY": "sk-test-fake",
               "OPENAI_BASE_URL": openai.url}
        params = StdioServerParameters(command=sys.executable,
                                       args=["-m", "task_orchestrator.cli", "serve"], env=env)
        thread = None
        try:
            async with Client(params, read_timeout_seconds=120) as client:
                r = await client.call_tool("run_task", {"task": "wipe the build cache",
                                                        "action": "rm -rf ./cache"})
                thread = r.structured_content["thread_id"]
                assert r.structured_content["status"] == "waiting_for_approval"
                servers = _children_running("task_orchestrator.cli serve")
                assert len(servers) == 1
                os.kill(servers[0], signal.SIGKILL)
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
            again = await client.call_tool("resume_task", {"thread_id": thread,
                                                            "decision": "approve"})
            assert again.is_error  # a replayed approval
        assert len(openai.requests) == 1  # the approved work ran exactly once


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.parametrize(("backend", "per_worker"), [
    ("sqlite+chroma-server", 1250), ("postgres+chroma-server", 1250),
    # Embedded Chroma reloads its index whenever another process wrote: correct but slow
    # under 8 writers, so a smaller run (one MCP server per data directory is the norm).
    ("sqlite+embedded-chroma", 150),
])
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
    procs = [ctx.Process(target=record_and_check,
                         args=(data, url, chroma, w, per_worker, shared)) for w in range(workers)]
    started = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(900)
    assert [p.exitcode for p in procs] == [0] * workers  # no "database is locked", no miss
    elapsed = time.monotonic() - started

    m = PersistentFailureMemory(Settings(data_dir=data, embedder="hashing", postgres_url=url,
                                         chroma_url=chroma, _env_file=None))
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
