"""langgraph.json served by the real `langgraph dev` server, driven through langgraph_sdk.

The server runs on a free loopback port with its working directory (where it persists its
in-memory runtime) and the task-orchestrator data directory under tmp; its provider is a
scripted OpenAI-compatible endpoint on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _servers import FakeOpenAI, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _langgraph_exe() -> str:
    exe = Path(sys.executable).with_name("langgraph")
    if exe.exists():
        return str(exe)
    found = shutil.which("langgraph")
    if found is None:
        pytest.fail("langgraph-cli is not installed: pip install -e '.[studio]' (the test extra has it)")
    return found


def _config_in(tmp: Path) -> Path:
    """The repository's langgraph.json with its relative paths made absolute."""
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str((ROOT / d).resolve()) for d in config["dependencies"]]
    graphs = {}
    for name, spec in config["graphs"].items():
        path, _, attr = spec.rpartition(":")
        graphs[name] = f"{(ROOT / path).resolve()}:{attr}"
    config["graphs"] = graphs
    out = tmp / "langgraph.json"
    out.write_text(json.dumps(config))
    return out


@pytest.fixture
def dev_server(tmp_path):
    port = free_port()
    work = tmp_path / "server"
    work.mkdir()
    config = _config_in(work)
    replies = ["Force-pushed the rebased branch; the remote now matches local main."]
    with FakeOpenAI(replies) as openai:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("TASK_ORCHESTRATOR_", "GOOGLE_", "GEMINI_", "OPENAI_", "LANGSMITH_", "LANGCHAIN_")
            )
        }
        env.update(
            {
                "HOME": str(tmp_path / "home"),
                "TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"),
                "TASK_ORCHESTRATOR_PROVIDERS": '["openai"]',
                "OPENAI_API_KEY": "sk-test-not-a-real-key",
                "OPENAI_BASE_URL": openai.url,
                "LANGSMITH_TRACING": "false",
            }
        )
        log = (tmp_path / "server.log").open("w")
        proc = subprocess.Popen(
            [
                _langgraph_exe(),
                "dev",
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-browser",
                "--no-reload",
            ],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if not wait_for_port(port, 90, proc):
                pytest.fail("langgraph dev did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            yield f"http://127.0.0.1:{port}", openai
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def test_langgraph_dev_serves_the_guarded_task_to_its_interrupt_and_resumes(dev_server):
    from langgraph_sdk import get_sync_client

    url, openai = dev_server
    with get_sync_client(url=url) as client:
        assistants = client.assistants.search(graph_id="guarded_task")
        assert assistants, "langgraph.json's guarded_task graph is not served"

        thread = client.threads.create()
        first = client.runs.wait(
            thread["thread_id"],
            "guarded_task",
            input={
                "task": "publish the rebased branch",
                "action": "git push --force origin main",
                "action_kind": "command",
            },
        )
        state = client.threads.get_state(thread["thread_id"])
        interrupts = [i for t in state["tasks"] for i in t.get("interrupts", [])]
        assert len(interrupts) == 1, (first, state)
        payload = interrupts[0]["value"]
        assert payload["action"] == "git push --force origin main"
        assert payload["risk"]["level"] in ("high", "critical"), payload
        assert openai.requests == [], "the work ran before a human approved it"

        final = client.runs.wait(
            thread["thread_id"],
            "guarded_task",
            command={"resume": {"decision": "approve", "by": "studio-test"}},
        )
        assert final["status"] == "succeeded", final
        assert final["output"].startswith("Force-pushed")
        assert final["approval"]["decision"] == "approve"
        assert len(openai.requests) == 1
        assert client.threads.get_state(thread["thread_id"])["next"] == []


def test_langgraph_dev_serves_the_agent_task(dev_server, tmp_path):
    """Studio lists the agent graph; a run without a workspace ends at once with why."""
    from langgraph_sdk import get_sync_client

    url, _ = dev_server
    with get_sync_client(url=url) as client:
        assert client.assistants.search(graph_id="agent_task"), "langgraph.json's agent_task is not served"
        thread = client.threads.create()
        out = client.runs.wait(
            thread["thread_id"],
            "agent_task",
            input={"task": "fix it", "workspace": str(tmp_path / "missing")},
        )
    assert out["status"] == "error" and "is not a folder" in out["error"], out
