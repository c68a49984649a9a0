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


def _decide(tmp_path, session: str, tool_input: dict | None = None) -> dict:
    out = events.handle("pre-tool-use", _event(tmp_path, session, tool_input), _config(tmp_path))
    return (out or {}).get("hookSpecificOutput") or {}


def _store(tmp_path) -> AgentStore:
    return AgentStore(tmp_path / "data" / "agent.sqlite")


def test_an_interactive_session_is_asked_as_before(tmp_path):
    assert _decide(tmp_path, "interactive")["permissionDecision"] == "ask"
    store = _store(tmp_path)  # an agent store exists, but this session is not the orchestrator's
    store.register("agent-1", "agent-1", str(tmp_path))
    store.close()
    assert _decide(tmp_path, "interactive")["permissionDecision"] == "ask"


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


def test_allowed_and_denied_calls_are_unchanged_in_an_agent_session(tmp_path):
    store = _store(tmp_path)
    store.register("agent-1", "agent-1", str(tmp_path))
    store.close()
    assert _decide(tmp_path, "agent-1", {"command": "ls -la"}) == {}
    assert _decide(tmp_path, "agent-1", {"command": "rm -rf ~"})["permissionDecision"] == "deny"


def test_an_unreadable_agent_store_leaves_the_ask_which_headless_is_a_denial(tmp_path):
    path = tmp_path / "data" / "agent.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    assert _decide(tmp_path, "agent-1")["permissionDecision"] == "ask"
