"""guard: ask the failure memory and the risk assessor before the work runs."""

from __future__ import annotations

from typing import Literal

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Command

from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.graphs.state import TaskState
from task_orchestrator.memory.gate import assess_action
from task_orchestrator.nodes._common import action_of, goto, step, task_id_of

__all__ = ["guard"]

AfterGuard = Literal["approval", "breaker", "finalize"]


def guard(state: TaskState, runtime: Runtime[TaskContext], config: RunnableConfig) -> Command[AfterGuard]:
    """Deny (the task ends ``blocked``), ask (approval) or go (breaker)."""
    return goto(state, _judge(state, runtime, config), _after_guard)


def _judge(state: TaskState, runtime: Runtime[TaskContext], config: RunnableConfig) -> dict:
    ctx = context_of(runtime)
    task_id = task_id_of(state, config)
    action, kind = action_of(state)
    if not action.strip():
        return {
            "task_id": task_id,
            "status": "error",
            "error": "the task has neither an `action` nor a `task` text; pass one of them",
            "guard": {"decision": "deny", "reasons": ["empty task"]},
            "trace": step("guard", decision="deny"),
        }
    decision = assess_action(
        action, action_kind=kind, memory=ctx.memory, risk=ctx.risk, settings=ctx.settings
    )
    update: dict = {
        "task_id": task_id,
        "action": action,
        "action_kind": kind,
        "guard": decision.model_dump(mode="json"),
        "approval": None,  # a new or edited action needs a new approval
        "status": "blocked" if decision.decision == "deny" else "running",
        "trace": step("guard", decision=decision.decision, reasons=decision.reasons),
    }
    if decision.decision == "deny":
        update["error"] = "blocked before running: " + decision.summary()
    return update


def _after_guard(state: TaskState) -> AfterGuard:
    decision = (state.get("guard") or {}).get("decision")
    if state.get("status") in ("blocked", "error") or decision == "deny":
        return "finalize"
    return "approval" if decision == "ask" else "breaker"
