"""Issue 35: the PreToolUse hook in a session the orchestrator drives. The gate's "ask" becomes
``defer`` (recorded with its reasons), a human's decision on that exact input is used once,
and everything else (interactive sessions, allowed and denied calls, a broken store) is as
before."""

from __future__ import annotations

from task_orchestrator import events
from task_orchestrator.agent import AgentStore, input_hash
from task_orchestrator.hooks import HookConfig

RISKY = {"command": "cat ~/.aws/credentials", "description": "look"}


def _event(tmp_path, session: str, tool_input: dict | None = None) -> dict:
    return {
        "session_id": session,
        "transcript_path": "",
        "cwd": str(tmp_path),
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": tool_input or RISKY,
    }


def _config(tmp_path) -> HookConfig:
    return HookConfig({"TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data")})


def _decide(
    tmp_path,
    session: str,
    tool_input: dict | None = None,
    *,
    hook: str = "agent-pre-tool-use",
    tool: str = "Bash",
) -> dict:
    """The answer of the hook a session `agent run` drives gets (or ``hook``, the installed one)."""
    event = {**_event(tmp_path, session, tool_input), "tool_name": tool}
    out = events.handle(hook, event, _config(tmp_path))
    return (out or {}).get("hookSpecificOutput") or {}


def _store(tmp_path) -> AgentStore:
    return AgentStore(tmp_path / "data" / "agent.sqlite")


def test_an_interactive_session_is_asked_as_before(tmp_path):
    assert _decide(tmp_path, "interactive", hook="pre-tool-use")["permissionDecision"] == "ask"
    store = _store(tmp_path)  # an agent store exists, even for this very session
    store.register("agent-1", "agent-1", str(tmp_path))
    store.close()
    assert _decide(tmp_path, "agent-1", hook="pre-tool-use")["permissionDecision"] == "ask"
    assert _decide(tmp_path, "interactive", hook="pre-tool-use", tool_input={"command": "ls"}) == {}


def test_an_agent_session_defers_and_records_why(tmp_path):
    store = _store(tmp_path)
    store.register("agent-1", "agent-1", str(tmp_path))
    out = _decide(tmp_path, "agent-1")
    assert out["permissionDecision"] == "defer" and "approvals list" in out["permissionDecisionReason"]
    deferred = store.last_deferral("agent-1")
    store.close()
    assert deferred["input"] == RISKY and "credentials" in deferred["reason"]


def test_an_approval_allows_that_exact_input_once(tmp_path):
    store = _store(tmp_path)
    store.register("agent-1", "agent-1", str(tmp_path))
    store.grant("agent-1", input_hash("Bash", RISKY), "approve", by="ana")
    other = {**RISKY, "command": "cat ~/.aws/credentials ~/.ssh/id_rsa"}
    assert _decide(tmp_path, "agent-1", other)["permissionDecision"] == "defer"  # another input
    first = _decide(tmp_path, "agent-1")
    assert first["permissionDecision"] == "allow" and "by ana" in first["permissionDecisionReason"]
    again = _decide(tmp_path, "agent-1")  # used: it never runs twice on one approval
    assert (
        again["permissionDecision"] == "deny"
        and "approved once and has already run" in again["permissionDecisionReason"]
    )
    store.close()


def test_a_rejection_denies_with_the_note_and_an_edit_runs_the_edited_input(tmp_path):
    store = _store(tmp_path)
    store.register("agent-1", "agent-1", str(tmp_path))
    store.grant("agent-1", input_hash("Bash", RISKY), "reject", note="not on this host")
    denied = _decide(tmp_path, "agent-1")
    assert denied["permissionDecision"] == "deny" and "not on this host" in denied["permissionDecisionReason"]
    edited = {"command": "aws sts get-caller-identity", "description": "look"}
    store.grant("agent-1", input_hash("Bash", RISKY), "edit", updated_input=edited)
    allowed = _decide(tmp_path, "agent-1")
    store.close()
    assert allowed["permissionDecision"] == "allow" and allowed["updatedInput"] == edited


def test_in_an_agent_session_only_an_explicit_allow_runs_a_call(tmp_path):
    """Nothing is pre-allowed in an agent session: what the gate lets through gets "allow";
    denials stand; a tool outside the agent's list gets no answer (denied by `claude -p`)."""
    store = _store(tmp_path)
    store.register("agent-1", "agent-1", str(tmp_path))
    store.close()
    assert _decide(tmp_path, "agent-1", {"command": "ls -la"})["permissionDecision"] == "allow"
    assert _decide(tmp_path, "agent-1", {"command": "rm -rf ~"})["permissionDecision"] == "deny"
    assert _decide(tmp_path, "agent-1", {"url": "https://example.com"}, tool="WebFetch") == {}


def test_a_hook_that_fails_answers_nothing_which_headless_is_a_denial(tmp_path, monkeypatch):
    from task_orchestrator import hooks

    def broken(*args, **kwargs):
        raise RuntimeError("the gate broke")

    monkeypatch.setattr(hooks, "pre_tool_use", broken)
    assert _decide(tmp_path, "agent-1", {"command": "ls -la"}) == {}  # no "allow": the call is denied


def test_the_fallback_of_a_timed_out_service_answers_the_same_call_the_same(tmp_path, monkeypatch):
    store = _store(tmp_path)
    store.register("agent-1", "agent-1", str(tmp_path))
    store.grant("agent-1", input_hash("Bash", RISKY), "approve")
    event = {**_event(tmp_path, "agent-1"), "tool_use_id": "toolu_1"}
    served = events.handle("agent-pre-tool-use", event, _config(tmp_path))  # the service, too late
    assert served["hookSpecificOutput"]["permissionDecision"] == "allow"
    monkeypatch.setenv("TASK_ORCHESTRATOR_GUARD_FALLBACK", "timeout")  # the client's own judgment
    again = events.handle("agent-pre-tool-use", event, _config(tmp_path))
    assert again["hookSpecificOutput"]["permissionDecision"] == "allow"
    monkeypatch.setenv("TASK_ORCHESTRATOR_GUARD_FALLBACK", "absent")  # a resumed session, later
    later = events.handle("agent-pre-tool-use", event, _config(tmp_path))
    store.close()
    assert later["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_an_unreadable_agent_store_leaves_the_ask_which_headless_is_a_denial(tmp_path):
    path = tmp_path / "data" / "agent.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    assert _decide(tmp_path, "agent-1")["permissionDecision"] == "ask"
