"""breaker: fail fast, before any call, when no provider can be used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from task_orchestrator.errors import TaskOrchestratorError
from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.graphs.state import TaskState
from task_orchestrator.nodes._common import goto, step

__all__ = ["make_breaker_node"]

AfterBreaker = Literal["work", "finalize"]


def make_breaker_node(uses_model: bool) -> Callable[..., Command[AfterBreaker]]:
    def breaker(state: TaskState, runtime: Runtime[TaskContext]) -> Command[AfterBreaker]:
        return goto(state, check(state, runtime), _after_breaker)

    def check(state: TaskState, runtime: Runtime[TaskContext]) -> dict:
        if not uses_model:
            return {"trace": step("breaker", checked=False)}
        router = context_of(runtime).router
        try:
            router.preflight()
        except TaskOrchestratorError as exc:
            return {"status": "error", "error": str(exc), "trace": step("breaker", ok=False)}
        return {"trace": step("breaker", ok=True, ready=router.ready())}

    return breaker


def _after_breaker(state: TaskState) -> AfterBreaker:
    return "finalize" if state.get("status") == "error" else "work"
