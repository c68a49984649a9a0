"""breaker: fail fast, before any call, when no provider can be used."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime

from task_orchestrator.errors import TaskOrchestratorError
from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.graphs.state import TaskState
from task_orchestrator.nodes._common import step

__all__ = ["make_breaker_node", "route_after_breaker"]


def make_breaker_node(uses_model: bool):
    def breaker(state: TaskState, runtime: Runtime[TaskContext]) -> dict:
        if not uses_model:
            return {"trace": step("breaker", checked=False)}
        router = context_of(runtime).router
        try:
            router.preflight()
        except TaskOrchestratorError as exc:
            return {"status": "error", "error": str(exc), "trace": step("breaker", ok=False)}
        return {"trace": step("breaker", ok=True, ready=router.ready())}

    return breaker


def route_after_breaker(state: TaskState) -> Literal["work", "finalize"]:
    return "finalize" if state.get("status") == "error" else "work"
