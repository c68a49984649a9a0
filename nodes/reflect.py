"""reflect: turn findings into feedback for the next attempt, or give up and remember."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from task_orchestrator.errors import TaskOrchestratorError
from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.graphs.state import TaskState
from task_orchestrator.memory.base import FailureRecord
from task_orchestrator.nodes._common import action_of, goto, step

__all__ = ["reflect", "template_feedback"]


def template_feedback(findings: list[dict]) -> str:
    lines = []
    for f in findings:
        if f["severity"] not in ("error", "critical"):
            continue
        line = f"- [{f['verifier']}] {f['message']}"
        if f.get("evidence"):
            line += f" (evidence: {f['evidence'][:300]})"
        if f.get("suggestion"):
            line += f" -> {f['suggestion']}"
        lines.append(line)
    return "\n".join(lines) or "- the output failed verification"


CRITIQUE_PROMPT = (
    "A verifier rejected an attempt at this task.\nTask: {task}\nFindings:\n{findings}\n"
    "Write 2-4 short, concrete instructions for the next attempt. No preamble."
)


AfterReflect = Literal["breaker", "finalize"]


def reflect(state: TaskState, runtime: Runtime[TaskContext]) -> Command[AfterReflect]:
    """Feedback for another attempt (breaker), or after the last one the failure recorded."""
    return goto(state, _feedback(state, runtime), _after_reflect)


def _feedback(state: TaskState, runtime: Runtime[TaskContext]) -> dict:
    ctx = context_of(runtime)
    findings = state.get("findings", [])
    feedback = template_feedback(findings)
    attempts = state.get("attempts", 0)
    if attempts >= ctx.settings.max_attempts:
        action, kind = action_of(state)
        note = ""
        try:
            ctx.memory.record(
                FailureRecord(
                    action=action,
                    action_kind=kind,
                    kind="verification_failed",
                    error=feedback,
                    lesson=f"failed verification {attempts}x: {feedback[:500]}",
                    project=ctx.settings.project,
                    tags=sorted({f["verifier"] for f in findings}),
                )
            )
        except Exception as exc:  # remembering is best effort; the task result is not
            note = f" (could not record to the failure memory: {type(exc).__name__}: {exc})"
        return {
            "status": "failed",
            "feedback": feedback,
            "error": f"failed verification after {attempts} attempt(s){note}:\n{feedback}",
            "trace": step("reflect", gave_up=True, attempts=attempts),
        }
    if ctx.settings.reflection == "llm":
        try:
            call = ctx.router.invoke(
                CRITIQUE_PROMPT.format(task=state.get("task", ""), findings=feedback),
                task_id=state["task_id"],
            )
            feedback = f"{feedback}\nAdvice:\n{call.message.content}"
        except TaskOrchestratorError as exc:
            feedback += f"\n(LLM critique unavailable: {exc})"
    return {"feedback": feedback, "trace": step("reflect", attempt=attempts, feedback=feedback)}


def _after_reflect(state: TaskState) -> AfterReflect:
    return "finalize" if state.get("status") == "failed" else "breaker"
