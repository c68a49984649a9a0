"""The task state schema and its input/output views."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from task_orchestrator.literals import ActionKind, ApprovalChoice, TaskStatus

__all__ = [
    "ApprovalDecision",
    "TaskInput",
    "TaskOutput",
    "TaskState",
]


class TaskInput(TypedDict, total=False):
    task: str  # what to do (the prompt of the default LLM work node)
    action: str  # what will run, checked by the guard (defaults to ``task``)
    action_kind: ActionKind
    evidence: dict[str, Any]  # e.g. {"test_output": "..."} for verifiers


class TaskOutput(TypedDict, total=False):
    task_id: str
    status: TaskStatus
    output: Any
    findings: list[dict[str, Any]]
    attempts: int
    error: str
    guard: dict[str, Any]
    approval: dict[str, Any] | None
    cost: list[dict[str, Any]]
    # Every node appends what it did; read it to see the path a task took.
    trace: Annotated[list[dict[str, Any]], operator.add]


class TaskState(TaskInput, TaskOutput, total=False):
    feedback: str  # reflection's feedback for the next attempt
    work_error: str  # the work raised (a finding for the verifier)


class ApprovalDecision(BaseModel):
    """What a human sends back to resume a task waiting for approval."""

    decision: ApprovalChoice
    action: str | None = Field(default=None, description="The edited action (decision=edit).")
    by: str | None = None
    note: str | None = None
