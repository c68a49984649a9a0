"""The guarded task graph, driven end to end by a scripted model (offline, real SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from task_orchestrator import build_guarded_graph, open_context
from task_orchestrator.memory import FailureRecord
from task_orchestrator.nodes import ApprovalMissing, make_work_node
from task_orchestrator.runner import Orchestrator, UnknownTask
from task_orchestrator.testing import ScriptedChatModel

SNAPSHOT = Path(__file__).parent / "snapshots" / "guarded_graph.mmd"


def run(graph, ctx, inp, thread="t"):
    return graph.invoke(inp, {"configurable": {"thread_id": thread}}, context=ctx)


@pytest.fixture
def llm_graph():
    return build_guarded_graph().compile(checkpointer=InMemorySaver())


def nodes_visited(result):
    return [e["node"] for e in result["trace"]]


def test_graph_shape_is_pinned():
    mermaid = build_guarded_graph().compile().get_graph().draw_mermaid()
    assert mermaid == SNAPSHOT.read_text(), "graph shape changed: update the snapshot on purpose"


def test_factory_returns_uncompiled_graph_and_rejects_bad_work():
    from langgraph.graph import StateGraph

    assert isinstance(build_guarded_graph(), StateGraph)
    with pytest.raises(TypeError, match="work must be"):
        build_guarded_graph(work=42)


def test_a_context_of_the_wrong_type_is_a_clear_error():
    from task_orchestrator.errors import ConfigurationError

    graph = build_guarded_graph(work=lambda state: {"output": "x"}, context_schema=object).compile()
    with pytest.raises(ConfigurationError, match="pass context=open_context"):
        graph.invoke({"task": "echo hi"}, context=42)


def test_a_graph_invoked_without_context_says_what_to_pass_and_opens_nothing(tmp_path, monkeypatch):
    from task_orchestrator.errors import ConfigurationError
    from task_orchestrator.graphs import context

    monkeypatch.setattr(context, "_from_environment", False)  # not under LangGraph Server
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TASK_ORCHESTRATOR_DATA_DIR", raising=False)
    graph = build_guarded_graph(work=lambda state: {"output": "x"}).compile()
    for given in ({}, {"context": None}):  # (a dict is turned into a TaskContext by LangGraph itself)
        with pytest.raises(ConfigurationError, match=r"context=open_context\(Settings\(\)\)"):
            graph.invoke({"task": "echo hi"}, **given)
    assert not (tmp_path / ".task-orchestrator").exists()  # no store opened in the home folder


def test_passes_first_time(settings, memory, llm_graph):
    model = ScriptedChatModel(script=["The answer is 42."])
    ctx = open_context(settings, models={"gemini": model}, memory=memory)
    r = run(llm_graph, ctx, {"task": "What is 6*7?"})
    assert r["status"] == "succeeded"
    assert r["output"] == "The answer is 42."
    assert r["attempts"] == 1
    assert nodes_visited(r) == ["guard", "breaker", "work", "verify", "finalize"]
    assert r["cost"][0]["calls"] == 1
    assert r["cost"][0]["cost_usd"] > 0


def test_fails_then_passes_after_reflection(settings, memory, llm_graph):
    model = ScriptedChatModel(script=["   ", "Here is the full answer."])
    ctx = open_context(settings, models={"gemini": model}, memory=memory)
    r = run(llm_graph, ctx, {"task": "Explain WAL mode"})
    assert r["status"] == "succeeded"
    assert r["attempts"] == 2
    assert "reflect" in nodes_visited(r)
    # The feedback from reflection reached the model's second prompt.
    second_prompt = model.calls[1][-1].content
    assert "previous attempt was rejected" in second_prompt
    assert "empty" in second_prompt


def test_fails_until_max_attempts_and_is_remembered(settings, memory, llm_graph):
    settings.max_attempts = 2
    model = ScriptedChatModel(script=["", ""])
    ctx = open_context(settings, models={"gemini": model}, memory=memory)
    r = run(llm_graph, ctx, {"task": "Write the migration"}, thread="a")
    assert r["status"] == "failed"
    assert r["attempts"] == 2
    assert "failed verification after 2" in r["error"]
    assert r["findings"][0]["verifier"] == "non_empty"
    [rec] = memory.list()
    assert rec.kind == "verification_failed"
    assert "empty" in rec.lesson
    # The same task again is blocked before any call is made.
    r2 = run(llm_graph, ctx, {"task": "Write the migration"}, thread="b")
    assert r2["status"] == "blocked"
    assert "exact repeat" in r2["error"]
    assert len(model.calls) == 2


def test_blocked_by_memory_never_runs_the_work(settings, memory):
    ran = []
    graph = build_guarded_graph(work=lambda s: ran.append(1) or {"output": "x"}).compile()
    memory.record(FailureRecord(action="npm run deploy --prod", error="EACCES", lesson="use CI"))
    ctx = open_context(settings, memory=memory)
    r = graph.invoke({"task": "deploy", "action": "npm   run deploy --prod"}, context=ctx)
    assert r["status"] == "blocked"
    assert "use CI" in r["error"]
    assert ran == []


def _approval_graph(calls):
    def work(state):
        calls.append(state["action"])
        return {"output": f"ran {state['action']}"}

    return build_guarded_graph(work=work).compile(checkpointer=InMemorySaver())


def test_approval_approve(settings, memory):
    calls: list[str] = []
    graph, ctx = _approval_graph(calls), open_context(settings, memory=memory)
    cfg = {"configurable": {"thread_id": "ap"}}
    r = graph.invoke({"task": "clean", "action": "rm -rf /data/build"}, cfg, context=ctx)
    [intr] = r["__interrupt__"]
    assert intr.value["action"] == "rm -rf /data/build"
    assert any("recursive delete" in w for w in intr.value["why"])
    assert calls == []  # nothing ran before the decision
    r = graph.invoke(Command(resume={"decision": "approve", "by": "ana"}), cfg, context=ctx)
    assert r["status"] == "succeeded"
    assert calls == ["rm -rf /data/build"]
    assert r["approval"]["by"] == "ana"


def test_approval_reject_never_runs(settings, memory):
    calls: list[str] = []
    graph, ctx = _approval_graph(calls), open_context(settings, memory=memory)
    cfg = {"configurable": {"thread_id": "rj"}}
    graph.invoke({"task": "clean", "action": "rm -rf /data/build"}, cfg, context=ctx)
    r = graph.invoke(Command(resume={"decision": "reject"}), cfg, context=ctx)
    assert r["status"] == "rejected"
    assert calls == []


def test_approval_edit_is_guarded_again(settings, memory):
    calls: list[str] = []
    graph, ctx = _approval_graph(calls), open_context(settings, memory=memory)
    cfg = {"configurable": {"thread_id": "ed"}}
    graph.invoke({"task": "clean", "action": "rm -rf /data/build"}, cfg, context=ctx)
    # An edit that is still risky asks again; the original action never runs.
    r = graph.invoke(
        Command(resume={"decision": "edit", "action": "rm -r /data/build/tmp"}), cfg, context=ctx
    )
    assert r["__interrupt__"][0].value["action"] == "rm -r /data/build/tmp"
    assert calls == []
    r = graph.invoke(Command(resume={"decision": "edit", "action": "ls ./build"}), cfg, context=ctx)
    assert r["status"] == "succeeded"
    assert calls == ["ls ./build"]


def test_malformed_resume_is_refused_and_asked_again(settings, memory):
    calls: list[str] = []
    graph, ctx = _approval_graph(calls), open_context(settings, memory=memory)
    cfg = {"configurable": {"thread_id": "mf"}}
    graph.invoke({"task": "clean", "action": "rm -rf /data/build"}, cfg, context=ctx)
    for bad in ({"decision": "yes"}, "approve", {"decision": "edit"}, {}):
        r = graph.invoke(Command(resume=bad), cfg, context=ctx)
        assert "invalid resume payload" in r["__interrupt__"][0].value["error"]
        assert calls == []
    r = graph.invoke(Command(resume={"decision": "approve"}), cfg, context=ctx)
    assert r["status"] == "succeeded"
    assert calls == ["rm -rf /data/build"]


def test_work_node_refuses_without_matching_approval():
    work = make_work_node(lambda s: {"output": "ran"})
    state = {
        "task": "t",
        "action": "rm -rf /srv/data",
        "action_kind": "command",
        "guard": {"decision": "ask"},
        "approval": None,
    }
    with pytest.raises(ApprovalMissing):
        work(state, None, {})
    # An approval of a different action does not carry over.
    state["approval"] = {"decision": "approve", "action_key": "not-this-one"}
    with pytest.raises(ApprovalMissing):
        work(state, None, {})
    with pytest.raises(ApprovalMissing):
        work({**state, "guard": {"decision": "deny"}}, None, {})


def test_resume_from_a_new_process(settings, tmp_path):
    marker = tmp_path / "marker.txt"
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from _workers import append_marker
    finally:
        sys.path.pop(0)
    with Orchestrator(settings, work=append_marker) as orch:
        r = orch.run("wipe cache", action="rm -rf /data/cache", evidence={"marker": str(marker)})
        assert r["status"] == "waiting_for_approval"
        thread = r["thread_id"]
    assert not marker.exists()
    script = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from _workers import append_marker
from task_orchestrator import Settings
from task_orchestrator.runner import Orchestrator
s = Settings(data_dir={str(settings.data_dir)!r}, _env_file=None)
with Orchestrator(s, work=append_marker) as orch:
    assert [p["thread_id"] for p in orch.pending()] == [{thread!r}]
    r = orch.resume({thread!r}, {{"decision": "approve"}})
    print(json.dumps({{"status": r["status"], "pending": len(orch.pending())}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"status": "succeeded", "pending": 0}
    assert marker.read_text() == "rm -rf /data/cache\n"  # ran exactly once
    with Orchestrator(settings, work=append_marker) as orch:
        with pytest.raises(UnknownTask, match="no task is waiting"):
            orch.resume(thread, {"decision": "approve"})  # replaying the approval does nothing
        with pytest.raises(UnknownTask):
            orch.resume("no-such-thread", {"decision": "approve"})
    assert marker.read_text() == "rm -rf /data/cache\n"


def test_budget_exceeded_before_the_call(settings, memory, llm_graph):
    settings.task_budget_usd = 0.0001
    model = ScriptedChatModel(script=["never sent"])
    ctx = open_context(settings, models={"gemini": model}, memory=memory)
    r = run(llm_graph, ctx, {"task": "Summarise the repo"})
    assert r["status"] == "error"
    assert "task budget" in r["error"]
    assert model.calls == []


def test_unpriced_model_is_refused_while_a_budget_is_set(settings, memory, llm_graph):
    model = ScriptedChatModel(script=["x"], model_name="mystery-model-9")
    ctx = open_context(settings, models={"gemini": model}, memory=memory)
    r = run(llm_graph, ctx, {"task": "hi"})
    assert r["status"] == "error"
    assert "mystery-model-9" in r["error"]
    assert "PRICES" in r["error"]
    settings.allow_unpriced_models = True
    r = run(llm_graph, ctx, {"task": "hi"}, thread="u2")
    assert r["status"] == "succeeded"
    assert r["cost"][0]["cost_usd"] is None  # reported as unpriced, never as $0


def test_no_provider_configured_names_the_env_vars(settings, memory, llm_graph):
    ctx = open_context(settings, memory=memory)
    r = run(llm_graph, ctx, {"task": "hi"})
    assert r["status"] == "error"
    assert "GOOGLE_API_KEY" in r["error"]
    assert "OPENAI_API_KEY" in r["error"]


def test_async_work_node_is_verified_reflected_and_retried(settings, memory):
    import asyncio

    seen_feedback = []

    async def work(state):
        await asyncio.sleep(0)
        seen_feedback.append(state.get("feedback", ""))
        return {"output": "" if len(seen_feedback) == 1 else "built and tested"}

    graph = build_guarded_graph(work=work).compile(checkpointer=InMemorySaver())
    ctx = open_context(settings, memory=memory)
    r = asyncio.run(
        graph.ainvoke(
            {"task": "build it", "action": "make build"},
            {"configurable": {"thread_id": "async"}},
            context=ctx,
        )
    )
    assert r["status"] == "succeeded"
    assert r["output"] == "built and tested"
    assert r["attempts"] == 2
    assert nodes_visited(r) == [
        "guard",
        "breaker",
        "work",
        "verify",
        "reflect",
        "breaker",
        "work",
        "verify",
        "finalize",
    ]
    assert seen_feedback[0] == ""
    assert "empty" in seen_feedback[1]
