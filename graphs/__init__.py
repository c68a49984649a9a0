"""Guarded task graphs: the state schema, the runtime context and the factory."""

from .context import TaskContext, open_context
from .guarded import build_guarded_graph
from .state import ApprovalDecision, Finding, TaskInput, TaskOutput, TaskState

__all__ = [
    "ApprovalDecision",
    "Finding",
    "TaskContext",
    "TaskInput",
    "TaskOutput",
    "TaskState",
    "build_guarded_graph",
    "open_context",
]
