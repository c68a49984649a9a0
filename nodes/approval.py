"""approval: a human interrupt before a high-risk action.

Nothing with a side effect happens before ``interrupt()``: on resume LangGraph
re-runs this node from its top and replays the resume values in order.
"""

from __future__ import annotations

import time
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import ValidationError

from task_orchestrator.graphs.context import TaskContext
from task_orchestrator.graphs.state import ApprovalDecision, TaskState
from task_orchestrator.nodes._common import action_of, approval_key, goto, step

__all__ = ["approval"]

AfterApproval = Literal["breaker", "guard", "finalize"]


def approval(state: TaskState, runtime: Runtime[TaskContext]) -> Command[AfterApproval]:
    """Approve (breaker), edit (guard judges the new action) or reject (the task ends)."""
    return goto(state, _ask_human(state, runtime), _after_approval)


def _ask_human(state: TaskState, runtime: Runtime[TaskContext]) -> dict:
    action, kind = action_of(state)
    guard = state.get("guard") or {}
    payload = {
        "type": "approval_request",
        "task_id": state.get("task_id"),
        "task": state.get("task", ""),
        "action": action,
        "action_kind": kind,
        "why": guard.get("reasons", []),
        "risk": guard.get("risk", {}),
        "matches": guard.get("matches", []),
        "resume_with": {
            "decision": "approve | reject | edit",
            "action": "the replacement action (edit only)",
            "by": "who decided (optional)",
            "note": "why (optional)",
        },
    }
    error = None
    while True:
        raw = interrupt(payload if error is None else {**payload, "error": error})
        try:
            decision = ApprovalDecision.model_validate(raw)
            if decision.decision == "edit" and not (decision.action or "").strip():
                raise ValueError("decision 'edit' needs a non-empty 'action'")
            break
        except (ValidationError, ValueError, TypeError) as exc:
            # Malformed resumes are refused, not guessed at: ask again with the reason.
            error = (
                f"invalid resume payload {raw!r}: {exc}. Send "
                "{'decision': 'approve'|'reject'|'edit', 'action': ...}"
            )[:800]

    record = {
        "decision": decision.decision,
        "action_key": approval_key(action, kind),
        "by": decision.by,
        "note": decision.note,
        "at": time.time(),
    }
    trace = step("approval", decision=decision.decision, by=decision.by)
    if decision.decision == "approve":
        return {"approval": record, "trace": trace}
    if decision.decision == "reject":
        return {
            "approval": record,
            "status": "rejected",
            "error": "the action was rejected by a human and did not run",
            "trace": trace,
        }
    return {"action": decision.action, "approval": record, "trace": trace}


def _after_approval(state: TaskState) -> AfterApproval:
    decision = (state.get("approval") or {}).get("decision")
    if decision == "approve":
        return "breaker"
    if decision == "edit":
        return "guard"  # the edited action is judged afresh
    return "finalize"
