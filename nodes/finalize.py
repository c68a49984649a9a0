"""finalize: settle the status and attach the task's cost table."""

from __future__ import annotations

from langgraph.runtime import Runtime

from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.graphs.state import TaskState
from task_orchestrator.literals import TERMINAL_STATUSES
from task_orchestrator.nodes._common import step

__all__ = ["finalize"]


def finalize(state: TaskState, runtime: Runtime[TaskContext]) -> dict:
    status = state.get("status")
    if status not in TERMINAL_STATUSES:
        status = "succeeded"
    cost = context_of(runtime).router.ledger.table(task_id=state.get("task_id"))
    return {"status": status, "cost": cost, "trace": step("finalize", status=status)}
