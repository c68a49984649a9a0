"""The same behaviour on both backends: SQLite files in the data directory, and one shared
PostgreSQL database (TASK_ORCHESTRATOR_POSTGRES_URL) for several servers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from task_orchestrator import Settings, hooks
from task_orchestrator.breaker import CircuitBreakers
from task_orchestrator.cost import CostLedger, Usage
from task_orchestrator.report import collect
from task_orchestrator.runner import Orchestrator
from task_orchestrator.service import Service
from task_orchestrator.settings import ModelPrice

TESTS = Path(__file__).resolve().parent


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> dict:
    """Settings for two servers: their own data directories, and on Postgres one database."""
    extra = {}
    if request.param == "postgres":
        extra["postgres_url"] = SecretStr(request.getfixturevalue("postgres_url"))

    def server(name: str) -> Settings:
        # On SQLite "two servers" can only share a data directory; on Postgres they do not.
        data = tmp_path / ("data" if request.param == "sqlite" else f"data-{name}")
        return Settings(
            data_dir=data,
            workspace=tmp_path,
            embedder="hashing",
            _env_file=None,
            prices={"scripted-model": ModelPrice(input=1.0, output=2.0)},
            **extra,
        )

    return {
        "kind": request.param,
        "server": server,
        "env": {"TASK_ORCHESTRATOR_POSTGRES_URL": extra["postgres_url"].get_secret_value() if extra else ""},
    }


class Clock:
    now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_breakers_conform_and_survive_a_restart(backend):
    s = backend["server"]("a")
    clock = Clock()
    b = CircuitBreakers.for_settings(s)
    b.clock = clock
    b.failure_threshold = 2
    assert b.record_failure("openai", "429") == "closed"
    assert b.record_failure("openai", "429") == "open"
    assert not b.allow("openai")
    b.close()
    other = CircuitBreakers.for_settings(backend["server"]("b"))  # another server sees it
    other.clock = clock
    assert other.status("openai").state == "open"
    assert not other.allow("openai")
    clock.now += s.breaker_reset_timeout_s + 1
    assert other.allow("openai")
    assert other.status("openai").state == "half_open"
    other.record_success("openai")
    assert [e["transition"] for e in reversed(other.events())] == [
        "closed->open",
        "open->half_open",
        "half_open->closed",
    ]
    other.close()


def test_pacing_is_one_queue_for_several_servers(backend):
    from task_orchestrator.errors import QuotaExhausted
    from task_orchestrator.pacing import Pacer
    from task_orchestrator.settings import RateLimit

    clock = Clock()
    limits = {"gemini-2.5-flash": RateLimit(rpm=2, rpd=5, window_s=10)}
    a = Pacer.for_settings(backend["server"]("a").model_copy(update={"rate_limits": limits}))
    b = Pacer.for_settings(backend["server"]("b").model_copy(update={"rate_limits": limits}))
    a.clock = b.clock = clock
    at = [a.reserve("gemini", "gemini-2.5-flash").at, b.reserve("gemini", "gemini-2.5-flash").at]
    third = a.reserve("gemini", "gemini-2.5-flash")
    assert at == [clock.now, clock.now] and third.at >= clock.now + 10  # b's request counted for a
    b.sent(third)  # done later than reserved: the slot moves
    b.rate_limited("gemini", "gemini-2.5-flash", 30.0, "429 from gemini: retry in 30 s")
    assert a.reserve("gemini", "gemini-2.5-flash").at >= clock.now + 30  # a waits out b's 429
    b.quota_exhausted("gemini", "gemini-2.5-flash", None, "the day's request quota is used up")
    with pytest.raises(QuotaExhausted):
        a.reserve("gemini", "gemini-2.5-flash")
    assert [e["kind"] for e in a.events()] == ["quota", "rate_limit"]
    assert a.usage("gemini", "gemini-2.5-flash")["hold"].startswith("quota until")
    a.close()
    b.close()


def test_ledger_conforms(backend):
    s = backend["server"]("a")
    ledger = CostLedger.for_settings(s)
    ledger.record("t1", "openai", "gpt-5-mini", Usage(input_tokens=1000, output_tokens=500))
    ledger.record("t1", "gemini", "no-such-model", Usage(input_tokens=10, output_tokens=5))
    ledger.close()
    ledger = CostLedger.for_settings(backend["server"]("b"))
    rows = {r["model"]: r for r in ledger.table(task_id="t1")}
    assert rows["gpt-5-mini"]["input_tokens"] == 1000
    assert type(rows["gpt-5-mini"]["input_tokens"]) is int
    assert rows["gpt-5-mini"]["cost_usd"] > 0
    assert rows["no-such-model"]["cost_usd"] is None  # unpriced, never $0
    assert ledger.spent(task_id="t1") == pytest.approx(rows["gpt-5-mini"]["cost_usd"])
    ledger.close()


def test_one_approval_queue_for_several_servers(backend, tmp_path):
    """Server A starts a risky task; server B, another process, approves it; it runs once."""
    marker = tmp_path / "marker.txt"
    sys.path.insert(0, str(TESTS))
    try:
        from _workers import append_marker
    finally:
        sys.path.pop(0)
    a = backend["server"]("a")
    with Orchestrator(a, work=append_marker) as orch:
        r = orch.run("wipe cache", action="rm -rf /data/cache", evidence={"marker": str(marker)})
        assert r["status"] == "waiting_for_approval"
    b = backend["server"]("b")
    script = f"""
import json, sys
sys.path.insert(0, {str(TESTS)!r})
from _workers import append_marker
from task_orchestrator import Settings
from task_orchestrator.runner import Orchestrator
s = Settings(data_dir={str(b.data_dir)!r}, embedder="hashing", _env_file=None)  # + the env
with Orchestrator(s, work=append_marker) as orch:
    waiting = [p["thread_id"] for p in orch.pending()]
    r = orch.resume(waiting[0], {{"decision": "approve", "by": "server b"}})
    print(json.dumps({{"waiting": waiting, "status": r["status"], "left": len(orch.pending())}}))
"""
    env = {**os.environ, **{k: v for k, v in backend["env"].items() if v}}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"waiting": [r["thread_id"]], "status": "succeeded", "left": 0}
    assert marker.read_text() == "rm -rf /data/cache\n"
    with Orchestrator(a, work=append_marker) as orch:
        assert orch.pending() == []


def test_one_memory_for_the_service_the_hook_and_the_report(backend, tmp_path, monkeypatch):
    a = backend["server"]("a")
    svc = Service(a)
    svc.record_failure(action="make deploy-prod", error="no rule to make target", lesson="use CI")
    assert svc.check_action("git push --force origin main").decision == "ask"
    svc.close()
    # The command hook of another machine: only the environment variables.
    monkeypatch.setenv("TASK_ORCHESTRATOR_DATA_DIR", str(backend["server"]("b").data_dir))
    if backend["env"]["TASK_ORCHESTRATOR_POSTGRES_URL"]:
        monkeypatch.setenv("TASK_ORCHESTRATOR_POSTGRES_URL", backend["env"]["TASK_ORCHESTRATOR_POSTGRES_URL"])
    out = io.StringIO()
    hooks.main(
        "pre-tool-use",
        stdin=io.StringIO(
            json.dumps(
                {
                    "hook_event_name": "PreToolUse",
                    "cwd": str(tmp_path),
                    "tool_name": "Bash",
                    "tool_input": {"command": "make  deploy-prod"},
                }
            )
        ),
        stdout=out,
    )
    assert json.loads(out.getvalue())["hookSpecificOutput"]["permissionDecision"] == "deny"
    data = collect(backend["server"]("b"))
    assert data.failures_stored == 1
    assert data.top_failures[0]["action"] == "make deploy-prod"
    assert data.risk_levels["high"] >= 1
    assert sum(data.blocked_per_day) == 1


def test_opening_while_another_server_creates_the_schema(postgres_url):
    """CREATE SCHEMA IF NOT EXISTS is not atomic: a server starting while another one is
    creating the schema must not fail (it did, in an 8-process run)."""
    import threading

    import psycopg

    from task_orchestrator._db import PG_SCHEMA, PostgresDatabase
    from task_orchestrator.memory._table import FailureTable

    other = psycopg.connect(postgres_url)  # a transaction: the schema is created, uncommitted
    other.execute(f"CREATE SCHEMA {PG_SCHEMA}")
    outcome: list = []

    def start_server() -> None:
        try:
            FailureTable(PostgresDatabase(postgres_url, "memory")).close()
            outcome.append("ok")
        except Exception as exc:
            outcome.append(exc)

    t = threading.Thread(target=start_server)
    t.start()
    time.sleep(0.5)  # it now waits on the other transaction's catalog row
    other.commit()
    other.close()
    t.join(60)
    assert outcome == ["ok"]


def test_servers_opening_at_once_all_get_the_workspace_index(postgres_url):
    """Servers opening the memory at once each ensure the index on the workspace column; like
    the schema, that must go under the store's advisory lock (an 8-process scale-out run lost
    a writer to UniqueViolation on the index's catalog row when it did not)."""
    import threading

    import psycopg

    from task_orchestrator._db import PG_SCHEMA, PostgresDatabase
    from task_orchestrator.memory._table import FailureTable

    FailureTable(PostgresDatabase(postgres_url, "memory")).close()
    errors: list = []

    def start_server(ready: threading.Barrier) -> None:
        db = PostgresDatabase(postgres_url, "memory")
        ready.wait()
        try:
            FailureTable(db).close()
        except Exception as exc:
            errors.append(exc)

    for _ in range(15):  # each round: the index is missing and 8 servers start together
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP INDEX {PG_SCHEMA}.failures_workspace")
        ready = threading.Barrier(8)
        threads = [threading.Thread(target=start_server, args=(ready,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []


def test_the_guard_service_serves_the_team_backends(postgres_url, chroma_server, tmp_path):
    """One guard service on PostgreSQL and a Chroma server: the thin client's calls are judged,
    a failure lands in the shared database, and similar failures are found through Chroma."""
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    from task_orchestrator import guard_client
    from task_orchestrator._db import PostgresDatabase
    from task_orchestrator.memory._table import FailureTable

    data, ws = tmp_path / "data", tmp_path / "ws"
    ws.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TASK_ORCHESTRATOR_")},
        "TASK_ORCHESTRATOR_DATA_DIR": str(data),
        "TASK_ORCHESTRATOR_POSTGRES_URL": postgres_url,
        "TASK_ORCHESTRATOR_CHROMA_URL": chroma_server,
    }
    client = shutil.which("task-orchestrator-hook") or str(
        Path(sys.executable).parent / "task-orchestrator-hook"
    )

    def hook(name: str, event: dict) -> str:
        event = {"session_id": "team-1", "cwd": str(ws), **event}
        proc = subprocess.run(
            [client, name, "2"], input=json.dumps(event), env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        guard_client.spawn(data)
        assert guard_client.wait_until_up(data, 60)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        failing = "docker compose -f deploy/team-stack.yml up -d postgres-replica"
        hook(
            "post-tool-use",
            {
                "hook_event_name": "PostToolUseFailure",
                "tool_name": "Bash",
                "tool_input": {"command": failing},
                "error": "Exit code 1\nservice postgres-replica: undefined volume replica-data",
            },
        )
        table = FailureTable(PostgresDatabase(postgres_url, "memory"))
        try:
            assert [r["action"] for r in table.list()] == [failing]
        finally:
            table.close()
        deny = hook(
            "pre-tool-use",
            {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "rm -rf ~"}},
        )
        assert json.loads(deny)["hookSpecificOutput"]["permissionDecision"] == "deny"
        for _ in range(600):  # the similarity search loads in the background after the failure
            st = json.loads(guard_client.request(data, "status", timeout=10))
            if st["similarity"] == "loaded":
                break
            time.sleep(0.1)
        assert st["similarity"] == "loaded", st
        variant = failing.replace("docker compose", "docker-compose")
        advice = hook(
            "pre-tool-use",
            {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": variant}},
        )
        assert "undefined volume replica-data" in advice
        assert st["calls"]["pre-tool-use"] == 1 and st["calls"]["post-tool-use"] == 1  # no fallback
    finally:
        guard_client.request(data, "shutdown", timeout=10)
