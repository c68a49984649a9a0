"""Guarded task graphs: the state schema, the runtime context and the factory."""

from task_orchestrator.graphs.context import TaskContext, open_context
from task_orchestrator.graphs.guarded import build_guarded_graph
from task_orchestrator.graphs.state import ApprovalDecision, TaskInput, TaskOutput, TaskState

__all__ = [
    "ApprovalDecision",
    "TaskContext",
    "TaskInput",
    "TaskOutput",
    "TaskState",
    "build_guarded_graph",
    "open_context",
]
