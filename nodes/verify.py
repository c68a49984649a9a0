"""verify: run the configured verifiers on the work's output."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from task_orchestrator.findings import Finding
from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.graphs.state import TaskState
from task_orchestrator.nodes._common import action_of, goto, step
from task_orchestrator.verifiers import VerifyInput, run_verifiers

__all__ = ["verify"]

AfterVerify = Literal["reflect", "finalize"]


def verify(state: TaskState, runtime: Runtime[TaskContext]) -> Command[AfterVerify]:
    """Blocking findings go to reflect; otherwise the task is done."""
    return goto(state, _findings(state, runtime), _after_verify)


def _findings(state: TaskState, runtime: Runtime[TaskContext]) -> dict:
    ctx = context_of(runtime)
    if state.get("work_error"):
        findings = [
            Finding(
                verifier="work",
                message=f"the work raised {state['work_error']}",
                suggestion="fix the cause of the exception",
            )
        ]
    else:
        action, _ = action_of(state)
        findings = run_verifiers(
            ctx.verifiers if ctx.verifiers is not None else ctx.settings.verifiers,
            VerifyInput(
                output=state.get("output"),
                task=state.get("task", ""),
                action=action,
                evidence=state.get("evidence") or {},
                output_schema=ctx.output_schema,
                settings=ctx.settings,
                router=ctx.router,
                task_id=state.get("task_id", ""),
            ),
        )
    blocking = [f for f in findings if f.blocking]
    return {
        "findings": [f.model_dump() for f in findings],
        "trace": step("verify", passed=not blocking, findings=[f.message for f in findings]),
    }


def _after_verify(state: TaskState) -> AfterVerify:
    blocking = [f for f in state.get("findings", []) if f["severity"] in ("error", "critical")]
    return "reflect" if blocking else "finalize"
